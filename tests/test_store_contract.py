"""One contract for every layer store: the embedded store (SQLite + GeoPackage) and the PostGIS
store must behave alike. Each test gets a fresh, empty store of each backend; expected values
come from the frames the test publishes and from shapely, never from the store itself."""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ecozone.layers.errors import InputError, NotFound
from ecozone.layers.store import EmbeddedStore, LayerExists, VersionMismatch, content_digest
from ecozone.layers.store.base import NotAVectorLayer, StagedVersion, prepare_frame

KIND = "red_line"


# -- backends ----------------------------------------------------------------------------------
def open_backend(name: str, target: str):
    if name == "embedded":
        return EmbeddedStore(target)
    from ecozone.layers.store.postgis import PostGISStore

    return PostGISStore(target)


@dataclass
class Backend:
    name: str
    target: str  # the data directory, or the database URL
    opened: list = field(default_factory=list)

    def open(self):
        """Another store on the same storage (as another worker would open it): its reads come
        from storage, not from the frames the publishing store cached."""
        store = open_backend(self.name, self.target)
        self.opened.append(store)
        return store

    def stored_text(self) -> bytes:
        """Everything the store keeps about tokens and audit, as bytes to search."""
        if self.name == "embedded":
            return b"".join(p.read_bytes() for p in Path(self.target).rglob("*") if p.is_file())
        import psycopg

        with psycopg.connect(self.target) as conn:
            rows = conn.execute(
                "SELECT (SELECT coalesce(string_agg(t::text, '|'), '') FROM ecozone.tokens t) || "
                "(SELECT coalesce(string_agg(a::text, '|'), '') FROM ecozone.audit a)"
            ).fetchone()
        return rows[0].encode("utf-8")


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def backend(request, tmp_path):
    if request.param == "embedded":
        b = Backend("embedded", str(tmp_path / "store"))
    else:
        b = Backend("postgis", request.getfixturevalue("pg_database_url"))
    yield b
    for store in b.opened:
        store.close()


@pytest.fixture
def store(backend):
    return backend.open()


# -- frames --------------------------------------------------------------------------------------
CQ = (105.3, 28.2, 110.2, 32.2)  # Chongqing, roughly


def zones_frame(n: int = 6, seed: int = 0, tag: str = "") -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(106, 109, n), rng.uniform(29, 31, n)
    geoms = [shapely.box(a, b, a + rng.uniform(0.01, 0.3), b + rng.uniform(0.01, 0.3)) for a, b in zip(x, y)]
    names = ["缙云山国家级自然保护区", "金佛山", "长江", None, "嘉陵江·北碚段", "乌江（武隆）"]
    return gpd.GeoDataFrame({
        "name": [names[i % len(names)] + tag if names[i % len(names)] else None for i in range(n)],
        "code": np.arange(100, 100 + n, dtype="int64"),
        "area_km2": [float(v) if i % 4 else math.nan for i, v in enumerate(rng.uniform(0, 50, n))],
        "备注": [f"第{i}条：红线范围内禁止开发" for i in range(n)],
        "strict": [bool(i % 2) for i in range(n)],
    }, geometry=geoms, crs=4326)


def mixed_frame(n: int = 240, seed: int = 7) -> gpd.GeoDataFrame:
    """Points, lines, polygons and a multipolygon over Chongqing, for the bbox tests."""
    rng = np.random.default_rng(seed)
    geoms = []
    for i in range(n):
        x, y = rng.uniform(CQ[0], CQ[2]), rng.uniform(CQ[1], CQ[3])
        k = i % 4
        if k == 0:
            geoms.append(shapely.Point(x, y))
        elif k == 1:
            geoms.append(shapely.LineString([(x, y), (x + rng.uniform(-0.4, 0.4), y + rng.uniform(-0.4, 0.4))]))
        elif k == 2:
            geoms.append(shapely.Point(x, y).buffer(rng.uniform(0.01, 0.2), quad_segs=3))
        else:
            geoms.append(shapely.MultiPolygon([shapely.box(x, y, x + 0.05, y + 0.05),
                                               shapely.box(x + 0.3, y - 0.2, x + 0.32, y - 0.1)]))
    return gpd.GeoDataFrame({"feature_id": [f"f{i:03d}" for i in range(n)], "名称": [f"要素{i}" for i in range(n)],
                             "rank": np.arange(n) % 5}, geometry=geoms, crs=4326)


def attrs(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != frame.geometry.name]


def plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def assert_same_features(got: gpd.GeoDataFrame, published: gpd.GeoDataFrame) -> None:
    """Same attribute columns in the same order (plus feature_id), the same values of the same
    types, the same geometries, in the same order; WGS84."""
    assert got.crs is not None and got.crs.to_epsg() == 4326
    expected_cols = attrs(published) + ([] if "feature_id" in published.columns else ["feature_id"])
    assert attrs(got) == expected_cols
    assert len(got) == len(published)
    for c in attrs(published):
        want = [plain(v) for v in published[c]]
        have = [plain(v) for v in got[c]]
        if c == "feature_id":
            want = [str(v) for v in want]
        assert have == want, c
        for w, h in zip(want, have):
            if w is not None:
                assert type(h) is type(w), (c, w, h)
    if "feature_id" not in published.columns:
        assert list(got["feature_id"]) == [str(i + 1) for i in range(len(published))]
    assert all(isinstance(v, str) for v in got["feature_id"])
    assert shapely.equals_exact(got.geometry.to_numpy(), published.geometry.to_numpy(), tolerance=1e-9).all()


def fail(*_args):
    raise RuntimeError("compile failed")


def state(store, layer_id: str):
    """What a reader can observe of one layer and the store."""
    info = store.get_layer(layer_id)
    return info, [v.version for v in store.versions(layer_id)], store.generation(), len(store.audit())


# -- publish -------------------------------------------------------------------------------------
def test_publish_modes(store):
    assert store.is_empty()
    frame = zones_frame()
    assert store.publish("red", "红线", KIND, frame, "EPSG:4326", mode="create").version == 1
    assert not store.is_empty()
    with pytest.raises(LayerExists) as exc:
        store.publish("red", "红线", KIND, frame, "EPSG:4326", mode="create")
    assert exc.value.status == 409
    with pytest.raises(NotFound) as exc:
        store.publish("absent", "无", KIND, frame, "EPSG:4326", mode="update")
    assert exc.value.status == 404
    assert store.publish("red", "红线 v2", KIND, frame, "EPSG:4326", mode="update").version == 2
    assert store.publish("red", "红线 v3", KIND, frame, "EPSG:4326", mode="upsert").version == 3
    assert store.publish("other", "其他", KIND, frame, "EPSG:4326").version == 1  # upsert creates
    assert [i.id for i in store.list_layers()] == ["other", "red"]
    assert store.get_layer("red").name == "红线 v3"
    with pytest.raises(InputError):
        store.publish("Bad Id", "x", KIND, frame, "EPSG:4326")
    with pytest.raises(NotFound):
        store.get_layer("absent")


def test_layer_info(store):
    frame = zones_frame(8)
    info = store.publish("red", "红线", KIND, frame, "EPSG:4490")
    want_bbox = [round(float(b), 6) for b in shapely.total_bounds(frame.geometry.to_numpy())]
    for got in (info, store.get_layer("red"), store.list_layers()[0]):
        assert (got.id, got.name, got.kind, got.version) == ("red", "红线", KIND, 1)
        assert got.feature_count == 8
        assert got.geometry_type == "Polygon"
        assert got.bbox == want_bbox
        assert got.source_crs == "EPSG:4490"
        assert got.etag == '"red-v1"'
        assert got.sha256 == info.sha256
    mixed = store.publish("mixed", "混合", "river", mixed_frame(), "EPSG:4326")
    assert mixed.geometry_type == "Geometry" and mixed.feature_count == 240


def test_read_returns_what_was_published(backend, store):
    frame = zones_frame(9)
    info = store.publish("red", "红线", KIND, frame, "EPSG:4326")
    mixed = mixed_frame()
    store.publish("mixed", "混合", "river", mixed, "EPSG:4326")
    for reader in (store, backend.open()):  # the publisher's cache, and storage
        got = reader.read("red")
        assert_same_features(got, frame)
        assert content_digest(KIND, got) == info.sha256
        assert_same_features(reader.read("mixed"), mixed)
        assert reader.read("red", 1) is not None


def test_read_reprojects_to_wgs84(backend, store):
    frame = zones_frame(4)
    store.publish("red", "红线", KIND, frame.to_crs(3857), "EPSG:3857")
    got = backend.open().read("red")
    assert got.crs.to_epsg() == 4326
    assert shapely.equals_exact(got.geometry.to_numpy(), frame.geometry.to_numpy(), tolerance=1e-7).all()


@pytest.mark.parametrize("box", [
    (106.0, 29.0, 106.5, 29.5), (107.0, 28.5, 109.0, 30.0), CQ, (100.0, 20.0, 101.0, 21.0), (108.2, 31.1, 108.21, 31.11),
])
def test_read_bbox_is_a_true_intersects(backend, store, box):
    frame = mixed_frame()
    store.publish("mixed", "混合", "river", frame, "EPSG:4326")
    want = frame[shapely.intersects(frame.geometry.to_numpy(), shapely.box(*box))]
    for reader in (store, backend.open()):
        got = reader.read_bbox("mixed", box)
        assert list(got["feature_id"]) == list(want["feature_id"])
        assert list(got.index) == list(want.index)
        assert attrs(got) == attrs(frame)
        assert list(got["名称"]) == list(want["名称"])
        assert shapely.equals_exact(got.geometry.to_numpy(), want.geometry.to_numpy(), tolerance=1e-9).all()


# -- versions, rollback, delete --------------------------------------------------------------------
def test_versions_and_rollback(backend, store):
    f1, f2 = zones_frame(5, seed=1), zones_frame(7, seed=2)
    v1 = store.publish("red", "红线", KIND, f1, "EPSG:4326", actor="alice", comment="首次发布")
    v2 = store.publish("red", "红线", KIND, f2, "EPSG:4326", actor="bob")
    assert v1.sha256 != v2.sha256
    v3 = store.rollback("red", 1, actor="carol", comment="回滚到 v1")
    assert v3.version == 3 and v3.sha256 == v1.sha256 and v3.feature_count == 5 and v3.bbox == v1.bbox
    history = store.versions("red")
    assert [(h.version, h.created_by, h.comment, h.restored_from, h.current) for h in history] == [
        (1, "alice", "首次发布", None, False), (2, "bob", None, None, False), (3, "carol", "回滚到 v1", 1, True),
    ]
    assert history[2].sha256 == history[0].sha256
    assert history[1].feature_count == 7
    for reader in (store, backend.open()):
        assert_same_features(reader.read("red"), f1)
        assert_same_features(reader.read("red", 3), f1)
        assert_same_features(reader.read("red", 2), f2)
        assert content_digest(KIND, reader.read("red")) == v1.sha256
        with pytest.raises(NotFound):
            reader.read("red", 99)
    with pytest.raises(NotFound):
        store.rollback("red", 42)
    assert store.rollback("red", 3).sha256 == v1.sha256  # a rollback of a rollback
    assert_same_features(backend.open().read("red", 4), f1)


def test_delete_hides_and_republish_continues(backend, store):
    store.publish("red", "红线", KIND, zones_frame(), "EPSG:4326")
    store.publish("red", "红线", KIND, zones_frame(seed=3), "EPSG:4326")
    store.publish("keep", "保留", KIND, zones_frame(), "EPSG:4326")
    store.delete("red", actor="alice", comment="停用")
    for reader in (store, backend.open()):
        with pytest.raises(NotFound):
            reader.get_layer("red")
        with pytest.raises(NotFound):
            reader.read("red")
        with pytest.raises(NotFound):
            reader.versions("red")
        assert [i.id for i in reader.list_layers()] == ["keep"]
    with pytest.raises(NotFound):
        store.delete("red")
    with pytest.raises(NotFound):
        store.publish("red", "红线", KIND, zones_frame(), "EPSG:4326", mode="update")
    frame = zones_frame(3, seed=4)
    info = store.publish("red", "红线（重建）", KIND, frame, "EPSG:4326", mode="create")
    assert info.version == 3
    assert [v.version for v in store.versions("red")] == [1, 2, 3]
    assert_same_features(backend.open().read("red"), frame)


def test_expect_version(backend, store):
    frame = zones_frame()
    assert store.publish("red", "红线", KIND, frame, "EPSG:4326", expect_version=0).version == 1
    before = state(store, "red")
    with pytest.raises(VersionMismatch) as exc:
        store.publish("red", "红线", KIND, zones_frame(seed=9), "EPSG:4326", expect_version=2)
    assert exc.value.status == 412
    assert exc.value.detail["expected"] == 2 and exc.value.detail["current"] == 1
    assert state(store, "red") == before
    assert_same_features(backend.open().read("red"), frame)
    assert store.publish("red", "红线", KIND, frame, "EPSG:4326", expect_version=1).version == 2
    with pytest.raises(VersionMismatch):
        store.publish("new", "新", KIND, frame, "EPSG:4326", expect_version=1)


def test_kind_change_refused(backend, store):
    frame = zones_frame()
    store.publish("red", "红线", KIND, frame, "EPSG:4326")
    before = state(store, "red")
    with pytest.raises(InputError) as exc:
        store.publish("red", "红线", "district", frame, "EPSG:4326")
    assert exc.value.detail["current"] == KIND
    with pytest.raises(InputError):
        store.publish_raster("red", "红线", b"not a tiff", {"bounds_lonlat": (106, 29, 107, 30), "crs": "EPSG:4326"})
    assert state(store, "red") == before
    assert backend.open().get_layer("red").kind == KIND


# -- before_commit ---------------------------------------------------------------------------------
def test_before_commit_failure_changes_nothing(backend, store):
    frame = zones_frame(5)
    store.publish("red", "红线", KIND, frame, "EPSG:4326")
    store.publish("other", "其他", KIND, zones_frame(2, seed=5), "EPSG:4326")
    before = state(store, "red")
    layers_before = store.list_layers()
    attempts = [
        lambda: store.publish("red", "红线", KIND, zones_frame(9, seed=6), "EPSG:4326", before_commit=fail),
        lambda: store.publish("brand-new", "新", KIND, zones_frame(2), "EPSG:4326", before_commit=fail),
        lambda: store.rollback("red", 1, before_commit=fail),
        lambda: store.delete("red", before_commit=fail),
    ]
    for attempt in attempts:
        with pytest.raises(RuntimeError, match="compile failed"):
            attempt()
        assert state(store, "red") == before
        assert store.list_layers() == layers_before
        other = backend.open()
        assert other.list_layers() == layers_before
        assert_same_features(other.read("red"), frame)
    # A failed write allocates no version number.
    assert store.publish("red", "红线", KIND, frame, "EPSG:4326").version == 2
    with pytest.raises(NotFound):
        store.get_layer("brand-new")


def test_before_commit_sees_the_candidates(backend, store):
    a = store.publish("a-layer", "甲", KIND, zones_frame(3, seed=1), "EPSG:4326")
    store.publish("b-layer", "乙", KIND, zones_frame(3, seed=2), "EPSG:4326")
    new = zones_frame(4, seed=3)
    calls = []
    other = backend.open()  # another worker: what it sees while the write is in flight

    def hook(candidates, staged):
        calls.append((candidates, staged, other.get_layer("b-layer").version, other.generation()))

    generation = store.generation()
    info = store.publish("b-layer", "乙", KIND, new, "EPSG:4326", actor="alice", before_commit=hook)
    (candidates, staged, seen_version, seen_generation), = calls
    assert [c.id for c in candidates] == ["a-layer", "b-layer"]
    assert candidates[0] == a
    assert set(staged) == {"b-layer"} and isinstance(staged["b-layer"], StagedVersion)
    s = staged["b-layer"]
    assert candidates[1] == s.info
    assert s.info.version == 2 and s.info.feature_count == 4 and s.info.sha256 == info.sha256
    assert s.info.sha256 == content_digest(KIND, s.frame)
    assert_same_features(s.frame, new)
    assert (seen_version, seen_generation) == (1, generation)  # nothing visible before commit

    calls.clear()
    store.rollback("b-layer", 1, before_commit=hook)
    (candidates, staged, seen_version, _), = calls
    assert staged["b-layer"].info.version == 3 and staged["b-layer"].info.sha256 == store.versions("b-layer")[0].sha256
    assert seen_version == 2
    assert_same_features(staged["b-layer"].frame, zones_frame(3, seed=2))

    calls.clear()
    store.delete("a-layer", before_commit=hook)
    (candidates, staged, _, _), = calls
    assert [c.id for c in candidates] == ["b-layer"] and staged == {}


# -- generation and audit --------------------------------------------------------------------------
def test_generation_and_audit(backend, store):
    g0 = store.generation()
    frame = zones_frame()
    store.publish("red", "红线", KIND, frame, "EPSG:4326", actor="alice", comment="初版")
    assert store.generation() == g0 + 1
    store.publish("red", "红线", KIND, zones_frame(seed=1), "EPSG:4326", actor="bob")
    store.rollback("red", 1, actor="carol")
    store.create_token("ci", "editor", actor="admin")
    store.revoke_token("ci", actor="admin")
    store.delete("red", actor="dave")
    assert store.generation() == g0 + 6
    assert backend.open().generation() == g0 + 6
    with pytest.raises(NotFound):
        store.delete("red")
    assert store.generation() == g0 + 6
    entries = store.audit()
    assert [(e.action, e.actor, e.layer_id, e.version) for e in entries] == [
        ("delete", "dave", "red", 3), ("token_revoke", "admin", None, None), ("token_create", "admin", None, None),
        ("rollback", "carol", "red", 3), ("publish", "bob", "red", 2), ("publish", "alice", "red", 1),
    ]
    ids = [e.id for e in entries]
    assert ids == sorted(ids, reverse=True)
    assert entries[-1].detail["comment"] == "初版" and entries[-1].detail["feature_count"] == len(frame)
    assert entries[3].detail["restored_from"] == 1
    assert entries[2].detail == {"name": "ci", "role": "editor"}
    assert [e.id for e in store.audit(limit=2)] == ids[:2]
    assert [e.id for e in store.audit(since=entries[2].at)] == [e.id for e in entries if e.at >= entries[2].at]


# -- tokens ------------------------------------------------------------------------------------------
def test_tokens(backend, store):
    secret = store.create_token("ci-bot", "editor", actor="root")
    admin = store.create_token("管理员", "admin")
    assert secret.startswith("ecz_") and secret != admin
    got = store.token_for(secret)
    assert (got.name, got.role, got.revoked_at) == ("ci-bot", "editor", None)
    assert backend.open().token_for(admin).name == "管理员"
    assert store.token_for("ecz_not-a-token") is None
    with pytest.raises(InputError):
        store.create_token("ci-bot", "viewer")  # an active token has that name
    with pytest.raises(InputError):
        store.create_token("x", "superuser")
    with pytest.raises(InputError):
        store.create_token("", "viewer")
    assert [(t.name, t.role, t.revoked_at) for t in store.list_tokens()] == [
        ("ci-bot", "editor", None), ("管理员", "admin", None)]
    store.revoke_token("ci-bot")
    assert store.token_for(secret) is None
    assert store.token_for(admin) is not None
    with pytest.raises(InputError):
        store.revoke_token("ci-bot")
    tokens = {t.name: t for t in store.list_tokens()}
    assert tokens["ci-bot"].revoked_at is not None
    again = store.create_token("ci-bot", "viewer")  # the name is free again
    assert store.token_for(again).role == "viewer"
    stored = backend.stored_text()
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored  # we look in the right place
    for s in (secret, admin, again):
        assert s.encode() not in stored
        assert s[len("ecz_"):].encode() not in stored


# -- rasters -------------------------------------------------------------------------------------------
def small_geotiff(seed: int = 0) -> bytes:
    import rasterio
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    data = np.random.default_rng(seed).integers(0, 255, (1, 16, 20), dtype="uint8")
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", width=20, height=16, count=1, dtype="uint8", crs="EPSG:4326",
                      transform=from_origin(106.0, 30.0, 0.01, 0.01)) as dst:
            dst.write(data)
        blob = mem.read()
    with rasterio.MemoryFile(blob) as mem, mem.open() as src:
        assert (src.read() == data).all()
    return blob


def test_raster_round_trip(backend, store):
    tif1, tif2 = small_geotiff(1), small_geotiff(2)
    meta = {"bounds_lonlat": (106.0, 29.84, 106.2, 30.0), "crs": "EPSG:4326"}
    info = store.publish_raster("dem", "高程", tif1, meta, actor="alice")
    assert (info.kind, info.geometry_type, info.version, info.feature_count) == ("raster", "Raster", 1, 0)
    assert info.bbox == [106.0, 29.84, 106.2, 30.0] and info.source_crs == "EPSG:4326"
    store.publish_raster("dem", "高程", tif2, meta)
    store.publish("red", "红线", KIND, zones_frame(), "EPSG:4326")
    other = backend.open()
    assert other.raster_bytes("dem") == tif2
    assert other.raster_bytes("dem", 1) == tif1
    with pytest.raises(NotAVectorLayer):
        other.read("dem")
    with pytest.raises(InputError):
        other.raster_bytes("red")
    with pytest.raises(InputError):
        store.publish("dem", "高程", KIND, zones_frame(), "EPSG:4326")  # kind change
    with pytest.raises(LayerExists):
        store.publish_raster("dem", "高程", tif1, meta, mode="create")
    back = store.rollback("dem", 1)
    assert back.version == 3 and back.sha256 == info.sha256
    assert backend.open().raster_bytes("dem") == tif1


# -- concurrency -----------------------------------------------------------------------------------------
def _publisher(backend_name: str, target: str, who: str, barrier, results, count: int = 10) -> None:
    """One OS process: open its own store on the shared storage, then publish ``count`` versions."""
    try:
        barrier.wait(timeout=120)
        store = open_backend(backend_name, target)
        versions = []
        for i in range(count):
            frame = zones_frame(3, seed=i).assign(tag=f"{who}-{i}")
            versions.append(store.publish("shared", "共享", KIND, frame, "EPSG:4326", actor=who).version)
        store.close()
        results.put((who, versions, None))
    except BaseException:  # reported to the parent
        import traceback

        results.put((who, [], traceback.format_exc()))


def run_publishers(backend: Backend, names: list[str], count: int) -> dict[str, list[int]]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(names)), ctx.Queue()
    procs = [ctx.Process(target=_publisher, args=(backend.name, backend.target, who, barrier, results, count))
             for who in names]
    for p in procs:
        p.start()
    outcome = [results.get(timeout=180) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    errors = [err for _, _, err in outcome if err]
    assert not errors, errors[0]
    return {who: versions for who, versions, _ in outcome}


def test_two_processes_publishing_at_once(backend):
    backend.open().close()  # the storage exists, as when a service's workers start (see below)
    returned = run_publishers(backend, ["p1", "p2"], 10)
    store = backend.open()
    assert [v.version for v in store.versions("shared")] == list(range(1, 21))
    assert store.get_layer("shared").version == 20
    tags = []
    for v in store.versions("shared"):
        frame = store.read("shared", v.version)
        assert len(frame) == 3 and frame["tag"].nunique() == 1
        assert content_digest(KIND, frame) == v.sha256
        tags.append(frame["tag"].iloc[0])
    assert sorted(tags) == sorted(f"{who}-{i}" for who in ("p1", "p2") for i in range(10))
    assert store.generation() == 20
    entries = [e for e in store.audit() if e.action == "publish"]
    assert sorted(e.version for e in entries) == list(range(1, 21))
    # Each process's versions, from the audit trail: its ten publishes, in increasing order.
    committed = {who: sorted(e.version for e in entries if e.actor == who) for who in returned}
    assert sorted(committed["p1"] + committed["p2"]) == list(range(1, 21))
    # And publish() told each process the version it created (not one committed meanwhile).
    assert returned == committed


@pytest.mark.postgis
def test_postgis_processes_starting_at_once_on_a_fresh_database(pg_database_url):
    """Three processes set up the schema of an empty database at the same moment (the advisory
    setup lock), then publish."""
    backend = Backend("postgis", pg_database_url)
    returned = run_publishers(backend, ["a", "b", "c"], 2)
    assert sorted(v for vs in returned.values() for v in vs) == list(range(1, 7))
    store = backend.open()
    try:
        assert [v.version for v in store.versions("shared")] == list(range(1, 7))
    finally:
        store.close()


# -- embedded store only --------------------------------------------------------------------------------------
def test_embedded_sweep_spares_young_files(tmp_path):
    store = EmbeddedStore(tmp_path)
    store.publish("red", "红线", KIND, zones_frame(), "EPSG:4326")
    layer_dir = tmp_path / "layers" / "red"
    (version_file,) = list(layer_dir.glob("v1-*.gpkg"))
    young = layer_dir / f".{os.getpid() + 1}-inflight.tmp.gpkg"  # another process publishing now
    young.write_bytes(b"half-written")
    old = layer_dir / ".12345-abandoned.tmp.gpkg"
    old.write_bytes(b"left behind by a crash")
    stale_version = layer_dir / "v9-deadbeef.gpkg"  # renamed into place, then its transaction failed
    stale_version.write_bytes(b"never committed")
    long_ago = time.time() - 2 * 3600
    for p in (old, stale_version, version_file):
        os.utime(p, (long_ago, long_ago))
    assert store.sweep_orphans() == 2
    assert young.exists() and version_file.exists()
    assert not old.exists() and not stale_version.exists()
    EmbeddedStore(tmp_path)  # opening sweeps too, and still spares the young file
    assert young.exists()
    assert_same_features(EmbeddedStore(tmp_path).read("red"), zones_frame())


# -- PostGIS only ---------------------------------------------------------------------------------------------
@pytest.mark.postgis
def test_postgis_keeps_dtypes_and_shares_rollback_rows(pg_database_url):
    import psycopg

    from ecozone.layers.store.postgis import PostGISStore

    frame = gpd.GeoDataFrame({
        "feature_id": [10, 20, 30],
        "count": pd.array([1, None, 3], dtype="Int64"),
        "surveyed": pd.to_datetime(["2024-01-01T00:00", "2024-02-01T08:30", None], format="ISO8601"),
        "mixed": pd.Series(["甲", 2, None], dtype=object),
        "w": [1.5, math.inf, math.nan],
    }, geometry=[shapely.Point(106, 29), None, shapely.Polygon()], crs=4326)
    one, two = PostGISStore(pg_database_url), PostGISStore(pg_database_url)  # setup twice is harmless
    try:
        info = one.publish("t", "T", KIND, frame, "EPSG:4326")
        one.publish("t", "T", KIND, zones_frame(), "EPSG:4326")
        one.rollback("t", 1)
        got = two.read("t")
        assert list(got.columns) == list(frame.columns)
        assert [str(t) for t in got.dtypes] == [str(t) for t in prepare_frame(frame).dtypes]
        assert str(got["count"].dtype) == "Int64" and str(got["surveyed"].dtype).startswith("datetime64")
        assert list(got["feature_id"]) == ["10", "20", "30"]
        assert got["count"].isna().tolist() == [False, True, False] and got["count"][2] == 3
        assert got["surveyed"][1] == pd.Timestamp("2024-02-01 08:30") and pd.isna(got["surveyed"][2])
        assert list(got["mixed"])[:2] == ["甲", 2] and got["mixed"][2] is None
        assert got["w"][1] == math.inf and math.isnan(got["w"][2])
        assert got.geometry[1] is None and got.geometry[2].is_empty
        assert content_digest(KIND, got) == info.sha256
        with psycopg.connect(pg_database_url) as conn:
            rows = conn.execute("SELECT version, count(*) FROM ecozone.features GROUP BY version ORDER BY 1").fetchall()
            assert rows == [(1, 3), (2, 6)]  # v3 (the rollback) copied nothing
            assert conn.execute("SELECT content_version FROM ecozone.layer_versions WHERE version = 3").fetchone() == (1,)
    finally:
        one.close()
        two.close()
