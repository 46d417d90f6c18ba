"""OGC API – Features at /ogc, read by real GIS clients from a real `ecozone serve`: GDAL's OAPIF
driver (through pyogrio, and Debian's `ogrinfo`/`ogr2ogr`), owslib, and QGIS itself (Debian's
python3-qgis, headless); then the API's own promises (clamped limit, paging links, errors,
output CRSs, the OpenAPI 3.0 document).

One server per module, on a fresh data directory: it loads the demo layers and compiles the
rule zones itself, as a new install does. The features it serves are compared with its own
store (opened read-only beside it), not with the demo files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from servers import Server

pytestmark = pytest.mark.slow

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
ZONES = "zones.wulong-wu-river-1km"
# Around Wulong: crosses the Wulong red line; the Fuling red line's bounding box reaches in, its
# polygon does not (so a client filtering by bounding boxes alone would get it wrong).
BBOX = (107.505, 29.198, 107.741, 29.435)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("ogc-data")
    env = {**os.environ, "ECOZONE_DATA_DIR": str(data), "NO_COLOR": "1"}
    env.pop("ECOZONE_DATABASE_URL", None)
    running = Server(env, data.parent / "ogc-server.log").start()
    try:
        yield running.base, data
    finally:
        running.stop()


@pytest.fixture(scope="module")
def base(server) -> str:
    return server[0]


@pytest.fixture(scope="module")
def oapif(base) -> str:
    return f"OAPIF:{base}/ogc"


@pytest.fixture(scope="module")
def store(server):
    """The server's own embedded store, opened beside it (reads only)."""
    from ecozone.layers.store import EmbeddedStore

    return EmbeddedStore(server[1])


@pytest.fixture(scope="module")
def http(base):
    with httpx.Client(base_url=base, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def expected_collections(http) -> set[str]:
    layers = {l["id"] for l in http.get("/v1/layers").json() if l["kind"] != "raster"}
    zones = {"zones." + r["rule_id"] for r in http.get("/v1/rules").json() if r["zone_count"] > 0}
    assert ZONES in zones and "red_lines" in layers
    return layers | zones


def _same_geometry(a, b, tol: float = 1e-7) -> bool:
    """Equal within tol, a one-part Multi* being the same as its part (GDAL may promote)."""
    a, b = (shapely.normalize(g.geoms[0] if g.geom_type.startswith("Multi") and len(g.geoms) == 1 else g)
            for g in (a, b))
    return a.geom_type == b.geom_type and shapely.equals_exact(a, b, tolerance=tol)


def _assert_same_features(frame, expected, id_column: str = "id") -> None:
    assert len(frame) == len(expected)
    got = frame.set_index(id_column)
    for fid, row in expected.set_index("feature_id").iterrows():
        assert got.loc[fid, "name"] == row["name"]
        assert _same_geometry(got.loc[fid, "geometry"], row["geometry"]), fid


# --- GDAL's OAPIF driver, through pyogrio (GDAL 3.10+) -------------------------------------
def test_gdal_lists_every_layer_and_every_rule_zone_collection(oapif, expected_collections):
    listed = pyogrio.list_layers(oapif)
    assert {name for name, _ in listed} == expected_collections
    assert len(listed) == len(expected_collections)


def test_gdal_reads_a_layer_page_by_page_and_gets_the_stores_features(oapif, store, base):
    expected = store.read("red_lines")
    # PAGE_SIZE=2 over 5 features: GDAL follows two `next` links.
    frame = pyogrio.read_dataframe(oapif, layer="red_lines", PAGE_SIZE=2)
    _assert_same_features(frame, expected)
    assert set(frame["name"]) == set(expected["name"]) and "武隆区生态保护红线（示意）" in set(frame["name"])
    assert frame.crs.equals("OGC:CRS84")
    # The same through the raw pages: every feature once.
    with httpx.Client(base_url=base, timeout=60) as c:
        r = c.get("/ogc/collections/red_lines/items", params={"limit": 2})
        ids = []
        while True:
            page = r.json()
            ids += [f["id"] for f in page["features"]]
            nxt = [l["href"] for l in page["links"] if l["rel"] == "next"]
            if not nxt:
                break
            r = c.get(nxt[0])
    assert sorted(ids) == sorted(expected["feature_id"])


def test_gdal_bbox_read_gets_exactly_the_features_that_intersect(oapif, store):
    expected = store.read("red_lines")
    box = shapely.box(*BBOX)
    hits = expected[expected.geometry.intersects(box)]
    envelope_only = expected[expected.geometry.envelope.intersects(box) & ~expected.geometry.intersects(box)]
    assert len(hits) and len(envelope_only), "the box no longer tells intersecting from overlapping envelopes"
    frame = pyogrio.read_dataframe(oapif, layer="red_lines", bbox=BBOX)
    assert sorted(frame["id"]) == sorted(hits["feature_id"])
    _assert_same_features(frame, hits)


def test_gdal_reads_a_rule_zone_collection(oapif, http):
    frame = pyogrio.read_dataframe(oapif, layer=ZONES)
    collection = http.get(f"/ogc/collections/{ZONES}").json()
    assert len(frame) == collection["ecozone:featureCount"] > 0
    assert set(frame["rule_id"]) == {"wulong-wu-river-1km"}
    assert set(frame["effect"]) == {"prohibited"}
    assert frame["citation"].str.contains("乌江").all()
    assert frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all() and frame.geometry.is_valid.all()


# --- Debian's gdal-bin (GDAL 3.6): ogrinfo and ogr2ogr --------------------------------------
def _gdal_bin(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} not found: CI installs Debian's gdal-bin", pytrace=False)
    return path


def test_ogrinfo_lists_every_collection(oapif, expected_collections):
    r = subprocess.run([_gdal_bin("ogrinfo"), "-ro", "-so", "-q", oapif], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    # "1: red_lines (title: …) (Multi Polygon)"
    names = {line.split(":", 1)[1].split("(", 1)[0].strip() for line in r.stdout.splitlines()
             if line.split(":", 1)[0].strip().isdigit()}
    assert names == expected_collections


@pytest.mark.parametrize("collection", ["red_lines", ZONES])
def test_ogr2ogr_copies_a_collection_to_a_geopackage(oapif, collection, store, http, tmp_path):
    out = tmp_path / "out.gpkg"
    r = subprocess.run([_gdal_bin("ogr2ogr"), "-f", "GPKG", str(out), oapif, collection],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    copied = pyogrio.read_dataframe(out)
    if collection == "red_lines":
        expected = store.read("red_lines")
        columns = [c for c in expected.columns if c not in ("feature_id", expected.geometry.name)]
        assert set(columns) <= set(copied.columns)
        merged = copied.set_index("id").loc[expected["feature_id"]]
        for c in columns:
            if c == "id":
                continue
            assert list(merged[c]) == list(expected[c]), c
        _assert_same_features(copied, expected)
    else:
        page = http.get(f"/ogc/collections/{collection}/items", params={"limit": 1000}).json()
        assert len(copied) == page["numberMatched"] == len(page["features"]) > 0
        for attr in ("rule_id", "effect", "citation", "document", "section", "source_feature_name"):
            assert attr in copied.columns
            assert list(copied[attr]) == [f["properties"][attr] for f in page["features"]], attr


# --- owslib ------------------------------------------------------------------------------
def test_owslib_reads_collections_items_and_conformance(base, expected_collections, store):
    from owslib.ogcapi.features import Features

    api = Features(f"{base}/ogc")
    assert {c["id"] for c in api.collections()["collections"]} == expected_collections
    assert api.api()["openapi"].startswith("3.0")
    conforms = api.conformance()["conformsTo"]
    assert any(c.endswith("/conf/core") for c in conforms)
    items = api.collection_items("red_lines", limit=3)
    assert items["numberMatched"] == len(store.read("red_lines")) and items["numberReturned"] == 3
    zones = api.collection_items(ZONES, limit=100)
    assert zones["numberMatched"] == zones["numberReturned"] > 0
    assert {f["properties"]["rule_id"] for f in zones["features"]} == {"wulong-wu-river-1km"}


# --- QGIS (Debian's python3-qgis, run by the system python, headless) ----------------------
QGIS_SCRIPT = """
import json, sys
from qgis.core import QgsApplication, QgsVectorLayer
QgsApplication.setPrefixPath('/usr', True)
app = QgsApplication([], False)
app.initQgis()
out = {}
for name in sys.argv[2:]:
    lyr = QgsVectorLayer(f"url='{sys.argv[1]}' typename='{name}'", name, 'OAPIF')
    feats = list(lyr.getFeatures()) if lyr.isValid() else []
    out[name] = {"valid": lyr.isValid(), "count": lyr.featureCount(), "read": len(feats),
                 "fields": [f.name() for f in lyr.fields()],
                 "names": sorted(str(f["name"]) for f in feats) if "name" in lyr.fields().names() else []}
print(json.dumps(out, ensure_ascii=False), flush=True)
del feats, lyr  # QGIS crashes on exit while layers or features are alive
app.exitQgis()
"""


def test_qgis_loads_a_layer_and_a_rule_zone_collection(base, store, http):
    if not Path("/usr/lib/python3/dist-packages/qgis").is_dir():
        pytest.fail("QGIS not installed: CI installs Debian's python3-qgis", pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(QT_QPA_PLATFORM="offscreen", PYTHONIOENCODING="utf-8")
    r = subprocess.run(["/usr/bin/python3", "-c", QGIS_SCRIPT, f"{base}/ogc", "red_lines", ZONES],
                       capture_output=True, encoding="utf-8", timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    expected = store.read("red_lines")
    assert got["red_lines"]["valid"] and got["red_lines"]["count"] == got["red_lines"]["read"] == len(expected)
    assert got["red_lines"]["names"] == sorted(expected["name"])
    zones = http.get(f"/ogc/collections/{ZONES}").json()["ecozone:featureCount"]
    assert got[ZONES]["valid"] and got[ZONES]["count"] == zones
    assert {"rule_id", "effect", "citation"} <= set(got[ZONES]["fields"])


# --- the API's own promises ---------------------------------------------------------------
def test_landing_conformance_and_openapi_30(http):
    landing = http.get("/ogc").json()
    rels = {l["rel"]: l for l in landing["links"]}
    assert {"self", "service-desc", "conformance", "data"} <= set(rels)
    conforms = http.get("/ogc/conformance").json()["conformsTo"]
    for cls in ("core", "geojson", "oas30"):
        assert f"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{cls}" in conforms
    r = http.get(urlparse(rels["service-desc"]["href"]).path)
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json")
    doc = r.json()
    assert doc["openapi"].startswith("3.0")
    assert "/ogc/collections/{collection_id}/items" in doc["paths"]
    params = {p["name"]: p for p in doc["paths"]["/ogc/collections/{collection_id}/items"]["get"]["parameters"]}
    assert {"bbox", "limit", "offset", "crs", "bbox-crs"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == 10_000
    text = json.dumps(doc)
    # Nothing only OpenAPI 3.1 can say.
    assert '"type": "null"' not in text and "contentMediaType" not in text and '"const"' not in text


def test_items_are_geojson_with_counts_and_a_limit_clamped_not_refused(http):
    r = http.get("/ogc/collections/rivers/items", params={"limit": 100_000})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    body = r.json()
    assert body["type"] == "FeatureCollection"
    assert body["numberMatched"] == body["numberReturned"] == len(body["features"]) <= 10_000
    assert body["numberMatched"] == http.get("/ogc/collections/rivers").json()["ecozone:featureCount"]
    self_link = next(l["href"] for l in body["links"] if l["rel"] == "self")
    assert parse_qs(urlparse(self_link).query)["limit"] == ["10000"]


def test_next_and_prev_links_and_offsets_cover_every_feature_exactly_once(http):
    total = http.get("/ogc/collections/rivers/items", params={"limit": 1}).json()["numberMatched"]
    assert total > 6
    seen, url, pages = [], "/ogc/collections/rivers/items?limit=4", []
    while url:
        page = http.get(url).json()
        pages.append(page)
        assert page["numberMatched"] == total and page["numberReturned"] == len(page["features"])
        seen += [f["id"] for f in page["features"]]
        url = next((l["href"] for l in page["links"] if l["rel"] == "next"), None)
    assert len(seen) == total == len(set(seen))
    assert len(pages) == -(-total // 4)
    assert not any(l["rel"] == "prev" for l in pages[0]["links"])
    # Walking back from the last page by `prev` gives the same pages in reverse.
    back, url = [], next(l["href"] for l in pages[-1]["links"] if l["rel"] == "self")
    while url:
        page = http.get(url).json()
        back = [f["id"] for f in page["features"]] + back
        url = next((l["href"] for l in page["links"] if l["rel"] == "prev"), None)
    assert back == seen
    by_offset = [f["id"] for off in range(0, total, 5)
                 for f in http.get("/ogc/collections/rivers/items", params={"limit": 5, "offset": off}).json()["features"]]
    assert by_offset == seen
    past = http.get("/ogc/collections/rivers/items", params={"offset": total + 3}).json()
    assert past["numberReturned"] == 0 and past["numberMatched"] == total


def test_bbox_filter_and_bad_bbox(http, store):
    expected = store.read("red_lines")
    hits = expected[expected.geometry.intersects(shapely.box(*BBOX))]
    body = http.get("/ogc/collections/red_lines/items", params={"bbox": ",".join(map(str, BBOX))}).json()
    assert sorted(f["id"] for f in body["features"]) == sorted(hits["feature_id"]) and body["numberMatched"] == len(hits)
    # The same box given in EPSG:4326 (latitude first) with bbox-crs.
    lat_lon = f"{BBOX[1]},{BBOX[0]},{BBOX[3]},{BBOX[2]}"
    body = http.get("/ogc/collections/red_lines/items", params={"bbox": lat_lon, "bbox-crs": EPSG + "4326"}).json()
    assert sorted(f["id"] for f in body["features"]) == sorted(hits["feature_id"])
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,nan", ""):
        r = http.get("/ogc/collections/red_lines/items", params={"bbox": bad})
        assert r.status_code == 400, bad
        assert r.json()["error"]["detail"]["where"] == "bbox"
    for name, value in (("limit", 0), ("offset", -1)):
        r = http.get("/ogc/collections/red_lines/items", params={name: value})
        assert r.status_code == 400 and r.json()["error"]["detail"]["where"] == name


def test_one_item_and_what_is_not_there(http, store):
    fid = store.read("red_lines")["feature_id"].iloc[0]
    r = http.get(f"/ogc/collections/red_lines/items/{fid}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    feature = r.json()
    assert feature["type"] == "Feature" and feature["id"] == fid
    assert {l["rel"] for l in feature["links"]} >= {"self", "collection"}
    zone = http.get(f"/ogc/collections/{ZONES}/items/1").json()
    assert zone["properties"]["rule_id"] == "wulong-wu-river-1km"
    for url, where in (("/ogc/collections/nope/items", "collectionId"), ("/ogc/collections/nope", "collectionId"),
                       ("/ogc/collections/red_lines/items/nope", "featureId"),
                       (f"/ogc/collections/{ZONES}/items/999999", "featureId"),
                       ("/ogc/collections/zones.no-such-rule/items", "collectionId")):
        r = http.get(url)
        assert r.status_code == 404, url
        error = r.json()["error"]
        assert error["code"] == "not_found" and error["detail"]["where"] == where
        assert error["message"]["zh"] and error["message"]["en"]


def _first_ring(feature) -> np.ndarray:
    coords = feature["geometry"]["coordinates"]
    ring = coords[0] if feature["geometry"]["type"] == "Polygon" else coords[0][0]
    return np.array(ring)


def test_output_crs_gauss_kruger_and_epsg_4326_axis_order(http):
    fid = "wulong-red-line"
    lonlat = _first_ring(http.get(f"/ogc/collections/red_lines/items/{fid}").json())
    r = http.get(f"/ogc/collections/red_lines/items/{fid}", params={"crs": EPSG + "4545"})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG}4545>"
    gk = _first_ring(r.json())
    # EPSG:4545 (CGCS2000 / 3-degree Gauss-Kruger CM 108E) in its own axis order: northing, easting.
    north, east = Transformer.from_crs("OGC:CRS84", "EPSG:4545").transform(lonlat[:, 0], lonlat[:, 1])
    assert np.allclose(gk[:, 0], north, atol=1e-3) and np.allclose(gk[:, 1], east, atol=1e-3)
    assert 3.2e6 < gk[0, 0] < 3.3e6 and 4e5 < gk[0, 1] < 6e5  # ~29.5°N, near the 108°E meridian
    r = http.get(f"/ogc/collections/red_lines/items/{fid}", params={"crs": EPSG + "4326"})
    assert r.headers["content-crs"] == f"<{EPSG}4326>"
    assert np.allclose(_first_ring(r.json()), lonlat[:, ::-1], atol=1e-9)  # latitude first
    items = http.get("/ogc/collections/red_lines/items", params={"crs": EPSG + "4545", "limit": 1})
    assert items.headers["content-crs"] == f"<{EPSG}4545>"
    default = http.get("/ogc/collections/red_lines/items", params={"limit": 1})
    assert default.headers["content-crs"] == f"<{CRS84}>"
    assert http.get("/ogc/collections/red_lines/items", params={"crs": "EPSG:9999"}).status_code == 400
    collection = http.get("/ogc/collections/red_lines").json()
    assert EPSG + "4545" in collection["crs"] and collection["storageCrs"] == CRS84
