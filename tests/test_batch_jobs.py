"""Batch screening through the HTTP API: every input format, per-row project types, answers
equal to single checks (POST /v1/siting/check) row by row, attributes kept exactly, results in
three formats, bad files refused at submission, a job that keeps its snapshot across a publish,
and jobs that survive a SIGKILLed server (resumed, or failed when the data changed meanwhile)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import geopandas as gpd
import httpx
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer

from ecozone.jobs import JobStore, runner_name
from ecozone.layers.demo import load_demo_layers, read_demo_layer
from ecozone.layers.store import EmbeddedStore
from ecozone.main import create_app
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.zoning.metric import to_lonlat
from servers import ECOZONE, Server

TO_GK = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)
NAMES = ["乌江边的地块", "长江·涪陵段", "渝东南 “生态” 站", "小学旁", "Plain ASCII", "工业园区（新）"]


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def api(demo_service, tmp_path_factory):
    """The real app on the demo data, with its lifespan (so the job runner runs); small chunks
    so that every job has several."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("batch-data"), batch_chunk_size=97)
    with TestClient(create_app(settings, demo_service)) as client:
        yield client


@pytest.fixture(scope="module")
def engine(demo_service):
    return demo_service.snapshot.engine


def random_sites(engine, n_points: int, n_lines: int = 0, n_polys: int = 0, seed: int = 7) -> list[shapely.Geometry]:
    """Lon/lat sites over the planned districts (every verdict occurs among a few hundred)."""
    rng = np.random.default_rng(seed)
    w, s, e, n = shapely.bounds(engine.index.planned_region)
    pts = shapely.points(rng.uniform(w, e, n_points), rng.uniform(s, n, n_points))
    x0, y0, ang = rng.uniform(w, e, n_lines), rng.uniform(s, n, n_lines), rng.uniform(0, 2 * np.pi, n_lines)
    lines = shapely.linestrings(np.stack([np.column_stack([x0, y0]),
                                          np.column_stack([x0 + 2500 * np.cos(ang), y0 + 2500 * np.sin(ang)])], axis=1))
    polys = shapely.buffer(shapely.points(rng.uniform(w, e, n_polys), rng.uniform(s, n, n_polys)),
                           rng.uniform(50, 800, n_polys), quad_segs=4)
    metric = np.concatenate([pts, lines, polys])
    return list(shapely.set_precision(to_lonlat(metric), 1e-9))


def submit(api, name: str, body: bytes, **data) -> dict:
    r = api.post("/v1/siting/batch", files={"file": (name, body)}, data={k: v for k, v in data.items() if v is not None})
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["status"] == "queued" and r.headers["location"] == f"/v1/jobs/{answer['job_id']}"
    return answer


def wait_done(get, job_id: str, timeout: float = 180) -> tuple[dict, list[float]]:
    """Poll GET /v1/jobs/{id} until done or failed; also the progress values seen."""
    seen, deadline = [], time.time() + timeout
    while time.time() < deadline:
        job = get(f"/v1/jobs/{job_id}").json()
        seen.append(job["progress"])
        if job["status"] in ("done", "failed"):
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} not finished: {job}")


def results(get, job_id: str, tmp_path: Path) -> dict[str, gpd.GeoDataFrame]:
    """The result in every format, read back with pyogrio."""
    out = {}
    for fmt, ext in (("gpkg", "gpkg"), ("geojson", "geojson"), ("csv", "csv")):
        r = get(f"/v1/jobs/{job_id}/result", params={"format": fmt})
        assert r.status_code == 200, r.text
        assert f"screening-{job_id[:12]}.{ext}" in r.headers["content-disposition"]
        path = tmp_path / f"{job_id}.{ext}"
        path.write_bytes(r.content)
        if fmt == "csv":
            assert r.content.startswith(b"\xef\xbb\xbf")  # Excel reads the Chinese text right
            header = r.content[3:].split(b"\n", 1)[0].decode()
            opts = {"X_POSSIBLE_NAMES": "lon", "Y_POSSIBLE_NAMES": "lat"} if ",lon,lat" in header else \
                {"GEOM_POSSIBLE_NAMES": "wkt", "KEEP_GEOM_COLUMNS": "NO"}
            out[fmt] = pyogrio.read_dataframe(path, **opts)
        else:
            out[fmt] = pyogrio.read_dataframe(path)
    return out


def single(api, geometry: shapely.Geometry, crs: str, types) -> httpx.Response:
    body = {"geometry": shapely.geometry.mapping(geometry), "crs": crs}
    if types:
        body["project_type"] = types
    return api.post("/v1/siting/check", json=body)


def assert_as_single_checks(api, frame: gpd.GeoDataFrame, sites: list, crs: str, types: list, sample: int | None = None):
    """Every row (or a sample) has the verdict, rules and nearest distance a single check gives
    for the same input geometry, CRS and project type; rows a single check refuses are invalid."""
    rows = range(len(sites)) if sample is None else np.random.default_rng(1).choice(len(sites), sample, replace=False)
    mismatches = []
    for i in rows:
        row = frame.iloc[int(i)]
        assert int(row["site_id"]) == i + 1
        r = single(api, sites[i], crs, types[i])
        if r.status_code != 200:
            assert row["verdict"] == "invalid" and row["reason"], (i, r.json(), row.to_dict())
            continue
        a = r.json()
        rules = {f["rule_id"] for f in a["findings"]}
        mine = set(filter(None, str(row["rule_ids"] or "").split(",")))
        nearest = min((f["distance_m"] for f in a["findings"]), default=None)
        got = row["min_distance_m"]
        same_distance = (nearest is None and (got is None or np.isnan(got))) or (
            nearest is not None and abs(nearest - got) <= 0.06)  # answers round to 0.1 m
        if (a["verdict"], rules) != (row["verdict"], mine) or not same_distance:
            mismatches.append((i, a["verdict"], row["verdict"], rules ^ mine, nearest, got))
        assert row["covered_ratio"] == pytest.approx(a["coverage"]["covered_ratio"], abs=1e-6)
    assert not mismatches, mismatches[:5]


def _text(v) -> str:
    """A cell as text; an empty CSV cell is read as null, and stays null."""
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)


def assert_formats_agree(frames: dict[str, gpd.GeoDataFrame], n: int, attrs: dict[str, list]):
    gpkg = frames["gpkg"]
    for fmt, frame in frames.items():
        assert len(frame) == n, fmt
        assert [int(v) for v in frame["site_id"]] == list(range(1, n + 1)), fmt
        assert list(frame["verdict"]) == list(gpkg["verdict"]), fmt
        for column, values in attrs.items():
            assert [_text(v) for v in frame[column]] == [_text(v) for v in values], (fmt, column)  # exact Chinese text
    assert set(gpkg["verdict"]) <= {"prohibited", "restricted", "notice", "permitted", "not_covered", "invalid"}
    assert gpkg.crs.to_epsg() == 4326


# --- formats ----------------------------------------------------------------------------------
def test_csv_lonlat_with_per_row_project_types(api, engine, tmp_path):
    sites = random_sites(engine, 400)
    zh = {t.code: t.name.zh for t in engine.catalog.project_types}
    cells = ["", "heavy_chemical", zh["livestock_farm"], "tourism, heavy_chemical", f"{zh['tourism']}、{zh['chemical']}",
             "bogus_type", zh["papermaking"]]  # 造纸、纸浆制造: one name holding a 、
    names = [NAMES[i % len(NAMES)] + f"#{i}" for i in range(len(sites))]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["名称", "lon", "lat", "project_type", "编号"])
    for i, p in enumerate(sites):
        w.writerow([names[i], repr(p.x), repr(p.y), cells[i % len(cells)], f"00{i}"])
    job = submit(api, "选址清单.csv", buf.getvalue().encode("utf-8"), crs="EPSG:4326", project_type="industrial")
    done, progress = wait_done(api.get, job["job_id"])
    assert done["status"] == "done", done
    assert done["progress"] == 1.0 and done["done"] == done["total"] == len(sites)
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert done["data_version"] == api.app.state.service.snapshot.data_version
    assert done["params"]["type_column"] == "project_type" and done["params"]["crs"] == "EPSG:4326"
    assert sum(done["summary"].values()) == len(sites)
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(sites), {"名称": names, "编号": [f"00{i}" for i in range(len(sites))],
                                              "project_type": [cells[i % len(cells)] for i in range(len(sites))]})
    types = []
    for i in range(len(sites)):
        cell = cells[i % len(cells)]
        types.append({"": "industrial", "tourism, heavy_chemical": ["tourism", "heavy_chemical"],
                      f"{zh['tourism']}、{zh['chemical']}": [zh["tourism"], zh["chemical"]]}.get(cell, cell))
    gpkg = frames["gpkg"]
    bogus = gpkg["project_type"] == "bogus_type"
    assert (gpkg.loc[bogus, "verdict"] == "invalid").all()
    assert gpkg.loc[bogus, "reason"].str.contains("bogus_type").all()
    assert_as_single_checks(api, gpkg, sites, "EPSG:4326", types)  # bogus_type: the single check refuses it too
    verdicts = set(gpkg["verdict"])
    assert {"prohibited", "notice", "not_covered", "invalid"} <= verdicts, verdicts


def test_csv_wkt_lines_polygons_and_invalid_rows(api, engine, tmp_path):
    sites = random_sites(engine, 60, n_lines=60, n_polys=60, seed=11)
    bowtie = shapely.from_wkt("POLYGON ((107.7 29.3, 107.8 29.4, 107.8 29.3, 107.7 29.4, 107.7 29.3))")
    wkts = [s.wkt for s in sites] + ["", bowtie.wkt, "POINT (500 29.3)", "POINT EMPTY"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["wkt", "备注"])
    for i, text in enumerate(wkts):
        w.writerow([text, f"第{i}行"])
    job = submit(api, "sites.csv", buf.getvalue().encode("utf-8"), crs="EPSG:4326", project_type="重化工项目")
    done, _ = wait_done(api.get, job["job_id"])
    assert done["status"] == "done" and done["total"] == len(wkts)
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(wkts), {"备注": [f"第{i}行" for i in range(len(wkts))]})
    gpkg = frames["gpkg"]
    tail = gpkg.iloc[len(sites):]
    assert list(tail["verdict"]) == ["invalid"] * 4
    assert "no geometry" in tail.iloc[0]["reason"] and "无几何" in tail.iloc[0]["reason"]
    assert "invalid geometry" in tail.iloc[1]["reason"] and "Self-intersection" in tail.iloc[1]["reason"]
    assert "outside the range of EPSG:4326" in tail.iloc[2]["reason"]
    assert "empty geometry" in tail.iloc[3]["reason"]
    assert_as_single_checks(api, gpkg, sites + [bowtie, shapely.Point(500, 29.3)], "EPSG:4326",
                            ["heavy_chemical"] * (len(sites) + 2))
    assert {"LineString", "Polygon"} <= set(frames["geojson"].geom_type)


def test_geojson_with_mixed_geometries(api, engine, tmp_path):
    sites = random_sites(engine, 150, n_lines=30, n_polys=30, seed=21)
    frame = gpd.GeoDataFrame({"name": [NAMES[i % len(NAMES)] for i in range(len(sites))],
                              "area_code": [f"5001{i:02d}" for i in range(len(sites))]},
                             geometry=sites, crs="EPSG:4326")
    path = tmp_path / "in.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    job = submit(api, "候选.geojson", path.read_bytes(), project_type="livestock_farm")  # RFC 7946: no crs needed
    done, _ = wait_done(api.get, job["job_id"])
    assert done["status"] == "done" and done["params"]["crs_source"] == "file"
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(sites), {"name": list(frame["name"]), "area_code": list(frame["area_code"])})
    assert_as_single_checks(api, frames["gpkg"], sites, "EPSG:4326", ["livestock_farm"] * len(sites))


def test_geopackage_in_gauss_kruger_metres(api, engine, tmp_path):
    sites = random_sites(engine, 200, n_polys=40, seed=31)
    gk = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1]))) for s in sites]
    frame = gpd.GeoDataFrame({"地块名称": [f"{NAMES[i % len(NAMES)]}-{i}" for i in range(len(gk))],
                              "面积": np.arange(len(gk)) * 1.5}, geometry=gk, crs="EPSG:4545")
    path = tmp_path / "parcels.gpkg"
    pyogrio.write_dataframe(frame, path, driver="GPKG", layer="parcels")
    job = submit(api, "parcels.gpkg", path.read_bytes(), project_type="heavy_chemical")
    done, _ = wait_done(api.get, job["job_id"])
    assert done["status"] == "done" and done["params"]["crs"] == "EPSG:4545"
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(gk), {"地块名称": list(frame["地块名称"])})
    assert list(frames["gpkg"]["面积"]) == list(frame["面积"])
    assert_as_single_checks(api, frames["gpkg"], gk, "EPSG:4545", ["heavy_chemical"] * len(gk))
    # The output is WGS84: the GK parcels come back where they were drawn in lon/lat.
    back = frames["gpkg"].geometry.to_numpy()
    assert shapely.hausdorff_distance(back[:200], np.array(sites[:200], dtype=object)).max() < 1e-6


def test_zipped_shapefile_with_gbk_attributes(api, engine, tmp_path):
    sites = random_sites(engine, 250, seed=41)
    frame = gpd.GeoDataFrame({"NAME": [NAMES[i % len(NAMES)] for i in range(len(sites))]}, geometry=sites, crs="EPSG:4326")
    folder = tmp_path / "shp"
    folder.mkdir()
    pyogrio.write_dataframe(frame, folder / "选址.shp", driver="ESRI Shapefile", encoding="GBK")
    (folder / "选址.cpg").unlink(missing_ok=True)  # as Chinese ArcGIS exports: GBK, no .cpg
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w") as zf:
        for p in folder.iterdir():
            zf.write(p, p.name)
    job = submit(api, "选址.zip", body.getvalue(), project_type="tourism")
    done, _ = wait_done(api.get, job["job_id"])
    assert done["status"] == "done" and done["params"]["format"] == "shapefile"
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(sites), {"NAME": list(frame["NAME"])})
    assert_as_single_checks(api, frames["gpkg"], sites, "EPSG:4326", ["tourism"] * len(sites), sample=80)


def test_gcj02_lonlat_csv(api, engine, tmp_path):
    from ecozone.layers.crs import wgs84_to_gcj02

    sites = random_sites(engine, 120, seed=51)
    lon, lat = wgs84_to_gcj02([p.x for p in sites], [p.y for p in sites])
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["经度", "纬度", "name"])
    for i in range(len(sites)):
        w.writerow([repr(float(lon[i])), repr(float(lat[i])), f"高德点{i}"])
    job = submit(api, "gaode.csv", buf.getvalue().encode("gb18030"), crs="GCJ02")
    done, _ = wait_done(api.get, job["job_id"])
    assert done["status"] == "done" and done["params"]["crs"] == "GCJ02"
    frames = results(api.get, job["job_id"], tmp_path)
    assert_formats_agree(frames, len(sites), {"name": [f"高德点{i}" for i in range(len(sites))]})
    gcj = [shapely.Point(float(x), float(y)) for x, y in zip(lon, lat)]
    assert_as_single_checks(api, frames["gpkg"], gcj, "GCJ02", [None] * len(sites), sample=60)


# --- refused at submission ------------------------------------------------------------------
def _refused(api, name: str, body: bytes, status: int, code: str, **data) -> dict:
    jobs = Path(api.app.state.settings.data_dir) / "jobs"
    before = sorted(p.name for p in jobs.iterdir()) if jobs.exists() else []
    r = api.post("/v1/siting/batch", files={"file": (name, body)}, data=data)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and err["message"]["zh"] and err["message"]["en"], err
    after = sorted(p.name for p in jobs.iterdir())
    assert after == before  # nothing left behind
    return err


def test_bad_files_are_refused_before_a_job_exists(api, engine, tmp_path):
    # No coordinate columns.
    err = _refused(api, "x.csv", "名称,地址\n甲,重庆\n".encode(), 422, "csv_without_geometry", crs="EPSG:4326")
    assert err["detail"]["columns"] == ["名称", "地址"]
    # Gauss-Kruger metres with no CRS anywhere: the CRS must be given, and the likely one is named.
    sites = random_sites(engine, 20, seed=61)
    rows = "\n".join(f"{x},{y}" for x, y in (TO_GK.transform(p.x, p.y) for p in sites))
    err = _refused(api, "gk.csv", f"x,y\n{rows}\n".encode(), 422, "missing_crs")
    assert err["detail"]["likely_crs"] == "EPSG:4545" and "EPSG:4545" in err["message"]["en"]
    # The same metres as GeoJSON without a crs member read as lon/lat: refused as a wrong CRS.
    gk = gpd.GeoDataFrame(geometry=[shapely.Point(TO_GK.transform(p.x, p.y)) for p in sites])
    pyogrio.write_dataframe(gk, tmp_path / "gk.geojson", driver="GeoJSON")
    err = _refused(api, "gk.geojson", (tmp_path / "gk.geojson").read_bytes(), 422, "coordinates_implausible_for_crs")
    assert err["detail"]["likely_crs"] == "EPSG:4545"
    # Features without geometry.
    nulls = json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"a": 1}, "geometry": None}] * 3})
    _refused(api, "nulls.geojson", nulls.encode(), 422, "no_geometry")
    # A table without geometry in a GeoPackage: not a site file.
    import pandas as pd

    pyogrio.write_dataframe(pd.DataFrame({"a": [1, 2]}), tmp_path / "table.gpkg", driver="GPKG", layer="t")
    _refused(api, "table.gpkg", (tmp_path / "table.gpkg").read_bytes(), 422, "empty_layer")
    # Unknown project type, unknown CRS, CRS contradicting the file, not a geodata file at all.
    ok_csv = "lon,lat\n107.76,29.33\n".encode()
    _refused(api, "a.csv", ok_csv, 422, "unknown_project_type", crs="EPSG:4326", project_type="nonsense")
    _refused(api, "a.csv", ok_csv, 422, "unknown_crs", crs="EPSG:999999")
    pts = gpd.GeoDataFrame(geometry=[shapely.Point(107.76, 29.33)], crs="EPSG:4326")
    pyogrio.write_dataframe(pts, tmp_path / "p.gpkg", driver="GPKG")
    _refused(api, "p.gpkg", (tmp_path / "p.gpkg").read_bytes(), 422, "crs_conflict", crs="EPSG:4545")
    _refused(api, "a.docx", b"PK\x03\x04not really", 422, "unsupported_format")
    # No file at all: the app's validation error shape.
    r = api.post("/v1/siting/batch", data={"crs": "EPSG:4326"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request"


def test_unknown_job_and_result_before_done(client):
    """The conftest client has no lifespan, so no runner: a job stays queued."""
    r = client.get("/v1/jobs/0123456789abcdef")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/jobs/0123456789abcdef/result")
    assert r.status_code == 404
    job = submit(client, "a.csv", b"lon,lat\n107.76,29.33\n", crs="EPSG:4326")
    status = client.get(f"/v1/jobs/{job['job_id']}").json()
    assert status["status"] == "queued" and status["progress"] == 0 and status["total"] == 1
    assert status["data_version"] is None and status["error"] is None and status["created_at"]
    r = client.get(f"/v1/jobs/{job['job_id']}/result", params={"format": "csv"})
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "job_not_done" and err["detail"]["status"] == "queued"
    r = client.get(f"/v1/jobs/{job['job_id']}/result", params={"format": "xlsx"})
    assert r.status_code == 422


def test_private_reads_cover_batch(demo_service, tmp_path):
    settings = Settings(data_dir=tmp_path, private_reads=True)
    c = TestClient(create_app(settings, demo_service))
    r = c.post("/v1/siting/batch", files={"file": ("a.csv", b"lon,lat\n107.76,29.33\n")}, data={"crs": "EPSG:4326"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert c.get("/v1/jobs/abc").status_code == 401


# --- a job keeps its snapshot ---------------------------------------------------------------
def _moved(frame, dx: float):
    return frame.assign(geometry=frame.geometry.translate(dx, 0.0))


def _inside_red_lines(n: int, seed: int) -> list[shapely.Point]:
    red = read_demo_layer("red_lines")
    region = shapely.union_all(red.geometry.to_numpy())
    rng = np.random.default_rng(seed)
    w, s, e, nn = region.bounds
    out = []
    while len(out) < n:
        p = shapely.points(rng.uniform(w, e, 2000), rng.uniform(s, nn, 2000))
        out.extend(p[shapely.contains_xy(region, shapely.get_x(p), shapely.get_y(p))][: n - len(out)])
    return out


def test_a_job_started_before_a_publish_keeps_the_old_snapshot(catalog, tmp_path):
    store = EmbeddedStore(tmp_path / "store")
    load_demo_layers(store)
    service = Service(store, catalog)
    settings = Settings(data_dir=tmp_path / "data", batch_chunk_size=40)
    app = create_app(settings, service)
    sites = _inside_red_lines(160, seed=3)
    body = "lon,lat,名称\n" + "\n".join(f"{p.x!r},{p.y!r},红线内{i}" for i, p in enumerate(sites)) + "\n"
    paused, release = threading.Event(), threading.Event()

    def hook(job_id: str, done: int) -> None:
        if done == 40 and not paused.is_set():
            paused.set()
            assert release.wait(60)

    with TestClient(app) as api:
        old_version = service.snapshot.data_version
        before = [single(api, p, "EPSG:4326", "heavy_chemical").json() for p in sites]
        api.app.state.job_runner.on_chunk = hook
        job = submit(api, "red.csv", body.encode(), crs="EPSG:4326", project_type="heavy_chemical")
        assert paused.wait(60)
        running = api.get(f"/v1/jobs/{job['job_id']}").json()
        assert running["status"] == "running" and running["data_version"] == old_version
        assert 0 < running["progress"] < 1 and running["done"] == 40
        r = api.get(f"/v1/jobs/{job['job_id']}/result")
        assert r.status_code == 409 and r.json()["error"]["detail"]["status"] == "running"
        # Publish moved red lines while the job is half-way.
        service.publish("red_lines", "生态保护红线（示意）", "red_line", _moved(store.read("red_lines"), 0.5), "EPSG:4326",
                        actor="tester", comment="moved mid-job")
        assert service.snapshot.data_version != old_version
        release.set()
        done, _ = wait_done(api.get, job["job_id"])
        assert done["status"] == "done" and done["data_version"] == old_version
        after = [single(api, p, "EPSG:4326", "heavy_chemical").json() for p in sites[-40:]]
        frame = results(api.get, job["job_id"], tmp_path)["gpkg"]
    old = [{f["rule_id"] for f in a["findings"]} for a in before]
    mine = [set(filter(None, v.split(","))) for v in frame["rule_ids"]]
    assert mine == old  # every chunk, also those after the publish, answered on the old zones
    assert list(frame["verdict"]) == [a["verdict"] for a in before]
    new = [{f["rule_id"] for f in a["findings"]} for a in after]
    assert new != old[-40:]  # the publish did change these answers for new checks


# --- the job store ------------------------------------------------------------------------
def test_claims_are_exclusive_and_abandoned_jobs_are_recovered(tmp_path):
    store = JobStore(tmp_path)
    for i in range(6):
        store.create(f"job{i}", {"filename": "a.csv"}, tmp_path / "a.csv", 10)
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        other = JobStore(tmp_path)  # its own connections, as another process would have
        while (job := other.claim_next(name)) is not None:
            with lock:
                claimed.append((job["id"], name))

    threads = [threading.Thread(target=worker, args=(f"host:{i}:x",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(j for j, _ in claimed) == [f"job{i}" for i in range(6)]  # each exactly once
    # A live runner with a fresh heartbeat keeps its job; a dead process's job goes back, or
    # fails when the data version it started on is gone.
    me = runner_name()
    dead = f"{runner_name().rsplit(':', 2)[0]}:{2 ** 22 + 12345}:dead"
    with store._db() as db:
        db.execute("UPDATE jobs SET runner = ?, heartbeat = ?, data_version = 'v1' WHERE id IN ('job0', 'job1')",
                   (me, time.time()))
        db.execute("UPDATE jobs SET runner = ?, heartbeat = ?, data_version = 'v1' WHERE id = 'job2'", (dead, time.time()))
        db.execute("UPDATE jobs SET runner = ?, heartbeat = ?, data_version = 'v0' WHERE id = 'job3'", (dead, time.time()))
        db.execute("UPDATE jobs SET runner = 'elsewhere:1:x', heartbeat = ?, data_version = 'v1' WHERE id = 'job4'",
                   (time.time() - 31,))
        db.execute("UPDATE jobs SET runner = 'elsewhere:1:y', heartbeat = ?, data_version = 'v0' WHERE id = 'job5'",
                   (time.time() - 5,))
    requeued, failed = store.recover("v1", stale_s=30)
    assert sorted(requeued) == ["job2", "job4"] and failed == ["job3"]
    assert store.get("job0")["status"] == "running" and store.get("job5")["status"] == "running"
    err = json.loads(store.get("job3")["error"])
    assert err["code"] == "data_changed" and err["message"]["en"] == "data changed since the job started; submit it again"
    assert err["message"]["zh"] and err["detail"] == {"job_data_version": "v0", "current_data_version": "v1"}
    assert store.claim_next("r")["id"] == "job2"  # in submission order


# --- a real server, killed mid-job --------------------------------------------------------
@pytest.fixture
def server_env(tmp_path):
    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data"), "ECOZONE_BATCH_CHUNK_SIZE": "5000",
           "NO_COLOR": "1"}
    servers: list[Server] = []

    def make() -> Server:
        s = Server(env, tmp_path / "server.log")
        servers.append(s)
        return s.start()

    yield env, make
    for s in servers:
        s.stop()


def _big_csv(engine_bounds, n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    w, s, e, nn = engine_bounds
    lon, lat = rng.uniform(w, e, n), rng.uniform(s, nn, n)
    lines = [f"{x:.7f},{y:.7f},{i}" for i, (x, y) in enumerate(zip(lon, lat))]
    return ("lon,lat,no\n" + "\n".join(lines) + "\n").encode()


def _submit_and_kill_mid_run(server: Server, body: bytes) -> str:
    r = httpx.post(server.base + "/v1/siting/batch", files={"file": ("big.csv", body)},
                   data={"crs": "EPSG:4326", "project_type": "heavy_chemical"}, timeout=120)
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    deadline = time.time() + 120
    while time.time() < deadline:
        job = server.get(f"/v1/jobs/{job_id}").json()
        if job["status"] == "running" and 0 < job["done"] < job["total"] // 2:
            server.kill()
            return job_id
        assert job["status"] in ("queued", "running"), job
        time.sleep(0.02)
    raise AssertionError("the job never ran")


@pytest.mark.slow
def test_a_job_survives_a_killed_server(server_env, engine, tmp_path):
    env, start = server_env
    first = start()
    body = _big_csv(shapely.bounds(to_lonlat(engine.index.planned_region)), 300_000, seed=5)
    job_id = _submit_and_kill_mid_run(first, body)
    left = JobStore(Path(env["ECOZONE_DATA_DIR"])).get(job_id)
    assert left["status"] == "running" and 0 < left["done"] < 300_000  # as the dead process left it
    finished_chunks = len(list((Path(env["ECOZONE_DATA_DIR"]) / "jobs" / job_id).glob("chunk-*.npz")))
    assert finished_chunks >= left["done"] // 5000  # what the restarted runner resumes from
    second = start()
    done, _ = wait_done(second.get, job_id)
    assert done["status"] == "done", done
    assert done["total"] == done["done"] == 300_000 and done["attempts"] == 2 and done["progress"] == 1.0
    assert done["data_version"] == left["data_version"]
    r = second.get(f"/v1/jobs/{job_id}/result", params={"format": "gpkg"})
    (tmp_path / "out.gpkg").write_bytes(r.content)
    frame = pyogrio.read_dataframe(tmp_path / "out.gpkg")
    assert len(frame) == 300_000
    assert (frame["site_id"].to_numpy() == np.arange(1, 300_001)).all()
    assert (frame["no"].astype(int).to_numpy() == np.arange(300_000)).all()
    assert sum(done["summary"].values()) == 300_000
    assert not list((Path(env["ECOZONE_DATA_DIR"]) / "jobs" / job_id).glob("chunk-*"))  # checkpoints cleared
    # Rows from before and after the kill answer as single checks do.
    rng = np.random.default_rng(0)
    for i in rng.choice(300_000, 40, replace=False):
        row = frame.iloc[int(i)]
        a = httpx.post(second.base + "/v1/siting/check", json={
            "geometry": {"type": "Point", "coordinates": [row.geometry.x, row.geometry.y]},
            "project_type": "heavy_chemical"}, timeout=30).json()
        assert a["verdict"] == row["verdict"]
        assert {f["rule_id"] for f in a["findings"]} == set(filter(None, row["rule_ids"].split(",")))


@pytest.mark.slow
def test_a_killed_job_fails_when_the_data_changed_meanwhile(server_env, engine, tmp_path):
    env, start = server_env
    first = start()
    body = _big_csv(shapely.bounds(to_lonlat(engine.index.planned_region)), 300_000, seed=6)
    job_id = _submit_and_kill_mid_run(first, body)
    moved = tmp_path / "moved.geojson"
    pyogrio.write_dataframe(_moved(read_demo_layer("red_lines"), 0.3), moved, driver="GeoJSON")
    subprocess.run(ECOZONE + ["layers", "import", str(moved), "--id", "red_lines"], env=env, check=True,
                   capture_output=True, timeout=300)
    second = start()
    done, _ = wait_done(second.get, job_id, timeout=120)
    assert done["status"] == "failed", done
    assert done["error"]["code"] == "data_changed"
    assert done["error"]["message"]["en"] == "data changed since the job started; submit it again"
    assert "数据已更新" in done["error"]["message"]["zh"]
    assert done["error"]["detail"]["job_data_version"] == done["data_version"]
    assert done["error"]["detail"]["current_data_version"] == second.get("/healthz").json()["data_version"]
    r = second.get(f"/v1/jobs/{job_id}/result")
    assert r.status_code == 409 and r.json()["error"]["detail"]["status"] == "failed"


def _open_job_store(data_dir, barrier, results):
    barrier.wait()  # every process opens the new file at the same moment
    try:
        JobStore(data_dir)
        results.put("ok")
    except Exception as e:  # reported to the test, not lost in the child
        results.put(repr(e))


@pytest.mark.slow
def test_workers_starting_together_all_open_the_job_store(tmp_path):
    """`ecozone serve --workers N` starts N processes that each open jobs.sqlite; on a new data
    directory they all set it up at once. One used to die with "database is locked" (switching
    to WAL does not wait for the others) and took the server down with it."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    outcomes = []
    for round_ in range(5):
        barrier, results = ctx.Barrier(6), ctx.Queue()
        procs = [ctx.Process(target=_open_job_store, args=(tmp_path / f"data{round_}", barrier, results))
                 for _ in range(6)]
        for p in procs:
            p.start()
        outcomes += [results.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=120)
    assert outcomes == ["ok"] * 30, [o for o in outcomes if o != "ok"]
