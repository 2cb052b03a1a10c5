"""The dependency rules of ARCHITECTURE.md: biosig imports neither service nor firmware_bridge."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((REPO / "biosig").rglob("*.py")), ids=lambda p: str(p.relative_to(REPO)))
def test_biosig_does_not_import_service_or_bridge(path: Path) -> None:
    forbidden = _imported_modules(path) & {"service", "firmware_bridge", "fastapi", "pydantic", "uvicorn"}
    assert not forbidden, f"{path.relative_to(REPO)} imports {sorted(forbidden)}"


def test_rule_checker_sees_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import service.app\nfrom firmware_bridge import protocol\nfrom . import sibling\n")
    assert _imported_modules(module) == {"service", "firmware_bridge"}
