"""GIS staff through the HTTP API, on both stores, as the issue's user does it: upload a zipped
GBK Shapefile (EPSG:4545, no .cpg) of a red line with an editor token, see it listed with the
right bbox, check a site inside it, publish a broken file while the old version keeps
answering, publish a moved one, roll back, download, delete. Files are written by GDAL."""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from ecozone.layers.demo import load_demo_layers
from ecozone.main import create_app
from ecozone.service import Service
from ecozone.settings import Settings

RED_NAME = "武隆区芙蓉江生态保护红线（测试）"
SITE = (107.73, 29.40)  # in 武隆区, away from the demo red lines
TO_GK = Transformer.from_crs(4326, 4545, always_xy=True)
TO_LONLAT = Transformer.from_crs(4545, 4326, always_xy=True)


def _square_gk(lon: float, lat: float, half_m: float) -> shapely.Polygon:
    x, y = TO_GK.transform(lon, lat)
    return shapely.box(x - half_m, y - half_m, x + half_m, y + half_m)


def gbk_shapefile_zip(tmp: Path, polygon: shapely.Polygon, name: str = RED_NAME) -> Path:
    """A red-line Shapefile in EPSG:4545 with GBK attributes and no .cpg, zipped."""
    folder = tmp / f"shp-{abs(hash(polygon.wkb)) % 10**8}"
    folder.mkdir()
    frame = gpd.GeoDataFrame({"name": [name]}, geometry=[polygon], crs=4545)
    pyogrio.write_dataframe(frame, folder / "hongxian.shp", encoding="GBK")
    (folder / "hongxian.cpg").unlink(missing_ok=True)
    out = folder.with_suffix(".zip")
    with zipfile.ZipFile(out, "w") as z:
        for f in folder.iterdir():
            z.write(f, f.name)
    return out


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def api(request, tmp_path, catalog):
    if request.param == "embedded":
        from ecozone.layers.store import EmbeddedStore

        store = EmbeddedStore(tmp_path / "store")
    else:
        from ecozone.layers.store.postgis import PostGISStore

        store = PostGISStore(request.getfixturevalue("pg_database_url"))
    load_demo_layers(store)
    service = Service(store, catalog, cache_dir=tmp_path / "cache")
    client = TestClient(create_app(Settings(data_dir=tmp_path / "unused"), service))
    tokens = {role: store.create_token(f"gis-{role}", role) for role in ("viewer", "editor")}
    yield client, tokens, service
    store.close()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _upload(path: Path) -> dict:
    return {"file": (path.name, path.read_bytes(), "application/zip")}


def _check(client: TestClient, lon: float, lat: float) -> dict:
    r = client.post("/v1/siting/check", json={"geometry": {"type": "Point", "coordinates": [lon, lat]}})
    assert r.status_code == 200, r.text
    return r.json()


def _on_layer(answer: dict, layer: str) -> set[str]:
    return {f["rule_id"] for f in answer["findings"] if f["layer"] == layer}


def test_publish_check_break_rollback_download_delete(api, tmp_path):
    client, tokens, service = api
    square = _square_gk(*SITE, half_m=800)
    shp = gbk_shapefile_zip(tmp_path, square)
    form = {"id": "red_lines_2026", "kind": "red_line", "name": "生态保护红线 2026"}

    assert client.post("/v1/layers", data=form, files=_upload(shp)).status_code == 401
    forbidden = client.post("/v1/layers", data=form, files=_upload(shp), headers=_auth(tokens["viewer"]))
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"
    assert "red_lines_2026" not in [lay["id"] for lay in client.get("/v1/layers").json()]

    before = _check(client, *SITE)
    assert _on_layer(before, "red_lines_2026") == set()
    created = client.post("/v1/layers", data=form, files=_upload(shp), headers=_auth(tokens["editor"]))
    assert created.status_code == 201, created.text
    layer = created.json()
    assert (layer["version"], layer["feature_count"], layer["source_crs"]) == (1, 1, "EPSG:4545")
    assert created.headers["ETag"] == '"red_lines_2026-v1"'
    # bbox: the square's corners taken to lon/lat by pyproj, independently of the service.
    lon, lat = TO_LONLAT.transform(*shapely.get_coordinates(square).T)
    assert layer["bbox"] == pytest.approx([lon.min(), lat.min(), lon.max(), lat.max()], abs=2e-6)
    listed = {lay["id"]: lay for lay in client.get("/v1/layers").json()}["red_lines_2026"]
    assert listed["bbox"] == layer["bbox"] and listed["kind"] == "red_line"
    # Attributes came through GBK without mojibake.
    feature = client.get("/v1/layers/red_lines_2026/download", params={"format": "geojson"}).json()["features"][0]
    assert feature["properties"]["name"] == RED_NAME

    v1 = _check(client, *SITE)
    assert _on_layer(v1, "red_lines_2026"), "a site inside the new red line must have a finding on it"
    assert v1["verdict"] == "prohibited" and v1["data_version"] != before["data_version"]

    # A broken file is refused with a clear error; version 1 keeps answering, byte for byte.
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("readme.txt", "no shapefile here")
    r = client.put("/v1/layers/red_lines_2026", files=_upload(broken), headers=_auth(tokens["editor"]))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["code"] and err["message"]["zh"] and err["message"]["en"]
    assert client.get("/v1/layers/red_lines_2026").json()["version"] == 1
    assert _check(client, *SITE) == v1

    # A stale If-Match is refused before anything is read.
    moved = gbk_shapefile_zip(tmp_path, shapely.affinity.translate(square, 6000, 0))
    stale = client.put("/v1/layers/red_lines_2026", files=_upload(moved), headers={
        **_auth(tokens["editor"]), "If-Match": '"red_lines_2026-v0"'})
    assert stale.status_code == 412 and stale.json()["error"]["code"] == "version_mismatch"

    v2 = client.put("/v1/layers/red_lines_2026", files=_upload(moved), data={"comment": "re-surveyed"},
                    headers={**_auth(tokens["editor"]), "If-Match": '"red_lines_2026-v1"'})
    assert v2.status_code == 200, v2.text
    assert v2.json()["version"] == 2
    assert _on_layer(_check(client, *SITE), "red_lines_2026") == set()

    back = client.post("/v1/layers/red_lines_2026/rollback", json={"version": 1}, headers=_auth(tokens["editor"]))
    assert back.status_code == 200 and back.json()["version"] == 3
    restored = _check(client, *SITE)
    # Every answer restored exactly, data_version included; only the version numbers moved on.
    assert restored.pop("layer_versions")["red_lines_2026"] == 3
    assert restored == {k: v for k, v in v1.items() if k != "layer_versions"}

    versions = client.get("/v1/layers/red_lines_2026/versions").json()
    assert [(v["version"], v["created_by"], v["comment"], v["restored_from"]) for v in versions] == [
        (1, "gis-editor", None, None), (2, "gis-editor", "re-surveyed", None), (3, "gis-editor", None, 1)]

    for fmt, reader in (("gpkg", None), ("shp", None)):
        body = client.get("/v1/layers/red_lines_2026/download", params={"format": fmt})
        assert body.status_code == 200
        path = tmp_path / f"download.{'zip' if fmt == 'shp' else fmt}"
        path.write_bytes(body.content)
        frame = pyogrio.read_dataframe(f"/vsizip/{path}" if fmt == "shp" else path)
        assert frame["name"].tolist() == [RED_NAME]
        back_gk = frame.to_crs(4545).geometry.iloc[0]
        assert shapely.hausdorff_distance(back_gk, square) < 0.02  # metres

    assert client.delete("/v1/layers/red_lines_2026", headers=_auth(tokens["editor"])).status_code == 204
    assert client.get("/v1/layers/red_lines_2026").status_code == 404
    after_delete = _check(client, *SITE)
    assert "red_lines_2026" not in after_delete.pop("layer_versions")
    assert after_delete == {k: v for k, v in before.items() if k != "layer_versions"}

    actions = [(e["action"], e["layer_id"], e["version"], e["actor"]) for e in client.get("/v1/audit").json()
               if e["layer_id"] == "red_lines_2026"]
    assert actions == [("delete", "red_lines_2026", 3, "gis-editor"), ("rollback", "red_lines_2026", 3, "gis-editor"),
                       ("publish", "red_lines_2026", 2, "gis-editor"), ("publish", "red_lines_2026", 1, "gis-editor")]


def test_create_twice_is_409_and_put_on_a_missing_layer_is_404(api, tmp_path):
    client, tokens, _ = api
    shp = gbk_shapefile_zip(tmp_path, _square_gk(*SITE, half_m=300))
    form = {"id": "red_x", "kind": "red_line"}
    assert client.post("/v1/layers", data=form, files=_upload(shp), headers=_auth(tokens["editor"])).status_code == 201
    again = client.post("/v1/layers", data=form, files=_upload(shp), headers=_auth(tokens["editor"]))
    assert again.status_code == 409 and again.json()["error"]["code"] == "layer_exists"
    missing = client.put("/v1/layers/nope", files=_upload(shp), headers=_auth(tokens["editor"]))
    assert missing.status_code == 404


def test_validation_errors_name_what_and_where(api, tmp_path):
    client, tokens, _ = api
    # A water source without its required zone_class, written by GDAL as GeoJSON.
    frame = gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=[
        shapely.box(107.70, 29.40, 107.71, 29.41), shapely.box(107.72, 29.40, 107.73, 29.41)], crs=4326)
    path = tmp_path / "ws.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    r = client.post("/v1/layers", data={"id": "ws", "kind": "water_source"},
                    files={"file": (path.name, path.read_bytes(), "application/geo+json")},
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 422
    body = r.json()["error"]
    assert "zone_class" in body["message"]["zh"] and "zone_class" in body["message"]["en"]
    # A bad enum value lists the allowed ones.
    frame["zone_class"] = ["first", "primary"]
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    r = client.post("/v1/layers", data={"id": "ws", "kind": "water_source"},
                    files={"file": (path.name, path.read_bytes(), "application/geo+json")},
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 422
    msg = r.json()["error"]["message"]["en"]
    assert "primary" in msg and all(v in msg for v in ("first", "second", "quasi"))
    assert "ws" not in [lay["id"] for lay in client.get("/v1/layers").json()]


def test_upload_size_limit_is_413(tmp_path, catalog, demo_service):
    client = TestClient(create_app(Settings(data_dir=tmp_path, max_upload_bytes=1000), demo_service))
    token = demo_service.store.create_token("size-test", "editor")
    r = client.post("/v1/layers", data={"id": "big", "kind": "red_line"},
                    files={"file": ("big.geojson", b" " * 5000, "application/geo+json")}, headers=_auth(token))
    assert r.status_code == 413 and r.json()["error"]["code"] == "upload_too_large"


def test_private_reads_need_a_token(tmp_path, demo_service):
    client = TestClient(create_app(Settings(data_dir=tmp_path, private_reads=True), demo_service))
    assert client.get("/v1/layers").status_code == 401
    token = demo_service.store.create_token("reader", "viewer")
    assert client.get("/v1/layers", headers=_auth(token)).status_code == 200


def test_geotiff_without_crs_is_stored_as_a_cog_in_the_crs_sent(api, tmp_path):
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    client, tokens, _ = api
    x0, y0 = TO_GK.transform(*SITE)
    dem = (np.arange(300 * 200, dtype="float32").reshape(200, 300) % 977) + 150.0
    path = tmp_path / "dem.tif"
    with rasterio.open(path, "w", driver="GTiff", width=300, height=200, count=1, dtype="float32",
                       transform=from_origin(x0, y0, 30.0, 30.0)) as dst:  # no CRS in the file
        dst.write(dem, 1)
    upload = {"file": ("dem.tif", path.read_bytes(), "image/tiff")}
    missing = client.post("/v1/layers", data={"id": "dem", "kind": "raster"}, files=upload,
                          headers=_auth(tokens["editor"]))
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "missing_crs"
    wrong_kind = client.post("/v1/layers", data={"id": "dem", "kind": "red_line", "crs": "EPSG:4545"}, files=upload,
                             headers=_auth(tokens["editor"]))
    assert wrong_kind.status_code == 422
    r = client.post("/v1/layers", data={"id": "dem", "kind": "raster", "crs": "EPSG:4545"}, files=upload,
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    layer = r.json()
    assert (layer["kind"], layer["geometry_type"], layer["source_crs"]) == ("raster", "Raster", "EPSG:4545")
    corners = np.array([[x0, y0 - 200 * 30], [x0 + 300 * 30, y0]])
    lon, lat = TO_LONLAT.transform(corners[:, 0], corners[:, 1])
    assert layer["bbox"] == pytest.approx([lon.min(), lat.min(), lon.max(), lat.max()], abs=2e-4)
    body = client.get("/v1/layers/dem/download")
    assert body.status_code == 200 and body.headers["content-type"].startswith("image/tiff")
    out = tmp_path / "back.tif"
    out.write_bytes(body.content)
    with rasterio.open(out) as src:
        assert src.crs.to_epsg() == 4545
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        np.testing.assert_array_equal(src.read(1), dem)
        assert src.transform.almost_equals(from_origin(x0, y0, 30.0, 30.0))


def test_geopackage_with_two_tables_and_a_csv_through_the_api(api, tmp_path):
    client, tokens, _ = api
    parks = gpd.GeoDataFrame({"name": ["白马山工业园"]}, geometry=[_square_gk(107.70, 29.38, 500)], crs=4545)
    units = gpd.GeoDataFrame({"code": ["ZH50015610001"], "unit_class": ["key"]},
                             geometry=[_square_gk(107.70, 29.38, 900)], crs=4545)
    gpkg = tmp_path / "two.gpkg"
    pyogrio.write_dataframe(parks, gpkg, layer="工业园区", driver="GPKG")
    pyogrio.write_dataframe(units, gpkg, layer="管控单元", driver="GPKG", append=True)
    upload = {"file": ("two.gpkg", gpkg.read_bytes(), "application/geopackage+sqlite3")}
    r = client.post("/v1/layers", data={"id": "parks", "kind": "industrial_park"}, files=upload,
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "ambiguous_table"
    assert "工业园区" in r.json()["error"]["message"]["zh"] and "管控单元" in r.json()["error"]["message"]["zh"]
    r = client.post("/v1/layers", data={"id": "parks", "kind": "industrial_park", "layer": "工业园区"}, files=upload,
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    assert (r.json()["feature_count"], r.json()["source_crs"]) == (1, "EPSG:4545")

    csv = tmp_path / "sites.csv"
    gpd.GeoDataFrame({"name": ["实验小学"], "category": ["school"], "lon": [107.71], "lat": [29.39]},
                     geometry=gpd.points_from_xy([107.71], [29.39]), crs=4326).drop(columns="geometry").pipe(
        lambda df: pyogrio.write_dataframe(df, csv, driver="CSV"))
    upload = {"file": ("sites.csv", csv.read_bytes(), "text/csv")}
    r = client.post("/v1/layers", data={"id": "schools", "kind": "sensitive_site"}, files=upload,
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_crs"
    r = client.post("/v1/layers", data={"id": "schools", "kind": "sensitive_site", "crs": "EPSG:4326"}, files=upload,
                    headers=_auth(tokens["editor"]))
    assert r.status_code == 201, r.text
    assert r.json()["bbox"] == pytest.approx([107.71, 29.39, 107.71, 29.39])


def test_cors_origins_are_a_setting(tmp_path, demo_service):
    plain = TestClient(create_app(Settings(data_dir=tmp_path), demo_service))
    origin = {"Origin": "https://gis.cq.example", "Access-Control-Request-Method": "PUT"}
    assert "access-control-allow-origin" not in plain.options("/v1/layers/x", headers=origin).headers
    allowed = TestClient(create_app(Settings(data_dir=tmp_path, cors_origins="https://gis.cq.example"), demo_service))
    r = allowed.options("/v1/layers/x", headers={**origin, "Access-Control-Request-Headers": "authorization,if-match"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://gis.cq.example"
    other = allowed.options("/v1/layers/x", headers={**origin, "Origin": "https://elsewhere.example"})
    assert other.headers.get("access-control-allow-origin") != "https://elsewhere.example"
