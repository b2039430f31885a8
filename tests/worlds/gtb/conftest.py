"""Every Gather-Trade-Build test runs on both CPU paths: the compiled kernels
(``native.c``) and the torch rules they stand for."""

import pytest

from sandbox.core import native


@pytest.fixture(autouse=True, params=["compiled", "torch"])
def kernels(request):
    """The path a test runs on; ``compiled`` falls back to torch where no compiler is."""
    if request.param == "torch":
        with native.disabled():
            yield request.param
    else:
        yield request.param
