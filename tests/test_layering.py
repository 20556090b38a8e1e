"""The layers: converters <- evaluation <- detector, classifier <- screening; nothing imports upward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {
    "converters": {"converters"},
    "evaluation": {"converters", "evaluation"},
    "detector": {"converters", "evaluation", "detector"},
    "classifier": {"converters", "evaluation", "classifier"},
    "screening": {"converters", "evaluation", "detector", "classifier", "screening"},
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names} & set(ALLOWED)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_no_package_imports_a_layer_above_it(package):
    bad = {str(p.relative_to(ROOT)): sorted(project_imports(p) - ALLOWED[package])
           for p in sorted((ROOT / package).rglob("*.py"))}
    assert {k: v for k, v in bad.items() if v} == {}
