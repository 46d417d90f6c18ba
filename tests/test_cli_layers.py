"""`ecozone layers …` and `ecozone token …` as GIS staff run them, in real processes on one
data directory: import (all or nothing), export, history, rollback, and tokens whose
secrets are printed once and never stored."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyogrio
import pytest
import shapely

from test_layers_api import RED_NAME, SITE, _square_gk, gbk_shapefile_zip
from servers import ECOZONE



def run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(ECOZONE + list(args), env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    data = tmp_path_factory.mktemp("cli-layers") / "data"
    return {**os.environ, "ECOZONE_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}


def _site_rules(env: dict) -> set[str]:
    out = run(env, "check", "--lon", str(SITE[0]), "--lat", str(SITE[1]), "--json")
    return {f["rule_id"] for f in json.loads(out.stdout)["findings"] if f["layer"] == "cli_red"}


def test_import_check_export_rollback(env, tmp_path):
    square = _square_gk(*SITE, half_m=600)
    shp = gbk_shapefile_zip(tmp_path, square)
    out = run(env, "layers", "import", str(shp), "--id", "cli_red", "--kind", "red_line", "--comment", "首次导入")
    assert out.returncode == 0, out.stderr
    layer = json.loads(out.stdout)
    assert (layer["version"], layer["feature_count"], layer["source_crs"]) == (1, 1, "EPSG:4545")
    assert _site_rules(env), "a site inside the imported red line must be bound by the red-line rules"

    # A broken file: exit code 2, a bilingual message, and version 1 still serving.
    broken = tmp_path / "broken.geojson"
    broken.write_text('{"type": "FeatureCollection", "features": [', encoding="utf-8")
    out = run(env, "layers", "import", str(broken), "--id", "cli_red")
    assert out.returncode == 2 and "error" in out.stderr
    assert json.loads(run(env, "layers", "versions", "cli_red").stdout)[-1]["version"] == 1

    moved = gbk_shapefile_zip(tmp_path, shapely.affinity.translate(square, 8000, 0))
    assert run(env, "layers", "import", str(moved), "--id", "cli_red").returncode == 0
    assert _site_rules(env) == set()
    assert run(env, "layers", "rollback", "cli_red", "--version", "1").returncode == 0
    assert _site_rules(env)

    for suffix in (".geojson", ".gpkg", ".zip"):
        path = tmp_path / f"export{suffix}"
        assert run(env, "layers", "export", "cli_red", "-o", str(path)).returncode == 0
        frame = pyogrio.read_dataframe(f"/vsizip/{path}" if suffix == ".zip" else path)
        assert frame["name"].tolist() == [RED_NAME]
        # GeoJSON keeps 7 decimal degrees (~1 cm): every vertex within 2 cm of where it was.
        assert shapely.hausdorff_distance(frame.to_crs(4545).geometry.iloc[0], square) < 0.02
    history = json.loads(run(env, "layers", "versions", "cli_red").stdout)
    assert [(v["version"], v["restored_from"], v["comment"]) for v in history] == [
        (1, None, "首次导入"), (2, None, None), (3, 1, None)]
    assert all(v["created_by"].startswith("cli") for v in history)


def test_tokens_are_printed_once_and_only_hashed(env):
    out = run(env, "token", "create", "--name", "gis-b", "--role", "editor")
    assert out.returncode == 0, out.stderr
    secret = out.stdout.strip()
    assert secret.startswith("ecz_") and len(secret) > 40
    listed = json.loads(run(env, "token", "list").stdout)
    assert {"name": "gis-b", "role": "editor"}.items() <= next(t for t in listed if t["name"] == "gis-b").items()
    assert secret not in run(env, "token", "list").stdout
    assert secret.encode() not in (Path(env["ECOZONE_DATA_DIR"]) / "catalog.sqlite").read_bytes()
    bad = run(env, "token", "create", "--name", "x", "--role", "superuser")
    assert bad.returncode == 2 and "viewer" in bad.stderr
    assert run(env, "token", "revoke", "gis-b").returncode == 0
    assert next(t for t in json.loads(run(env, "token", "list").stdout) if t["name"] == "gis-b")["revoked_at"]
