"""Where may it go: the partition agrees with siting checks at random points of every polygon,
its areas with pyproj.Geod, and the constraint raster with checks at pixel centres."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import shapely
import shapely.geometry
from pyproj import Transformer

from geo import GEOD

CASES = [("500102", "chemical"), ("500156", "heavy_chemical"), ("500238", "livestock_farm"), ("500112", None)]
EDGE_M = 1.5  # the zone polygons are drawn up to ~1 m outside the exact distance, never inside
TO_GK = Transformer.from_crs(4326, 4545, always_xy=True)


def _ask(client, code, project_type):
    body = {"area": code} | ({"project_type": project_type} if project_type else {})
    r = client.post("/v1/siting/suitability", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def _check(client, lon, lat, project_type):
    body = {"geometry": {"type": "Point", "coordinates": [lon, lat]}} | ({"project_type": project_type} if project_type else {})
    a = client.post("/v1/siting/check", json=body).json()
    return a["verdict"], sorted({f["rule_id"] for f in a["findings"]}) if a["verdict"] != "not_covered" else []


def _random_points(polygon, n, rng):
    """Up to n random lon/lat points inside the polygon, at least EDGE_M from its edge (in GK metres)."""
    gk = shapely.transform(polygon, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1])))
    inner = gk.buffer(-EDGE_M)
    if inner.is_empty:
        return []
    xmin, ymin, xmax, ymax = inner.bounds
    xs, ys = rng.uniform(xmin, xmax, 50 * n), rng.uniform(ymin, ymax, 50 * n)
    keep = shapely.contains_xy(inner, xs, ys)
    lon, lat = TO_GK.transform(xs[keep][:n], ys[keep][:n], direction="INVERSE")
    return list(zip(lon, lat))


@pytest.mark.parametrize("code,project_type", CASES)
def test_random_points_of_every_polygon_check_as_its_verdict(client, code, project_type):
    answer = _ask(client, code, project_type)
    rng = np.random.default_rng(int(code) % 1000)
    checked = 0
    for feature in answer["features"]:
        props = feature["properties"]
        for lon, lat in _random_points(shapely.geometry.shape(feature["geometry"]), 12, rng):
            verdict, rules = _check(client, lon, lat, project_type)
            assert (verdict, rules) == (props["verdict"], props["rule_ids"]), (lon, lat, props)
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize("code,project_type", CASES[:2])
def test_areas_add_up_to_the_geodesic_area_of_the_district(client, demo_layer, code, project_type):
    answer = _ask(client, code, project_type)
    districts = demo_layer("districts")
    district = shapely.union_all(districts[districts["code"] == code].geometry.to_numpy())
    geodesic = abs(GEOD.geometry_area_perimeter(district)[0])
    assert sum(answer["summary"].values()) == pytest.approx(geodesic, rel=0.002)
    for verdict, area in answer["summary"].items():
        parts = [f for f in answer["features"] if f["properties"]["verdict"] == verdict]
        expected = sum(abs(GEOD.geometry_area_perimeter(shapely.geometry.shape(f["geometry"]))[0]) for f in parts)
        assert area == pytest.approx(expected, rel=0.002, abs=1.0)


def test_constraint_raster_agrees_with_checks_at_pixel_centres(client):
    import rasterio

    r = client.get("/v1/constraints.tif", params={"jurisdiction": "500156", "project_type": "heavy_chemical",
                                                  "resolution": 250})
    assert r.status_code == 200
    codes = {0: "permitted", 1: "notice", 2: "restricted", 3: "prohibited", 255: "not_covered"}
    answer = _ask(client, "500156", "heavy_chemical")
    parts = [(shapely.geometry.shape(f["geometry"]), f["properties"]["verdict"]) for f in answer["features"]]
    with rasterio.open(io.BytesIO(r.content)) as src:
        assert src.crs.to_epsg() == 4545
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.colormap(1)[3][:3] == (214, 39, 40)
        assert "prohibited" in src.descriptions[0]
        grid = src.read(1)
        rng = np.random.default_rng(3)
        rows, cols = rng.integers(0, src.height, 400), rng.integers(0, src.width, 400)
        xs, ys = rasterio.transform.xy(src.transform, rows, cols)
    lon, lat = TO_GK.transform(np.array(xs), np.array(ys), direction="INVERSE")
    compared = 0
    for row, col, x, y, lo, la in zip(rows, cols, xs, ys, lon, lat):
        near_edge = any(shapely.boundary(shapely.transform(
            g, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1])))).distance(shapely.Point(x, y)) < EDGE_M
            for g, _ in parts if g.envelope.buffer(0.01).contains(shapely.Point(lo, la)))
        if near_edge:
            continue
        if not any(g.contains(shapely.Point(lo, la)) for g, _ in parts):  # outside 武隆: not in this raster
            assert grid[row, col] == 255
            continue
        verdict, _ = _check(client, lo, la, "heavy_chemical")
        assert codes[int(grid[row, col])] == verdict, (lo, la)
        compared += 1
    assert compared > 150
    assert {codes[v] for v in np.unique(grid)} >= {"not_covered", "prohibited"}


def test_bad_areas_are_refused(client):
    assert client.post("/v1/siting/suitability", json={"area": "999999"}).status_code == 404
    line = {"type": "LineString", "coordinates": [[107.7, 29.3], [107.8, 29.4]]}
    r = client.post("/v1/siting/suitability", json={"area": line})
    assert r.status_code == 422 and r.json()["error"]["message"]["en"]


def test_polygon_area_in_gauss_kruger(client):
    x, y = TO_GK.transform(107.76, 29.33)
    square = [[x - 3000, y - 3000], [x + 3000, y - 3000], [x + 3000, y + 3000], [x - 3000, y + 3000], [x - 3000, y - 3000]]
    r = client.post("/v1/siting/suitability", json={"area": {"type": "Polygon", "coordinates": [square]},
                                                    "crs": "EPSG:4545", "project_type": "tourism"})
    assert r.status_code == 200
    assert sum(r.json()["summary"].values()) == pytest.approx(36e6, rel=0.002)


def test_cli_writes_the_permitted_land(tmp_path):
    import pyogrio

    out = tmp_path / "permitted.gpkg"
    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data")}
    run = subprocess.run([sys.executable, "-c", "from ecozone.cli import main; main()", "suitability",
                          "--project-type", "chemical", "--area", "500102", "-o", str(out)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = pyogrio.read_dataframe(out)
    assert set(frame["verdict"]) <= {"permitted", "notice", "restricted", "prohibited", "not_covered"}
    assert "permitted" in set(frame["verdict"]) and "km²" in run.stderr
    assert json.loads(frame.to_json())["features"]
