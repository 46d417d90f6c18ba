"""Terrain through the service, as a new user meets it: upload a DEM, and the zones derived
from it (viewshed barrier zone, drawdown band, slope classes) are published as layers and bind
the plans' rules; siting answers carry the site's elevation and slope.

The DEMs are synthetic valleys built around the demo rivers (no real DEM is available offline):
the ground rises from the river's centreline at a known gradient to a ridge, then falls away,
so every expected value is analytic."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from ecozone.layers.demo import read_demo_layer
from test_layers_api import _auth, api  # noqa: F401 — the two-store app fixture

pytestmark = pytest.mark.slow
TO_GK = Transformer.from_crs(4326, 4545, always_xy=True)
CELL = 25.0
HALF = 4000.0  # the DEM spans ±4 km around its centre


def _river_gk(name: str, code: str):
    rivers = read_demo_layer("rivers")
    districts = read_demo_layer("districts")
    line = shapely.union_all(rivers[rivers["name"] == name].geometry.to_numpy())
    line = line.intersection(districts[districts["code"] == code].geometry.iloc[0])
    centre = line.interpolate(0.5, normalized=True)
    gk = shapely.transform(line, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1])))
    cx, cy = TO_GK.transform(centre.x, centre.y)
    return gk, cx, cy


def _valley(name: str, code: str, base: float, gradient: float, ridge_m: float):
    """A GeoTIFF (EPSG:4545, metres) whose ground rises from the river at `gradient` to a ridge
    `ridge_m` from it, then falls at the same gradient; also returns the river and grid origin."""
    river, cx, cy = _river_gk(name, code)
    n = int(2 * HALF / CELL)
    x0, y0 = cx - HALF, cy + HALF
    xs = x0 + (np.arange(n) + 0.5) * CELL
    ys = y0 - (np.arange(n) + 0.5) * CELL
    gx, gy = np.meshgrid(xs, ys)
    d = shapely.distance(shapely.points(gx.ravel(), gy.ravel()), river).reshape(n, n)
    z = np.where(d <= ridge_m, base + gradient * d, base + gradient * (2 * ridge_m - d)).astype("float32")
    buf = io.BytesIO()
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=n, height=n, count=1, dtype="float32", crs="EPSG:4545",
                      transform=from_origin(x0, y0, CELL, CELL)) as dst:
            dst.write(z, 1)
            dst.set_band_unit(1, "m")
            dst.set_band_description(1, "DEM")
        buf.write(mem.read())
    return buf.getvalue(), river


def _site_at(river, distance_m: float, along: float = 0.5):
    """A lon/lat point `distance_m` from the river centreline, square to it (GK metres)."""
    p = river.interpolate(along, normalized=True)
    q = river.interpolate(along + 0.001, normalized=True)
    nx, ny = -(q.y - p.y), q.x - p.x
    norm = math.hypot(nx, ny)
    x, y = p.x + nx / norm * distance_m, p.y + ny / norm * distance_m
    assert abs(shapely.Point(x, y).distance(river) - distance_m) < 1.0  # nothing else of the river nearer
    return TO_GK.transform(x, y, direction="INVERSE")


def _upload(client, token, layer_id, tif):
    r = client.post("/v1/layers", data={"id": layer_id, "kind": "raster", "name": f"{layer_id} 高程"},
                    files={"file": (f"{layer_id}.tif", tif, "image/tiff")}, headers=_auth(token))
    assert r.status_code == 201, r.text


def _check(client, lon, lat, project_type):
    r = client.post("/v1/siting/check", json={"geometry": {"type": "Point", "coordinates": [lon, lat]},
                                              "project_type": project_type})
    assert r.status_code == 200, r.text
    return r.json()


def test_dem_upload_derives_the_barrier_zone_and_reports_slope(api):  # noqa: F811
    client, tokens, _ = api
    gradient = math.tan(math.radians(20.0))
    tif, river = _valley("乌江", "500102", base=150.0, gradient=gradient, ridge_m=2000.0)
    # The demo's illustrative 3 km barrier band goes: the DEM's viewshed replaces it.
    assert client.delete("/v1/layers/barrier_zones", headers=_auth(tokens["editor"])).status_code == 204
    _upload(client, tokens["editor"], "dem-fuling", tif)
    layers = {lay["id"]: lay for lay in client.get("/v1/layers").json()}
    assert {"derived-barrier-dem-fuling", "derived-slope-dem-fuling"} <= set(layers)
    assert layers["derived-barrier-dem-fuling"]["kind"] == "barrier_zone"
    versions = client.get("/v1/layers/derived-barrier-dem-fuling/versions").json()
    assert "dem-fuling v1" in versions[-1]["comment"] and versions[-1]["created_by"] == "ecozone-terrain"

    lon, lat = _site_at(river, 1000.0)  # on the valley side, in sight of the river
    answer = _check(client, lon, lat, "mining")
    finding = next(f for f in answer["findings"] if f["rule_id"] == "fuling-barrier-zone-mining")
    assert answer["verdict"] == "prohibited" and finding["layer"] == "derived-barrier-dem-fuling"
    assert "生态屏障区" in finding["citation"]["text"]
    terrain = answer["terrain"][0]
    assert terrain["layer"] == "dem-fuling"
    assert terrain["slope_mean_deg"] == pytest.approx(20.0, abs=0.5)
    assert terrain["elevation_mean_m"] == pytest.approx(150.0 + gradient * 1000.0, abs=CELL * gradient)

    beyond = _check(client, *_site_at(river, 3000.0), "mining")  # behind the first ridge
    assert "fuling-barrier-zone-mining" not in {f["rule_id"] for f in beyond["findings"]}


def test_dem_upload_derives_the_drawdown_band(api):  # noqa: F811
    client, tokens, _ = api
    gradient = 0.2  # 145–175 m lies 25–175 m from the 大宁河 centreline
    tif, river = _valley("大宁河", "500238", base=140.0, gradient=gradient, ridge_m=1500.0)
    assert client.delete("/v1/layers/drawdown_zones", headers=_auth(tokens["editor"])).status_code == 204
    _upload(client, tokens["editor"], "dem-wuxi", tif)
    inside = _check(client, *_site_at(river, 100.0), "livestock_farm")
    finding = next(f for f in inside["findings"] if f["rule_id"] == "wuxi-drawdown-zone-livestock")
    assert inside["verdict"] == "prohibited" and finding["layer"] == "derived-drawdown-dem-wuxi"
    above = _check(client, *_site_at(river, 400.0), "livestock_farm")  # 220 m: above the band
    assert "wuxi-drawdown-zone-livestock" not in {f["rule_id"] for f in above["findings"]}
    # The slope rules bind now: 0.2 → 11.3°, below 15°, so neither slope class is here.
    planting = _check(client, *_site_at(river, 400.0), "planting")
    assert not {"wuxi-slope-25-return-to-forest", "wuxi-slope-15-25-return-to-forest"} & {
        f["rule_id"] for f in planting["findings"]}
