"""The console command as a user runs it: `ecozone check` in a fresh data directory (exit
codes, --geometry files, several project types, the zone cache) and `ecozone serve`
answering over real HTTP on a free port, or refusing a taken one."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Transformer

from ecozone.checks import SitingRequest, run_check
from ecozone.layers.demo import DEMO_LAYERS
from ecozone.layers.store import EmbeddedStore
from ecozone.service import Service, ZoneCache
from ecozone.settings import Settings
from servers import ECOZONE, free_port

EXIT = {"permitted": 0, "bad_input": 2, "notice": 3, "restricted": 4, "prohibited": 5, "not_covered": 6}
BEIJING = (116.40, 39.90)


def _env(data_dir: Path) -> dict:
    return {**os.environ, "ECOZONE_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}


def run(data_dir: Path, *args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(ECOZONE + list(args), env=env or _env(data_dir), capture_output=True, text=True,
                          timeout=300, cwd=cwd)


def check_json(data_dir: Path, *args: str) -> tuple[int, dict | None, str]:
    out = run(data_dir, "check", *args, "--json")
    answer = json.loads(out.stdout) if out.stdout.strip() else None
    return out.returncode, answer, out.stderr


def cache_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "cache").glob("zones-*.pickle"))


@pytest.fixture(scope="module")
def warm_dir(tmp_path_factory, wu_river_site) -> Path:
    """A data directory that has served one check (demo layers loaded, zones cached)."""
    data = tmp_path_factory.mktemp("warm") / "data"
    lon, lat, _ = wu_river_site(500)
    code, _, err = check_json(data, "--lon", str(lon), "--lat", str(lat))
    assert code in EXIT.values(), err
    return data


# --- a fresh data dir, exit codes ------------------------------------------------------------
def test_check_json_in_a_fresh_data_dir(tmp_path, wu_river_site):
    data = tmp_path / "data"
    lon, lat, _ = wu_river_site(500)
    code, answer, err = check_json(data, "--lon", str(lon), "--lat", str(lat), "--project-type", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    assert answer["verdict"] == "prohibited"
    assert "wulong-wu-river-1km" in [f["rule_id"] for f in answer["findings"]]
    assert [(j["code"], j["name"]) for j in answer["jurisdictions"]] == [("500156", "武隆区")]
    # The first start published every demo layer into this directory's store.
    assert sorted(i.id for i in EmbeddedStore(data).list_layers()) == sorted(lid for lid, _, _ in DEMO_LAYERS)
    assert [p.name for p in cache_files(data)] == [f"zones-{answer['data_version']}.pickle"]


def test_check_table_and_bad_input(warm_dir, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    out = run(warm_dir, "check", "--lon", str(lon), "--lat", str(lat), "-t", "heavy_chemical")
    assert out.returncode == EXIT["prohibited"], out.stderr
    assert "PROHIBITED" in out.stdout and "wulong-wu-river-1km" in out.stdout and "第五章 第一节" in out.stdout
    bad = run(warm_dir, "check", "--lon", "107.7", "--lat", "29.3", "-t", "spaceport")
    assert bad.returncode == EXIT["bad_input"] and "unknown_project_type" in bad.stderr
    assert "Traceback" not in bad.stderr


@pytest.mark.parametrize("args, expect", [
    ([], "--lon"),                                                  # no site at all
    (["--lon", "107.7"], "--lat"),                                  # half a point
    (["--lon", "107.7", "--lat", "29.3", "--geometry", "x.wkt"], "--geometry"),  # two sites
    (["--geometry", "does-not-exist.geojson"], "does-not-exist.geojson"),
    (["--lon", "107.7", "--lat", "29.3", "--crs", "EPSG:999999"], "unknown_crs"),
])
def test_bad_usage_is_exit_2_with_a_bilingual_message(warm_dir, tmp_path, args, expect):
    out = run(warm_dir, "check", *args, cwd=tmp_path)
    assert out.returncode == EXIT["bad_input"], out.stdout + out.stderr
    assert expect in out.stderr and "错误" in out.stderr and "Traceback" not in out.stderr


def test_exit_codes_are_in_the_help(warm_dir):
    out = run(warm_dir, "check", "--help")
    assert out.returncode == 0
    for verdict, code in EXIT.items():
        if verdict != "bad_input":
            assert f"{code}  {verdict}" in out.stdout, out.stdout


@pytest.fixture(scope="module")
def permitted_site(client, demo_layer):
    """A point in Wulong and a project type the API answers `permitted` for, with no finding
    at all: searched on a grid through the real API rather than assumed."""
    wulong = demo_layer("districts").query("code == '500156'").geometry.iloc[0]
    xmin, ymin, xmax, ymax = wulong.bounds
    candidates = [shapely.Point(xmin + (xmax - xmin) * i / 12, ymin + (ymax - ymin) * j / 12)
                  for i in range(1, 12) for j in range(1, 12)]
    for p in candidates:
        if not wulong.contains(p.buffer(0.02)):  # well inside the district
            continue
        for t in ("planting", "tourism", "real_estate"):
            r = client.post("/v1/siting/check", json={"geometry": {"type": "Point", "coordinates": [p.x, p.y]},
                                                      "project_type": t})
            a = r.json()
            if r.status_code == 200 and a["verdict"] == "permitted" and not a["findings"] and a["jurisdictions"]:
                return p.x, p.y, t, a
    pytest.fail("no permitted site found in Wulong on the grid")


def test_exit_code_permitted_matches_the_api(warm_dir, permitted_site):
    lon, lat, t, api_answer = permitted_site
    code, answer, err = check_json(warm_dir, "--lon", repr(lon), "--lat", repr(lat), "-t", t)
    assert code == EXIT["permitted"], err
    assert answer == api_answer  # same demo content → same data_version and the same answer


def test_exit_code_not_covered(warm_dir):
    # Needs the engine's not_covered verdict; a site outside every loaded plan must never exit 0.
    code, answer, err = check_json(warm_dir, "--lon", str(BEIJING[0]), "--lat", str(BEIJING[1]), "-t", "tourism")
    assert code == EXIT["not_covered"], err
    assert answer["coverage"]["covered"] is False and answer["findings"] == []
    table = run(warm_dir, "check", "--lon", str(BEIJING[0]), "--lat", str(BEIJING[1]), "-t", "tourism")
    assert table.returncode == EXIT["not_covered"]
    assert "NOT COVERED" in table.stdout and "未检查任何规则" in table.stdout
    assert answer["verdict"] == "not_covered"


def test_a_warm_check_imports_no_heavy_library(warm_dir, wu_river_site):
    """The warm path reads the cache: no layer file, so no geopandas/pyogrio/pandas, and no
    web stack. (What keeps `ecozone check` fast; the times themselves are in the README.)"""
    lon, lat, _ = wu_river_site(500)
    probe = ("import sys\nfrom ecozone.cli import main\ntry:\n    main()\nfinally:\n"
             "    print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & {'geopandas', 'pyogrio', 'pandas', "
             "'fastapi', 'uvicorn', 'starlette'}), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, "check", "--lon", str(lon), "--lat", str(lat), "--json"],
                         env=_env(warm_dir), capture_output=True, text=True, timeout=300)
    assert out.returncode in EXIT.values() and json.loads(out.stdout)["findings"], out.stderr
    assert "LOADED []" in out.stderr, out.stderr


# --- several project types, Chinese names ----------------------------------------------------
def test_several_and_chinese_project_types(warm_dir, wu_river_site, client):
    lon, lat, _ = wu_river_site(500)
    site = ["--lon", str(lon), "--lat", str(lat)]
    zh = {t["code"]: t["name"]["zh"] for t in client.get("/v1/project-types").json()}
    code, one, err = check_json(warm_dir, *site, "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    code, by_name, err = check_json(warm_dir, *site, "-t", zh["heavy_chemical"])
    assert code == EXIT["prohibited"], err
    assert by_name["findings"] == one["findings"]
    # A rule binds when it binds any of the types: tourism beside heavy_chemical changes nothing
    # here, and the comma form equals the repeated form.
    code, repeated, err = check_json(warm_dir, *site, "-t", "tourism", "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    code, comma, _ = check_json(warm_dir, *site, "-t", "tourism,heavy_chemical")
    assert comma == repeated
    assert {f["rule_id"] for f in one["findings"]} <= {f["rule_id"] for f in repeated["findings"]}
    code, alone, _ = check_json(warm_dir, *site, "-t", "tourism")
    assert code == EXIT[alone["verdict"]] and not {"wulong-wu-river-1km"} & _rules(alone)


# --- --geometry FILE -------------------------------------------------------------------------
def _square(lon: float, lat: float, half_deg: float = 0.0005) -> shapely.Polygon:
    return shapely.box(lon - half_deg, lat - half_deg, lon + half_deg, lat + half_deg)


def _rules(answer: dict) -> set[str]:
    return {f["rule_id"] for f in answer["findings"]}


@pytest.fixture(scope="module")
def polygon_answer(warm_dir, wu_river_site, tmp_path_factory):
    """A ~100 m square 500 m from the Wu River, as a one-feature GeoJSON FeatureCollection."""
    lon, lat, _ = wu_river_site(500)
    poly = _square(lon, lat)
    path = tmp_path_factory.mktemp("geom") / "site.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "拟选址A"}, "geometry": shapely.geometry.mapping(poly)}]}))
    code, answer, err = check_json(warm_dir, "--geometry", str(path), "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    return poly, answer


def test_geometry_geojson_polygon(polygon_answer):
    poly, answer = polygon_answer
    assert answer["site"]["geometry"]["type"] == "Polygon"
    assert answer["site"]["area_m2"] == pytest.approx(1.0e4, rel=0.25)  # ~100 m × ~97 m at 29.3N
    f = {f["rule_id"]: f for f in answer["findings"]}["wulong-wu-river-1km"]
    assert f["overlap_ratio"] == pytest.approx(1.0) and f["distance_m"] < 500


def test_geometry_wkt_and_bare_geojson_geometry(warm_dir, polygon_answer, tmp_path):
    poly, expected = polygon_answer
    (tmp_path / "site.wkt").write_text(poly.wkt + "\n")
    (tmp_path / "site.json").write_text(shapely.to_geojson(poly))
    for name in ("site.wkt", "site.json"):
        code, answer, err = check_json(warm_dir, "--geometry", str(tmp_path / name), "-t", "heavy_chemical")
        assert code == EXIT["prohibited"], err
        assert answer["findings"] == expected["findings"], name


def test_geometry_kml_written_by_gdal(warm_dir, polygon_answer, tmp_path):
    poly, expected = polygon_answer
    path = tmp_path / "site.kml"
    pyogrio.write_dataframe(gpd.GeoDataFrame({"Name": ["拟选址A"]}, geometry=[poly], crs=4326), path, driver="KML")
    assert b"<kml" in path.read_bytes()
    code, answer, err = check_json(warm_dir, "--geometry", str(path), "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    assert _rules(answer) == _rules(expected)
    assert answer["site"]["area_m2"] == pytest.approx(expected["site"]["area_m2"], rel=1e-4)
    kmz = tmp_path / "site.kmz"  # the same KML zipped, as Google Earth / 奥维 export it
    with zipfile.ZipFile(kmz, "w") as z:
        z.write(path, "doc.kml")
    code, zipped, err = check_json(warm_dir, "--geometry", str(kmz), "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    assert zipped["findings"] == answer["findings"]


def test_geometry_crs_applies_to_the_file(warm_dir, wu_river_site, tmp_path):
    lon, lat, _ = wu_river_site(500)
    line = shapely.LineString([(lon - 0.001, lat), (lon + 0.001, lat)])
    to_gk = Transformer.from_crs(4326, 4545, always_xy=True)
    projected = shapely.transform(line, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    (tmp_path / "lonlat.wkt").write_text(line.wkt)
    (tmp_path / "gk.wkt").write_text(projected.wkt)
    code, a, err = check_json(warm_dir, "--geometry", str(tmp_path / "lonlat.wkt"), "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    code, b, err = check_json(warm_dir, "--geometry", str(tmp_path / "gk.wkt"), "--crs", "EPSG:4545", "-t", "heavy_chemical")
    assert code == EXIT["prohibited"], err
    assert a["site"]["length_m"] == pytest.approx(b["site"]["length_m"], abs=0.5) and a["site"]["length_m"] > 150
    assert _rules(a) == _rules(b) and b["site"]["input_crs"] == "EPSG:4545"
    # The same Gauss-Kruger numbers read as lon/lat are refused, not checked somewhere else.
    code, _, err = check_json(warm_dir, "--geometry", str(tmp_path / "gk.wkt"), "-t", "heavy_chemical")
    assert code == EXIT["bad_input"] and "coordinates_out_of_range" in err


@pytest.mark.parametrize("content, expect", [
    ({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [107.7, 29.3]}},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [107.8, 29.3]}}]},
     "batch screening"),
    ({"type": "FeatureCollection", "features": []}, "no geometry"),
    ({"type": "Feature", "properties": {}, "geometry": None}, "no geometry"),
    ("{not json", "invalid_geometry_file"),
    ("POLYGON ((107.7 29.3, 107.71 29.3", "Not valid WKT"),
    ("POLYGON ((107.7 29.3, 107.71 29.31, 107.71 29.3, 107.7 29.31, 107.7 29.3))", "invalid_geometry"),  # bow-tie
])
def test_geometry_file_errors_are_exit_2(warm_dir, tmp_path, content, expect):
    path = tmp_path / ("site.geojson" if isinstance(content, dict) or content.startswith("{") else "site.wkt")
    path.write_text(json.dumps(content) if isinstance(content, dict) else content)
    out = run(warm_dir, "check", "--geometry", str(path), "-t", "heavy_chemical")
    assert out.returncode == EXIT["bad_input"], out.stdout + out.stderr
    assert expect in out.stderr and "错误" in out.stderr and "Traceback" not in out.stderr


def test_several_features_in_a_kml_are_refused(warm_dir, tmp_path):
    path = tmp_path / "two.kml"
    frame = gpd.GeoDataFrame({"Name": ["A", "B"]}, geometry=[shapely.Point(107.7, 29.3), shapely.Point(107.8, 29.3)],
                             crs=4326)
    pyogrio.write_dataframe(frame, path, driver="KML")
    out = run(warm_dir, "check", "--geometry", str(path))
    assert out.returncode == EXIT["bad_input"] and "2 features" in out.stderr, out.stderr


# --- the zone cache --------------------------------------------------------------------------
def test_second_call_reuses_the_cache(tmp_path, wu_river_site):
    data = tmp_path / "data"
    lon, lat, _ = wu_river_site(500)
    args = ("--lon", str(lon), "--lat", str(lat), "-t", "heavy_chemical")
    code, fresh, err = check_json(data, *args)  # compiles, answers from the fresh index, writes the cache
    assert code == EXIT["prohibited"], err
    [cache] = cache_files(data)
    assert cache.name == f"zones-{fresh['data_version']}.pickle"
    mtime = cache.stat().st_mtime_ns
    # With the layer files out of the way, only the cache can answer.
    shutil.move(data / "layers", tmp_path / "layers-aside")
    try:
        code, cached, err = check_json(data, *args)
    finally:
        shutil.rmtree(data / "layers", ignore_errors=True)
        shutil.move(tmp_path / "layers-aside", data / "layers")
    assert code == EXIT["prohibited"], err
    assert cached == fresh
    assert cache.stat().st_mtime_ns == mtime and cache_files(data) == [cache]


@pytest.mark.parametrize("damage", ["noise", "truncated"])
def test_a_corrupt_cache_is_rebuilt(warm_dir, tmp_path, wu_river_site, catalog, damage):
    data = tmp_path / "data"
    shutil.copytree(warm_dir, data)
    lon, lat, _ = wu_river_site(500)
    args = ("--lon", str(lon), "--lat", str(lat), "-t", "heavy_chemical")
    check_json(data, *args)  # the cache for the current rules
    [cache] = cache_files(data)
    good = cache.read_bytes()
    garbage = b"not a pickle at all" if damage == "noise" else good[: len(good) // 2]  # a write cut short
    cache.write_bytes(garbage)
    code, answer, err = check_json(data, *args)
    assert code == EXIT["prohibited"], err
    assert answer["verdict"] == "prohibited" and "Traceback" not in err
    assert cache_files(data) == [data / "cache" / f"zones-{answer['data_version']}.pickle"] == [cache]
    assert cache.read_bytes() != garbage
    assert ZoneCache(data / "cache").load(answer["data_version"], catalog) is not None  # rewritten, readable


def test_cache_answers_equal_a_fresh_compile(demo_store, demo_service, catalog, tmp_path, wu_river_site):
    """In process: a Service reading the cache answers exactly as one that compiled."""
    settings = Settings(data_dir=tmp_path)
    stale = tmp_path / "cache" / "zones-0000000000000000.pickle"  # another data version's file
    stale.parent.mkdir()
    stale.write_bytes(b"old")
    fresh = demo_service  # compiled, no cache
    writer = Service(demo_store, catalog, cache_dir=tmp_path / "cache")
    assert not writer.from_cache and not stale.exists()  # writing one version removes the others
    reader = Service(demo_store, catalog, cache_dir=tmp_path / "cache")
    assert reader.from_cache and reader.snapshot.engine.index is not writer.snapshot.engine.index
    assert reader.snapshot.data_version == fresh.snapshot.data_version
    lon, lat, _ = wu_river_site(500)
    sites = [
        {"type": "Point", "coordinates": [lon, lat]},
        shapely.geometry.mapping(_square(lon, lat, 0.01)),
        {"type": "LineString", "coordinates": [[lon - 0.05, lat], [lon + 0.05, lat + 0.01]]},
        {"type": "Point", "coordinates": [106.63, 29.72]},  # Yubei
    ]
    for geometry in sites:
        for t in (None, "heavy_chemical", "industrial"):
            req = SitingRequest(geometry=geometry, project_type=t)
            assert run_check(reader, settings, req) == run_check(fresh, settings, req)


def test_default_data_dir_is_the_users_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("ECOZONE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    if sys.platform.startswith("linux"):
        assert Settings().data_dir == tmp_path / "xdg" / "ecozone"
    assert Settings().data_dir.is_absolute() and Settings().data_dir != Path("ecozone-data").resolve()


# --- serve -----------------------------------------------------------------------------------
def test_serve_answers_over_http(warm_dir, wu_river_site):
    port = free_port()
    proc = subprocess.Popen(ECOZONE + ["serve", "--port", str(port)], env=_env(warm_dir),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                health = json.load(urllib.request.urlopen(base + "/healthz", timeout=2))
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("server did not start:\n" + (proc.stdout.read() if proc.poll() is not None else ""))
                time.sleep(0.3)
        assert health["status"] == "ok" and health["data_version"]
        assert [p.name for p in cache_files(warm_dir)] == [f"zones-{health['data_version']}.pickle"]
        lon, lat, _ = wu_river_site(3000)
        req = urllib.request.Request(
            base + "/v1/siting/check", method="POST", headers={"content-type": "application/json"},
            data=json.dumps({"geometry": {"type": "Point", "coordinates": [lon, lat]},
                             "project_type": "industrial_park"}).encode(),
        )
        answer = json.load(urllib.request.urlopen(req, timeout=10))
        assert answer["verdict"] == "prohibited"
        assert "wulong-wu-river-5km-industrial-park" in [f["rule_id"] for f in answer["findings"]]
        assert [(j["code"], j["name"]) for j in answer["jurisdictions"]] == [("500156", "武隆区")]
        layers = json.load(urllib.request.urlopen(base + "/v1/layers", timeout=5))
        assert sorted(lay["id"] for lay in layers) == sorted(lid for lid, _, _ in DEMO_LAYERS)
        openapi = json.load(urllib.request.urlopen(base + "/openapi.json", timeout=5))
        assert "/v1/siting/check" in openapi["paths"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert str(warm_dir) in out  # serve says where the data lives


def test_serve_on_a_taken_port_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run(tmp_path / "data", "serve", "--port", str(port))
    assert out.returncode == EXIT["bad_input"], out.stdout + out.stderr
    assert f"端口 {port} 已被占用" in out.stderr and f"Port {port} is already in use" in out.stderr
    assert "port_unavailable" in out.stderr and "ecozone serve --port" in out.stderr and "Traceback" not in out.stderr


def test_enumeration_comma_inside_a_type_name_is_kept():
    """造纸、纸浆制造 is one type's name; 、 between names still lists several."""
    from ecozone.cli import split_project_types

    assert split_project_types(["造纸、纸浆制造"]) == "造纸、纸浆制造"
    assert split_project_types(["化工项目、造纸、纸浆制造"]) == ["化工项目", "造纸、纸浆制造"]
    assert split_project_types(["化工项目、纺织", "dyeing"]) == ["化工项目", "纺织", "dyeing"]
