"""`ecozone screen`: in-process on 20,000 points it answers as evaluate_many and single checks
do; on a 2-worker Dask LocalCluster (`--dask`) it writes the identical rows."""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import shapely

from ecozone.checks import SitingRequest, run_check
from ecozone.cli_screen import bare_dask_flag
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.zoning.batch import evaluate_many
from ecozone.zoning.metric import to_lonlat, to_metric
from servers import ECOZONE

N = 20_000


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("screen-data")


@pytest.fixture(scope="module")
def env(data_dir) -> dict:
    return {**os.environ, "ECOZONE_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "120"}


@pytest.fixture(scope="module")
def service(data_dir, env) -> Service:
    subprocess.run(ECOZONE + ["layers", "list"], env=env, check=True, capture_output=True, timeout=300)  # demo loaded
    return Service.open(Settings(data_dir=data_dir))


@pytest.fixture(scope="module")
def points(service, tmp_path_factory) -> tuple[Path, np.ndarray, list[str]]:
    """20,000 lon/lat points over the planned districts, a Chinese name, and a project_type
    column set on some rows (code, Chinese name, several, unknown), in a CSV."""
    rng = np.random.default_rng(2026)
    w, s, e, n = shapely.bounds(service.snapshot.engine.index.planned_region)
    pts = to_lonlat(shapely.points(rng.uniform(w, e, N), rng.uniform(s, n, N)))
    xy = shapely.get_coordinates(pts)
    cells = ["", "", "", "livestock_farm", "重化工项目", "tourism,chemical", "nonsense"]
    types = [cells[i % len(cells)] for i in range(N)]
    path = tmp_path_factory.mktemp("screen-in") / "sites.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w_ = csv.writer(f)
        w_.writerow(["名称", "lon", "lat", "project_type"])
        for i, (x, y) in enumerate(xy):
            w_.writerow([f"候选地块{i}号", repr(float(x)), repr(float(y)), types[i]])
    return path, xy, types


def screen(env, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(ECOZONE + ["screen", *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def in_process(env, points, tmp_path_factory) -> Path:
    path, _, _ = points
    out = tmp_path_factory.mktemp("screen-out") / "out.gpkg"
    r = screen(env, str(path), "-o", str(out), "--crs", "EPSG:4326", "-t", "heavy_chemical")
    assert r.returncode == 0, r.stderr
    assert f"{N:,} sites in" in r.stderr and "prohibited" in r.stderr and "Screening" in r.stderr
    return out


def test_in_process_screen_equals_evaluate_many_and_single_checks(in_process, points, service):
    _, xy, types = points
    frame = pyogrio.read_dataframe(in_process)
    assert len(frame) == N and (frame["site_id"].to_numpy() == np.arange(1, N + 1)).all()
    assert list(frame["名称"]) == [f"候选地块{i}号" for i in range(N)]
    engine = service.snapshot.engine
    metric = to_metric(shapely.points(xy))
    # Rows without their own type: exactly evaluate_many for the command's type.
    plain = np.array([t == "" for t in types])
    expected = evaluate_many(engine, metric[plain], ("heavy_chemical",))
    got = frame[plain]
    assert list(got["verdict"]) == list(expected.verdict)
    assert list(got["rule_ids"]) == [",".join(r) for r in expected.rule_ids]
    np.testing.assert_array_equal(got["min_distance_m"].to_numpy(), expected.min_distance_m)
    np.testing.assert_array_equal(got["covered_ratio"].to_numpy(), expected.covered_ratio)
    # Rows with a type of their own: evaluate_many for it; an unknown one is invalid.
    for cell, codes in (("livestock_farm", ("livestock_farm",)), ("重化工项目", ("heavy_chemical",)),
                        ("tourism,chemical", ("tourism", "chemical"))):
        rows = np.array([t == cell for t in types])
        r = evaluate_many(engine, metric[rows], codes)
        assert list(frame[rows]["verdict"]) == list(r.verdict), cell
        assert list(frame[rows]["rule_ids"]) == [",".join(x) for x in r.rule_ids], cell
    bad = np.array([t == "nonsense" for t in types])
    assert (frame[bad]["verdict"] == "invalid").all() and frame[bad]["reason"].str.contains("nonsense").all()
    assert {"prohibited", "restricted", "notice", "not_covered"} <= set(frame["verdict"])
    # A sample against single checks (the API's answer, in-process).
    settings = Settings(data_dir=service.cache.dir.parent)
    for i in np.random.default_rng(3).choice(np.flatnonzero(~bad), 150, replace=False):
        t = types[i] or "heavy_chemical"
        a = run_check(service, settings, SitingRequest(
            geometry={"type": "Point", "coordinates": [float(xy[i, 0]), float(xy[i, 1])]},
            project_type=t.split(",") if "," in t else t))
        row = frame.iloc[int(i)]
        assert a["verdict"] == row["verdict"], i
        assert {f["rule_id"] for f in a["findings"]} == set(filter(None, row["rule_ids"].split(","))), i


def test_output_formats_and_bad_input(env, points, tmp_path):
    path, _, _ = points
    small = tmp_path / "small.csv"
    small.write_text("".join(open(path, encoding="utf-8").readlines()[:301]), encoding="utf-8")
    for suffix in (".csv", ".geojson"):
        out = tmp_path / f"out{suffix}"
        r = screen(env, str(small), "-o", str(out), "--crs", "EPSG:4326")
        assert r.returncode == 0, r.stderr
        opts = {"X_POSSIBLE_NAMES": "lon", "Y_POSSIBLE_NAMES": "lat"} if suffix == ".csv" else {}
        frame = pyogrio.read_dataframe(out, **opts)
        assert len(frame) == 300 and frame["名称"].iloc[7] == "候选地块7号"
        assert {"site_id", "verdict", "rule_ids", "min_distance_m", "covered_ratio"} <= set(frame.columns)
    r = screen(env, str(small), "-o", str(tmp_path / "out.gpkg"))  # a CSV has no CRS: --crs is required
    assert r.returncode == 2 and "missing_crs" in r.stderr and "--crs" in r.stderr
    r = screen(env, str(small), "-o", str(tmp_path / "out.xlsx"), "--crs", "EPSG:4326")
    assert r.returncode == 2 and ".gpkg" in r.stderr
    r = screen(env, str(small), "-o", str(tmp_path / "out.gpkg"), "--crs", "EPSG:4326", "-t", "nonsense")
    assert r.returncode == 2 and "unknown_project_type" in r.stderr


def test_a_bare_dask_flag_means_a_local_cluster():
    assert bare_dask_flag(["screen", "a.csv", "-o", "b.gpkg", "--dask"])[-1] == "--dask=local"
    assert bare_dask_flag(["screen", "a.csv", "--dask", "-o", "b.gpkg"])[2] == "--dask=local"
    assert bare_dask_flag(["screen", "a.csv", "--dask", "tcp://h:8786"])[2:] == ["--dask", "tcp://h:8786"]
    assert bare_dask_flag(["check", "--dask"]) == ["check", "--dask"]


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_rows(env, points, in_process, tmp_path):
    path, _, _ = points
    out = tmp_path / "dask.gpkg"
    # Small partitions, so that both workers get several.
    r = screen(env, str(path), "-o", str(out), "--crs", "EPSG:4326", "-t", "heavy_chemical", "--chunk-size", "3000",
               "--dask", timeout=120)
    assert r.returncode == 0, r.stderr
    assert "dask local" in r.stderr
    mine, reference = pyogrio.read_dataframe(out), pyogrio.read_dataframe(in_process)
    assert len(mine) == N
    assert mine.drop(columns="geometry").equals(reference.drop(columns="geometry"))
    assert shapely.equals_exact(mine.geometry.to_numpy(), reference.geometry.to_numpy(), 0).all()
