"""Imports point downward only: no world module imports a layer above the worlds.

The source is scanned with ``ast``, so an import hidden inside a function (an import
"on demand") counts as well as one at the top of a module.
"""

import ast
from pathlib import Path

import pytest

import sandbox

WORLDS_DIR = Path(sandbox.__file__).parent / "worlds"
#: Layers above ``sandbox.worlds`` (DESIGN.md: core <- worlds <- policies/solvers/optimize
#: <- scenario <- batch/report).
UPPER_LAYERS = ("sandbox.policies", "sandbox.solvers", "sandbox.optimize", "sandbox.scenario",
                "sandbox.batch", "sandbox.report", "sandbox.adapters", "sandbox.cli")


def imported_modules(source: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every absolute import in ``source``, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # "from sandbox import solvers" names the layer in the imported names
            if node.module == "sandbox":
                found += [(node.lineno, f"sandbox.{alias.name}") for alias in node.names]
    return found


def upper_imports(source: str) -> list[tuple[int, str]]:
    """The imports of ``source`` that reach a layer above the worlds."""
    return [(line, module) for line, module in imported_modules(source)
            if any(module == up or module.startswith(up + ".") for up in UPPER_LAYERS)]


def test_the_scan_sees_top_level_nested_and_from_imports():
    source = (
        "import sandbox.solvers.ppo\n"
        "from sandbox.core.errors import ConfigError\n"
        "def f():\n"
        "    from sandbox.optimize import combine_surrogates\n"
        "    from sandbox import scenario\n"
        "from sandbox.policiesx import y\n"
    )
    assert upper_imports(source) == [(1, "sandbox.solvers.ppo"), (4, "sandbox.optimize"),
                                     (5, "sandbox.scenario")]


@pytest.mark.parametrize("path", sorted(WORLDS_DIR.rglob("*.py")),
                         ids=lambda p: str(p.relative_to(WORLDS_DIR)))
def test_world_modules_import_no_upper_layer(path):
    offending = upper_imports(path.read_text(encoding="utf-8"))
    assert offending == [], f"{path.relative_to(WORLDS_DIR.parent)} imports {offending}"


def test_every_testing_method_is_registered():
    # the methods wired above the world layer still resolve by name
    from sandbox.core.registry import POLICIES

    assert {"nde", "nade", "nade_adaptive", "d2rl"} <= set(POLICIES.names())
