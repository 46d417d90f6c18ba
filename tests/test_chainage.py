"""Linear projects: chainage intervals along a route, checked against pyproj.Geod.

The independent reference: the route densified in lon/lat (GeoJSON edges are straight in
lon/lat), its chainage the cumulative geodesic length, and the distance of a point to the
乌江 shoreline the geodesic one (tests/geo.py)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shoreline_distance
from geo import GEOD

ROUTE = [[107.70, 29.25], [107.745, 29.33], [107.80, 29.42]]  # ~21 km across the 乌江 near 武隆


def _reference_chainage(route, n: int = 20_000):
    """Points along the route (straight in lon/lat) and their geodesic chainage."""
    xy = np.asarray(route, dtype=float)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    t = np.linspace(0, seg.sum(), n)
    cum = np.concatenate([[0], np.cumsum(seg)])
    k = np.clip(np.searchsorted(cum, t, side="right") - 1, 0, len(seg) - 1)
    f = (t - cum[k]) / seg[k]
    pts = xy[k] + (xy[k + 1] - xy[k]) * f[:, None]
    _, _, d = GEOD.inv(pts[:-1, 0], pts[:-1, 1], pts[1:, 0], pts[1:, 1])
    return pts, np.concatenate([[0], np.cumsum(d)])


def _at(pts, chain, c):
    return np.interp(c, chain, pts[:, 0]), np.interp(c, chain, pts[:, 1])


@pytest.fixture(scope="module")
def answer(client):
    r = client.post("/v1/siting/check", json={"geometry": {"type": "LineString", "coordinates": ROUTE},
                                              "project_type": "heavy_chemical"})
    assert r.status_code == 200
    return r.json()


def test_route_length_is_geodesic(answer):
    _, chain = _reference_chainage(ROUTE)
    assert answer["chainage_length_m"] == pytest.approx(chain[-1], abs=0.5)


def test_interval_ends_lie_at_the_threshold_from_the_shoreline(answer, demo_layer):
    f = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")
    rivers = demo_layer("rivers")
    rivers = rivers[rivers["name"] == "乌江"]
    pts, chain = _reference_chainage(ROUTE)
    assert f["segments"], "the route crosses the 乌江: some of it lies within 1 km"
    for seg in f["segments"]:
        assert seg["length_m"] == pytest.approx(seg["to_m"] - seg["from_m"], abs=0.11)
        for end in (seg["from_m"], seg["to_m"]):
            if 1.0 < end < chain[-1] - 1.0:  # not the route's own ends
                d = shoreline_distance(*_at(pts, chain, end), rivers)
                assert d == pytest.approx(f["threshold_m"], abs=1.0), (end, d)
        mid = shoreline_distance(*_at(pts, chain, (seg["from_m"] + seg["to_m"]) / 2), rivers)
        assert mid < f["threshold_m"]
        for outside in (seg["from_m"] - 5, seg["to_m"] + 5):
            if 0 < outside < chain[-1] and not any(s["from_m"] <= outside <= s["to_m"] for s in f["segments"]):
                assert shoreline_distance(*_at(pts, chain, outside), rivers) > f["threshold_m"]


def test_stakes_in_route_design_notation(answer):
    seg = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")["segments"][0]
    m = round(seg["from_m"])
    assert seg["from_k"] == f"K{m // 1000}+{m % 1000:03d}"


def test_unbuffered_zone_intervals_are_where_the_route_is_inside(answer, client, demo_layer):
    """Red-line intervals: the route's points inside the red-line polygons (checked with shapely
    on the lon/lat route, densely sampled) are exactly those in the intervals."""
    import shapely

    f = next(f for f in answer["findings"] if f["rule_id"] == "wulong-red-line")
    red = shapely.union_all(demo_layer("red_lines").geometry.to_numpy())
    district = demo_layer("districts").query("code == '500156'").geometry.iloc[0]
    pts, chain = _reference_chainage(ROUTE, 4000)
    inside = shapely.contains_xy(red.intersection(district), pts[:, 0], pts[:, 1])
    in_segments = np.array([any(s["from_m"] - 2 <= c <= s["to_m"] + 2 for s in f["segments"]) for c in chain])
    near_end = np.array([min(abs(c - e) for s in f["segments"] for e in (s["from_m"], s["to_m"])) < 20 for c in chain])
    assert np.array_equal(inside[~near_end], in_segments[~near_end])


def test_points_and_polygons_carry_no_segments(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    a = client.post("/v1/siting/check", json={"geometry": {"type": "Point", "coordinates": [lon, lat]}}).json()
    assert all("segments" not in f for f in a["findings"]) and "chainage_length_m" not in a


def test_cli_prints_the_chainage_table(tmp_path, answer):
    import json
    import os
    import subprocess
    import sys

    route = tmp_path / "route.geojson"
    route.write_text(json.dumps({"type": "LineString", "coordinates": ROUTE}))
    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "160", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-c", "from ecozone.cli import main; main()", "check", "--geometry",
                          str(route), "-t", "heavy_chemical"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 5, out.stderr
    assert "桩号" in out.stdout
    seg = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")["segments"][0]
    assert seg["from_k"] in out.stdout and seg["to_k"] in out.stdout
