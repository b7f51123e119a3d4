"""The test suite's own house rules, read from the source (``ast``), not by convention:

- a test module never imports another test module (shared fakes live in ``tests/fakes``,
  fixtures in a ``conftest.py``, helpers in ``tests/_*.py`` modules named after what they hold);
- nothing that ships (the wheel's packages, benchmarks included) imports ``tests``: the
  stand-ins of third-party APIs are part of the local stack (``infra.stack.standins``).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def imported_modules(source: str, module: str) -> Iterator[str]:
    """Every module ``source`` (the module ``module``) imports, as dotted names: ``import a.b``
    gives ``a.b``; ``from a import b`` gives ``a`` and ``a.b`` (``b`` may be a module);
    relative imports are resolved against ``module``."""
    package = module.rsplit(".", 1)[0] if "." in module else ""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def is_test_module(name: str) -> bool:
    return name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_")


def imports_of_test_modules(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        me = module_name(path)
        for name in imported_modules(path.read_text(encoding="utf-8"), me):
            if is_test_module(name) and name != me:
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def shipped_imports_of_tests(paths: list[Path]) -> list[str]:
    found = []
    for path in paths:
        for name in imported_modules(path.read_text(encoding="utf-8"), module_name(path)):
            if name == "tests" or name.startswith("tests."):
                found.append(f"{path.relative_to(ROOT)} imports {name}")
    return found


def shipped_files() -> list[Path]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return sorted(p for package in packages for p in (ROOT / package).rglob("*.py"))


def test_no_test_module_imports_another() -> None:
    files = sorted(TESTS.rglob("*.py"))
    assert len([f for f in files if f.name.startswith("test_")]) > 30  # the scan sees the suite
    assert imports_of_test_modules(files) == []


def test_nothing_that_ships_imports_the_tests() -> None:
    files = shipped_files()
    assert any(f.parts[-2] == "benchmarks" for f in files)
    assert any(f.parts[-2] == "standins" for f in files)
    assert shipped_imports_of_tests(files) == []


@pytest.mark.parametrize(
    ("source", "module", "expected"),
    [
        ("from tests.unit.test_x import y", "tests.unit.test_a", ["tests.unit.test_x"]),
        ("import tests.integration.test_cli", "tests.unit.test_a", ["tests.integration.test_cli"]),
        (
            "from tests.integration import test_cli",
            "tests.unit.test_a",
            ["tests.integration.test_cli"],
        ),
        ("from .test_b import helper", "tests.unit.test_a", ["tests.unit.test_b"]),
        ("from ..integration.test_b import c", "tests.unit.test_a", ["tests.integration.test_b"]),
        ("from tests.fakes import RecordingSink", "tests.unit.test_a", []),
        ("from tests._kafka import read_topic", "tests.unit.test_a", []),
        ("import pytest\nfrom agent import test_tools", "tests.unit.test_a", []),
    ],
)
def test_the_rule_sees_every_form_of_import(source: str, module: str, expected: list[str]) -> None:
    found = [
        name for name in imported_modules(source, module) if is_test_module(name) and name != module
    ]
    assert found == expected


def test_the_shipping_rule_sees_an_import_of_tests() -> None:
    names = list(imported_modules("from tests.fakes import chat\nimport json", "benchmarks.x"))
    assert [n for n in names if n == "tests" or n.startswith("tests.")] == [
        "tests.fakes",
        "tests.fakes.chat",
    ]
