import pytest

from sandbox.core import ConfigError, Registry, check_range, resolve_device


def test_unknown_name_lists_known_names():
    registry = Registry("gadget")
    registry.register("alpha", object())
    registry.register("beta", object())
    with pytest.raises(ConfigError, match="known gadgets: alpha, beta"):
        registry.get("gamma")


def test_registering_a_different_entry_twice_fails():
    registry = Registry("gadget")
    entry = object()
    registry.register("alpha", entry)
    registry.register("alpha", entry)  # same object: harmless
    with pytest.raises(KeyError):
        registry.register("alpha", object())


@pytest.mark.parametrize("value", [-0.1, 1.1, float("nan")])
def test_check_range_rejects_values_outside(value):
    with pytest.raises(ConfigError, match=r"rate: got .*expected a number in \[0, 1\]"):
        check_range("rate", value, low=0, high=1)


def test_check_range_open_bounds():
    check_range("eps", 1.0, low=0, high=1, low_open=True)
    with pytest.raises(ConfigError, match=r"\(0, 1\]"):
        check_range("eps", 0.0, low=0, high=1, low_open=True)


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ConfigError, match="device"):
        resolve_device("tpu")
