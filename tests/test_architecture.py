"""Imports point one way: upload → layers → zoning → app → maps.

`layers` knows nothing of rules or HTTP; `zoning` uses `layers` only; the app uses both; `maps`
draws the app's answers, and only the app factory and the CLI wire it in. Every import in
every module (including those inside functions) is read from the source with `ast`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Source folder → the package it installs as (pyproject's package-dir).
PACKAGES = {"layers": "ecozone.layers", "zoning": "ecozone.zoning", "maps": "ecozone.maps", "app": "ecozone"}


def _part(module: str) -> str | None:
    """Which part of ecozone a dotted module name belongs to."""
    if module == "ecozone" or not module.startswith("ecozone"):
        return "app" if module == "ecozone" else None
    second = module.split(".")[1]
    return second if second in ("layers", "zoning", "maps") else "app"


def _imports(path: Path, package: str) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                out.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            elif node.module:
                out.append((node.lineno, node.module))
    return out


def _modules():
    for folder, package in PACKAGES.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            pkg = ".".join([package, *rel.parts[:-1]])
            yield folder, path, pkg


ALLOWED = {
    "layers": {"layers"},
    "zoning": {"layers", "zoning"},
    "app": {"layers", "zoning", "app"},
    "maps": {"app", "maps"},
}
# Only these app modules may wire maps in.
MAPS_WIRING = {"main.py", "cli.py"}


@pytest.mark.parametrize("folder,path,package", list(_modules()), ids=lambda v: str(v)[-40:] if isinstance(v, Path) else v)
def test_imports_point_one_way(folder, path, package):
    bad = []
    for line, module in _imports(path, package):
        part = _part(module)
        if part is None:
            continue
        allowed = set(ALLOWED[folder])
        if folder == "app" and path.name in MAPS_WIRING:
            allowed.add("maps")
        if part not in allowed:
            bad.append(f"{path.relative_to(REPO)}:{line} imports {module} ({folder} → {part})")
    assert not bad, "\n".join(bad)


def test_the_check_finds_a_violation(tmp_path):
    """The parser sees imports inside functions and relative ones (a mutation check)."""
    path = tmp_path / "mod.py"
    path.write_text("def f():\n    from ecozone.service import Service\nfrom ...zoning import engine\n")
    found = sorted(m for _, m in _imports(path, "ecozone.layers.store"))
    assert found == ["ecozone.service", "ecozone.zoning"]
    assert {_part(m) for m in found} == {"app", "zoning"}
