"""What a map draws to show why a zone binds a site (`?include=geometry`): the nearest line is
the distance reported, and the deciding buffer line lies at the threshold from the shoreline —
both checked with pyproj.Geod against the demo river, not with ecozone's own geometry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from conftest import shoreline_distance
from geo import GEOD

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def answer(client, wu_river_site):
    lon, lat, expected = wu_river_site(500)
    r = client.post("/v1/siting/check", params={"include": "geometry"},
                    json={"geometry": {"type": "Point", "coordinates": [lon, lat]}, "project_type": "heavy_chemical"})
    assert r.status_code == 200
    return r.json(), expected


def _finding(answer, rule_id):
    return next(f for f in answer["findings"] if f["rule_id"] == rule_id)


def test_nearest_line_is_the_reported_distance(answer):
    a, expected = answer
    f = _finding(a, "wulong-wu-river-1km")
    (x0, y0), (x1, y1) = f["geometry"]["nearest"]["coordinates"]
    _, _, length = GEOD.inv(x0, y0, x1, y1)
    assert length == pytest.approx(expected, rel=0.005)
    assert f["distance_m"] == pytest.approx(length, rel=0.005)
    assert (x0, y0) == pytest.approx(tuple(a["site"]["geometry"]["coordinates"]), abs=1e-6)


def test_the_deciding_buffer_line_is_at_the_threshold_from_the_shoreline(answer, demo_layer):
    a, _ = answer
    f = _finding(a, "wulong-wu-river-1km")
    boundary = shapely.geometry.shape(f["geometry"]["boundary"])
    rivers = demo_layer("rivers")
    rivers = rivers[rivers["name"] == "乌江"]
    xy = shapely.get_coordinates(boundary)
    # Vertices away from the window's cut and the district border: the buffer arc itself.
    sample = xy[np.linspace(0, len(xy) - 1, 25).astype(int)]
    distances = np.array([shoreline_distance(x, y, rivers) for x, y in sample])
    on_buffer = distances[np.abs(distances - f["threshold_m"]) < 0.05 * f["threshold_m"]]
    assert len(on_buffer) >= 10, distances
    assert np.median(on_buffer) == pytest.approx(f["threshold_m"], rel=0.005)
    # The zone drawn contains the site; an unbuffered zone has no buffer line.
    assert shapely.geometry.shape(f["geometry"]["zone"]).contains(shapely.geometry.shape(a["site"]["geometry"]))
    unbuffered = [g for g in a["findings"] if g["threshold_m"] is None]
    assert unbuffered and all(g["geometry"]["boundary"] is None for g in unbuffered)


def test_geometry_only_when_asked(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    plain = client.post("/v1/siting/check", json={"geometry": {"type": "Point", "coordinates": [lon, lat]}}).json()
    assert all("geometry" not in f for f in plain["findings"])
    assert plain["layer_versions"] == {lay["id"]: lay["version"] for lay in client.get("/v1/layers").json()}


def test_the_npm_lockfile_names_no_registry_host():
    """Front-end packages install from whatever registry the machine uses (an intranet mirror):
    the committed lockfile pins versions and integrity hashes, never a download address."""
    lock = json.loads((REPO / "package-lock.json").read_text())
    packages = {k: v for k, v in lock["packages"].items() if k}
    assert packages, "the lockfile lists no package"
    assert all("resolved" not in v for v in packages.values())
    assert all(v.get("integrity", "").startswith("sha512-") for v in packages.values())
    assert "registry" not in (REPO / "package-lock.json").read_text()
    wanted = json.loads((REPO / "package.json").read_text())["dependencies"]
    assert wanted["leaflet"].startswith("1.9")
    assert {"leaflet", "@geoman-io/leaflet-geoman-free", "leaflet.vectorgrid"} <= set(wanted)
