"""Compiled kernels (``sandbox.core.native``): switches, a safe build, the cache."""

import shutil

import pytest
import torch

from sandbox.core import native
from sandbox.worlds.economy.gtb import GatherTradeBuild, GTBParams
from sandbox.worlds.economy.gtb import native as gtb_native

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None,
                                    reason="no C compiler: the compiled kernels cannot be built")


def test_switching_off_by_environment_variable(monkeypatch):
    monkeypatch.setenv("SANDBOX_NATIVE", "0")
    assert not native.enabled()
    assert not gtb_native.applies(torch.empty(0))


def test_a_missing_compiler_warns_once_and_the_world_runs_on_torch(monkeypatch, tmp_path):
    native.load.cache_clear()
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    monkeypatch.setenv("SANDBOX_NATIVE_CACHE", str(tmp_path))
    try:
        with pytest.warns(RuntimeWarning, match="no C compiler 'no-such-compiler-xyz'"):
            assert not gtb_native.applies(torch.empty(0))
        world = GatherTradeBuild(GTBParams(episode_length=5), num_envs=2, seed=0)
        world.reset()
        world.step({"workers": torch.zeros(2, world.params.num_workers, dtype=torch.long),
                    "planner": torch.zeros(2, 1, world.params.num_brackets, dtype=torch.long)})
    finally:
        native.load.cache_clear()


@needs_compiler
def test_a_broken_source_warns_with_the_compiler_message_and_writes_nothing(monkeypatch,
                                                                            tmp_path):
    monkeypatch.setenv("SANDBOX_NATIVE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "broken.c"
    source.write_text("int f(void) { return undefined_name; }\n")
    with pytest.warns(RuntimeWarning, match="undefined_name"):
        assert native.load(source) is None
    assert list((tmp_path / "cache").iterdir()) == []  # no partial library left behind
    native.load.cache_clear()


@needs_compiler
def test_a_built_library_is_cached_by_the_sources_hash(monkeypatch, tmp_path):
    monkeypatch.setenv("SANDBOX_NATIVE_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "twice.c"
    source.write_text("long twice(long x) { return 2 * x; }\n")
    try:
        assert native.load(source).twice(21) == 42
        built = list((tmp_path / "cache").iterdir())
        assert len(built) == 1 and built[0].name.startswith("twice-")
        native.load.cache_clear()
        stamp = built[0].stat().st_mtime_ns
        assert native.load(source).twice(4) == 8
        assert built[0].stat().st_mtime_ns == stamp  # loaded, not rebuilt
        source.write_text("long twice(long x) { return x + x; }\n")
        native.load.cache_clear()
        assert native.load(source).twice(5) == 10
        assert len(list((tmp_path / "cache").iterdir())) == 2
    finally:
        native.load.cache_clear()
