"""Saved checks and change impact, on both stores: save ten checks, republish the red lines
with one polygon moved, and /v1/impact lists exactly the checks whose answer changed — the
expected set computed with shapely from the files published, not by ecozone."""

from __future__ import annotations

import numpy as np
import pyogrio
import shapely

from ecozone.layers.demo import read_demo_layer
from test_layers_api import _auth, api  # noqa: F401 — the two-store app fixture


def _points_in(polygon, n, rng):
    xmin, ymin, xmax, ymax = polygon.bounds
    out = []
    while len(out) < n:
        x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        if polygon.buffer(-0.002).contains(shapely.Point(x, y)):
            out.append((x, y))
    return out


def _in_red_line(frame, lon, lat, districts) -> bool:
    """Whether a red-line feature of the site's own district contains it (red-line rules are
    per jurisdiction)."""
    p = shapely.Point(lon, lat)
    code = next((c for g, c in districts if g.contains(p)), None)
    return any(g.contains(p) for g, c in zip(frame.geometry, frame["district_code"]) if c == code)


def test_republishing_a_moved_red_line_lists_exactly_the_changed_checks(api, tmp_path):  # noqa: F811
    client, tokens, _ = api
    red = read_demo_layer("red_lines")
    districts = [(g, c) for g, c in zip(read_demo_layer("districts").geometry, read_demo_layer("districts")["code"])]
    wulong = red.index[red["feature_id"] == "wulong-red-line"][0]
    parts = sorted(shapely.get_parts(red.geometry[wulong]), key=lambda g: -g.area)
    moved_part = parts[0]
    rng = np.random.default_rng(7)
    sites = (_points_in(moved_part, 4, rng) + _points_in(parts[1], 3, rng)
             + _points_in(red.geometry[red["feature_id"] == "fuling-red-line"].iloc[0], 2, rng) + [(107.76, 29.33)])

    assert client.post("/v1/projects", json={"name": "x"}).status_code == 401
    project = client.post("/v1/projects", json={"name": "白马工业园备选址"}, headers=_auth(tokens["viewer"]))
    assert project.status_code == 201
    pid = project.json()["id"]
    saved = []
    for k, (lon, lat) in enumerate(sites):
        r = client.post(f"/v1/projects/{pid}/checks", headers=_auth(tokens["viewer"]), json={
            "geometry": {"type": "Point", "coordinates": [lon, lat]}, "label": f"site {k}"})
        assert r.status_code == 201, r.text
        saved.append(r.json())
    assert len(client.get(f"/v1/projects/{pid}").json()["checks"]) == 10

    moved = red.copy()
    width = moved_part.bounds[2] - moved_part.bounds[0]
    moved.loc[wulong, "geometry"] = shapely.union_all(
        [shapely.affinity.translate(moved_part, -(width + 0.01), 0.0)] + parts[1:])
    expected = {s["id"] for s, (lon, lat) in zip(saved, sites)
                if _in_red_line(red, lon, lat, districts) != _in_red_line(moved, lon, lat, districts)}
    assert 4 <= len(expected) < 10, "the move must change some checks and not others"

    since = client.get("/v1/audit").json()[0]["at"]
    path = tmp_path / "red_lines.gpkg"
    pyogrio.write_dataframe(moved, path, driver="GPKG")
    r = client.put("/v1/layers/red_lines", files={"file": (path.name, path.read_bytes(), "application/geopackage+sqlite3")},
                   headers=_auth(tokens["editor"]))
    assert r.status_code == 200, r.text

    impact = client.get("/v1/impact", params={"since": since}).json()
    assert {i["check_id"] for i in impact} == expected
    for i in impact:
        assert i["project_id"] == pid and i["cause"].startswith("publish red_lines")
        assert {"id": "red_lines", "version_before": 1, "version_after": 2} in i["layers"]
        assert {r for r in i["rules_removed"] + i["rules_added"]} & {"wulong-red-line", "fuling-red-line"}
        assert i["before"]["data_version"] != i["after"]["data_version"]
    # The saved checks now hold the new answers; a rollback changes them back, recorded again.
    checks = {c["id"]: c for c in client.get(f"/v1/projects/{pid}").json()["checks"]}
    assert all(c["data_version"] == impact[0]["after"]["data_version"] for c in checks.values())
    client.post("/v1/layers/red_lines/rollback", json={"version": 1}, headers=_auth(tokens["editor"]))
    again = client.get("/v1/impact", params={"since": since}).json()
    assert sorted(i["check_id"] for i in again) == sorted(list(expected) * 2)
    assert all(i["after"]["verdict"] == s["answer"]["verdict"] for i in again[len(impact):]
               for s in saved if s["id"] == i["check_id"])
