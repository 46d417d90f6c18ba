"""Publishing into a running service: compiled before it is visible, swapped in one step,
incremental recompiles that answer exactly like full ones, rollback that restores every
answer, and a failed publish that changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ecozone.layers.demo import DEMO_LAYERS, load_demo_layers, read_demo_layer
from ecozone.layers.store import EmbeddedStore
from ecozone.service import Service, changed_kinds
from ecozone.zoning.index import LayerFeatures, ZoneIndex


def _moved(frame, dx: float):
    return frame.assign(geometry=frame.geometry.translate(dx, 0.0))


def _sample_points(index: ZoneIndex, n: int, seed: int, near=None) -> np.ndarray:
    """Uniform points over the loaded districts, plus points within ~3 km of ``near`` features."""
    from ecozone.zoning.metric import to_metric

    rng = np.random.default_rng(seed)
    w, s, e, n_ = index.loaded_bounds_lonlat
    pts = [shapely.points(rng.uniform(w, e, n), rng.uniform(s, n_, n))]
    if near is not None:
        anchors = shapely.get_coordinates(shapely.point_on_surface(near.geometry.to_numpy()))
        jitter = rng.uniform(-0.03, 0.03, (len(anchors), 8, 2))
        pts.append(shapely.points((anchors[:, None, :] + jitter).reshape(-1, 2)))
    return to_metric(np.concatenate(pts))


def _answers(index: ZoneIndex, sites) -> list[tuple]:
    from ecozone.zoning.engine import Engine

    engine = Engine(index)
    out = []
    for site in sites:
        ev = engine.evaluate_metric(site, None)
        out.append((ev.verdict, tuple(sorted((f.rule.id, f.feature_id, round(f.distance_m, 6)) for f in ev.findings))))
    return out


@pytest.fixture(scope="module")
def demo_layers():
    return [LayerFeatures(i, n, k, read_demo_layer(i)) for i, n, k in DEMO_LAYERS]


@pytest.mark.parametrize("kind", ["red_line", "river", "industrial_park", "water_source"])
def test_incremental_compile_answers_exactly_like_a_full_one(catalog, demo_layers, kind):
    full = ZoneIndex(catalog, demo_layers)
    changed = [l if l.kind != kind else LayerFeatures(l.id, l.name, l.kind, _moved(l.frame, 0.013)) for l in demo_layers]
    incremental = ZoneIndex(catalog, changed, previous=full, changed_kinds={kind})
    rebuilt = ZoneIndex(catalog, changed)
    # Only the rules over the changed kind were compiled …
    assert incremental.recompiled_rules == sum(r.zone.kind == kind for r in catalog.rules) < len(catalog.rules)
    # … and the result is the full compile's, zone for zone and answer for answer.
    assert incremental.zone_rule.tolist() == rebuilt.zone_rule.tolist()
    assert [u.rule_id for u in incremental.unbound] == [u.rule_id for u in rebuilt.unbound]
    frame = next(l.frame for l in demo_layers if l.kind == kind)
    sites = _sample_points(rebuilt, 300, seed=len(kind), near=frame)
    assert _answers(incremental, sites) == _answers(rebuilt, sites)
    # The move matters: some answers differ from before the change (else the test proves nothing).
    assert _answers(full, sites) != _answers(rebuilt, sites)


def test_a_changed_district_recompiles_everything(catalog, demo_layers):
    full = ZoneIndex(catalog, demo_layers)
    again = ZoneIndex(catalog, demo_layers, previous=full, changed_kinds={"district"})
    assert again.recompiled_rules == len(catalog.rules)


def test_changed_kinds_compares_content_not_versions(demo_store):
    infos = demo_store.list_layers()
    assert changed_kinds(infos, infos) == set()
    assert changed_kinds(infos, [i for i in infos if i.kind != "red_line"]) == {"red_line"}


@pytest.fixture()
def live(tmp_path, catalog):
    store = EmbeddedStore(tmp_path / "store")
    load_demo_layers(store)
    return Service(store, catalog, cache_dir=tmp_path / "cache")


def _inside_a_red_line(frame) -> tuple[float, float]:
    p = frame.geometry.iloc[0].representative_point()
    return p.x, p.y


def _verdict_at(service: Service, lon: float, lat: float, layer: str) -> set[str]:
    from ecozone.zoning.metric import to_metric

    ev = service.snapshot.engine.evaluate_metric(to_metric(shapely.Point(lon, lat)), None)
    return {f.rule.id for f in ev.findings if f.layer == layer}


def test_publish_swaps_in_one_step_and_rollback_restores_every_answer(live):
    red = live.store.read("red_lines")
    lon, lat = _inside_a_red_line(red)
    before = live.snapshot
    rules_before = _verdict_at(live, lon, lat, "red_lines")
    assert rules_before, "the test site must lie in a red line"

    info = live.publish("red_lines", "生态保护红线（示意）", "red_line", _moved(red, 0.5), "EPSG:4326",
                        actor="tester", comment="moved")
    assert info.version == 2
    assert live.snapshot is not before and live.snapshot.data_version != before.data_version
    assert _verdict_at(live, lon, lat, "red_lines") == set()
    # A request that took the old snapshot keeps answering from it.
    from ecozone.zoning.metric import to_metric

    old = before.engine.evaluate_metric(to_metric(shapely.Point(lon, lat)), None)
    assert {f.rule.id for f in old.findings if f.layer == "red_lines"} == rules_before

    restored = live.rollback("red_lines", 1, actor="tester")
    assert restored.version == 3 and restored.sha256 == before.layers[[i.id for i in before.layers].index("red_lines")].sha256
    assert live.snapshot.data_version == before.data_version
    assert _verdict_at(live, lon, lat, "red_lines") == rules_before
    sites = _sample_points(live.snapshot.engine.index, 300, seed=7)
    assert _answers(live.snapshot.engine.index, sites) == _answers(before.engine.index, sites)
    history = live.store.versions("red_lines")
    assert [(v.version, v.restored_from, v.current) for v in history] == [(1, None, False), (2, None, False), (3, 1, True)]


def test_a_publish_that_cannot_compile_changes_nothing(live, monkeypatch):
    before = live.snapshot
    generation = live.store.generation()
    red = live.store.read("red_lines")

    def broken(*args, **kwargs):
        raise RuntimeError("compile failed")

    monkeypatch.setattr("ecozone.service.ZoneIndex", broken)
    with pytest.raises(RuntimeError):
        live.publish("red_lines", "x", "red_line", _moved(red, 0.5), "EPSG:4326")
    assert live.snapshot is before
    assert live.store.get_layer("red_lines").version == 1
    assert live.store.generation() == generation
    assert [p.name for p in (live.store.root / "layers" / "red_lines").iterdir()] == [
        p.name for p in (live.store.root / "layers" / "red_lines").iterdir() if p.name.startswith("v1-")
    ]


def test_another_process_publish_is_followed_by_refresh(live, tmp_path, catalog):
    """Two Service objects on one store stand for two workers: the second learns of the
    first's publish from the store's generation and loads the zones from the shared cache."""
    other = Service(EmbeddedStore(live.store.root), catalog, cache_dir=tmp_path / "cache")
    assert other.refresh() is False
    red = live.store.read("red_lines")
    live.publish("red_lines", "生态保护红线（示意）", "red_line", _moved(red, 0.5), "EPSG:4326")
    assert other.snapshot.data_version != live.snapshot.data_version
    assert other.refresh() is True
    assert other.from_cache, "the follower must load the publisher's compiled zones, not recompile"
    assert other.snapshot.data_version == live.snapshot.data_version


@pytest.mark.slow
def test_a_publish_killed_mid_way_leaves_the_previous_version_byte_for_byte(tmp_path):
    """SIGKILL an `ecozone layers import` of a large red-line layer once its version file is
    being written: the previous version keeps serving, its file unchanged; the leftover is
    unreferenced and swept once it is old."""
    import hashlib
    import os
    import signal
    import subprocess
    import sys
    import time

    import geopandas as gpd
    import pyogrio

    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data")}
    cli = [sys.executable, "-c", "from ecozone.cli import main; main()"]
    subprocess.run(cli + ["layers", "list"], env=env, check=True, capture_output=True)  # demo loaded
    store = EmbeddedStore(tmp_path / "data")
    folder = store.root / "layers" / "red_lines"
    (v1_file,) = list(folder.iterdir())
    v1_bytes = hashlib.sha256(v1_file.read_bytes()).hexdigest()
    generation = store.generation()

    rng = np.random.default_rng(5)
    centres = np.column_stack([rng.uniform(107.3, 108.0, 60_000), rng.uniform(29.2, 29.7, 60_000)])
    big = gpd.GeoDataFrame({"name": ["图斑"] * len(centres)},
                           geometry=shapely.buffer(shapely.points(centres), 0.0008, quad_segs=4), crs=4326)
    path = tmp_path / "big.gpkg"
    pyogrio.write_dataframe(big, path, driver="GPKG")

    proc = subprocess.Popen(cli + ["layers", "import", str(path), "--id", "red_lines"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any(p.name.startswith(".") for p in folder.iterdir()):
        assert proc.poll() is None and time.time() < deadline, "the import ended before it could be interrupted"
        time.sleep(0.01)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert store.get_layer("red_lines").version == 1
    assert store.generation() == generation
    assert hashlib.sha256(v1_file.read_bytes()).hexdigest() == v1_bytes
    leftovers = [p for p in folder.iterdir() if p != v1_file]
    assert leftovers, "the kill should have left the unfinished file behind"
    assert store.sweep_orphans() == 0  # young: could be another process's publish in flight
    assert store.sweep_orphans(older_than_s=0) == len(leftovers)
    assert list(folder.iterdir()) == [v1_file]
