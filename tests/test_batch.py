"""Batch evaluation gives every site the answer a single check gives: random points, lines and
polygons over the demo jurisdictions, sites on zone boundaries and exactly at buffer distances,
for several project types (and none)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ecozone.zoning.batch import evaluate_many

TYPES = [None, ("heavy_chemical",), ("livestock_farm",), ("industrial",), ("chemical", "noisy_industry"), ("tourism",)]


@pytest.fixture(scope="module")
def engine(demo_service):
    return demo_service.snapshot.engine


@pytest.fixture(scope="module")
def sites(engine):
    """Points, short lines and small polygons at random over the planned districts, plus points
    on zone-piece edges and at (and 1 cm either side of) buffer distances."""
    idx = engine.index
    rng = np.random.default_rng(2026)
    w, s, e, n = shapely.bounds(idx.planned_region)
    pts = shapely.points(rng.uniform(w, e, 1500), rng.uniform(s, n, 1500))
    x0, y0 = rng.uniform(w, e, 300), rng.uniform(s, n, 300)
    ang = rng.uniform(0, 2 * np.pi, 300)
    lines = shapely.linestrings(np.stack([np.column_stack([x0, y0]),
                                          np.column_stack([x0 + 3000 * np.cos(ang), y0 + 3000 * np.sin(ang)])], axis=1))
    polys = shapely.buffer(shapely.points(rng.uniform(w, e, 300), rng.uniform(s, n, 300)), rng.uniform(50, 900, 300))
    edge = []
    buffered = np.flatnonzero(idx.zone_within > 0)
    for z in rng.choice(buffered, size=min(60, buffered.size), replace=False):
        ref, within = idx.zone_reference[z], float(idx.zone_within[z])
        ring = shapely.boundary(shapely.buffer(ref, within, quad_segs=16))
        for p in shapely.get_coordinates(ring)[::max(len(shapely.get_coordinates(ring)) // 4, 1)]:
            # Move the ring point to exactly `within` (and ±1 cm) from the reference, along its normal.
            near = shapely.get_coordinates(shapely.shortest_line(shapely.Point(p), ref))[1]
            v = (p - near) / max(np.hypot(*(p - near)), 1e-9)
            for delta in (-0.01, 0.0, 0.01):
                edge.append(shapely.Point(near + v * (within + delta)))
    for piece in rng.choice(idx.pieces[idx.piece_owner >= 0], size=100, replace=False):
        edge.append(shapely.Point(shapely.get_coordinates(shapely.boundary(piece))[0]))
    # A polygon in 巫溪 whose part inside each buffered zone's clip is beyond the buffer (once
    # crashed the single check: no zone's part was inside, so nothing was left to measure).
    edge.append(shapely.from_wkt("POLYGON ((619087.7 3487248.176, 618928.39 3487478.452, 618816.281 3487400.892, "
                                 "618975.591 3487170.616, 619087.7 3487248.176))"))
    return np.concatenate([pts, lines, polys, np.array(edge, dtype=object)])


@pytest.mark.parametrize("types", TYPES, ids=lambda t: ",".join(t) if t else "any")
def test_batch_equals_single_checks(engine, sites, types):
    result = evaluate_many(engine, sites, types)
    mismatches = []
    for i, site in enumerate(sites):
        ev = engine.evaluate_metric(site, types)
        # The same rules in the same order (strictest first, then nearest).
        rules = [f.rule.id for f in ev.findings] if ev.verdict != "not_covered" else []
        mine = list(result.rule_ids[i]) if result.verdict[i] != "not_covered" else []
        nearest = min((f.distance_m for f in ev.findings), default=None)
        same_distance = nearest is None or abs(nearest - result.min_distance_m[i]) <= 0.06  # answers round to 0.1 m
        if (ev.verdict, rules) != (result.verdict[i], mine) or not same_distance:
            mismatches.append((i, ev.verdict, result.verdict[i], set(rules) ^ set(mine)))
        assert result.covered_ratio[i] == pytest.approx(ev.coverage.covered_ratio, abs=1e-9)
    assert not mismatches, mismatches[:5]


def test_the_sites_exercise_every_verdict(engine, sites):
    verdicts = set(evaluate_many(engine, sites, ("heavy_chemical",)).verdict)
    assert {"prohibited", "restricted", "notice", "not_covered"} <= verdicts


def test_threads_give_the_same_table(engine):
    """Points evaluated in parts on two threads: every column as one thread gives it."""
    idx = engine.index
    rng = np.random.default_rng(18)
    w, s, e, n = shapely.bounds(idx.planned_region)
    points = shapely.points(rng.uniform(w, e, 45_000), rng.uniform(s, n, 45_000))
    one = evaluate_many(engine, points, None)
    two = evaluate_many(engine, points, None, threads=2)
    assert (one.verdict == two.verdict).all()
    assert (one.rule_ids_joined == two.rule_ids_joined).all()
    np.testing.assert_array_equal(one.min_distance_m, two.min_distance_m)
    np.testing.assert_array_equal(one.covered_ratio, two.covered_ratio)
    assert len(set(one.verdict)) >= 3


def test_threads_sharing_a_cached_index_do_not_corrupt_memory(engine, tmp_path):
    """An index read back from the zone cache, shared by batch threads and a thread of single
    point checks (as the service's job runner and event loop share it). Sharing GEOS prepared
    geometries between threads corrupted the heap (glibc aborted the process in most runs);
    each thread now prepares its own copies. Run in a child process, so a crash fails the test
    rather than the suite."""
    import pickle
    import subprocess
    import sys

    path = tmp_path / "index.pickle"
    path.write_bytes(pickle.dumps(engine.index))
    child = f"""
import pickle, threading
import numpy as np, shapely
from ecozone.zoning.catalog import load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.batch import evaluate_many
index = pickle.loads(open({str(path)!r}, "rb").read())
index.catalog = load_catalog()
engine = Engine(index)
rng = np.random.default_rng(5)
w, s, e, n = shapely.bounds(index.planned_region)
points = shapely.points(rng.uniform(w, e, 120_000), rng.uniform(s, n, 120_000))
def singles():
    for p in points[:3000]:
        engine.evaluate_metric(p, ("heavy_chemical",))
t = threading.Thread(target=singles)
t.start()
first = evaluate_many(engine, points, None, threads=3)
for _ in range(3):
    again = evaluate_many(engine, points, None, threads=3)
    assert (again.rule_ids_joined == first.rule_ids_joined).all()
t.join()
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]


@pytest.mark.parametrize("types", [None, ("heavy_chemical",)], ids=["any", "heavy_chemical"])
def test_per_rule_distances_are_the_findings_distances(engine, sites, types):
    """Asked per rule, the table has one row per (site, binding rule) with the distance the
    single check reports for that rule's finding (which rounds it to 0.1 m)."""
    result = evaluate_many(engine, sites, types, per_rule=True)
    site_of, rule_of, dist = result.per_rule
    mine = {(int(i), r): d for i, r, d in zip(site_of, rule_of, dist)}
    theirs = {}
    for i, site in enumerate(sites):
        theirs.update({(i, f.rule.id): f.distance_m for f in engine.evaluate_metric(site, types).findings})
    assert set(mine) == set(theirs)
    worst = max(abs(mine[key] - theirs[key]) for key in theirs)
    assert worst <= 0.05 + 1e-9
    threaded = evaluate_many(engine, sites[shapely.get_type_id(sites) == 0], types, per_rule=True)
    assert threaded.per_rule[0].size > 0


def test_rows_are_ordered_as_a_full_sort_orders_them():
    """The batch orders each site's rules by (site and effect, distance), stably, without
    sorting every row by distance: the same order np.lexsort gives — groups of many sizes,
    rows at 0 m and away from it, ties, unsorted groups."""
    from ecozone.zoning.batch import _order_by_group_then_distance

    rng = np.random.default_rng(17)
    sizes = rng.choice([1, 1, 2, 3, 5, 12], 30_000)
    group = np.repeat(np.arange(sizes.size) * 4, sizes) + rng.integers(0, 4, sizes.sum())
    group[rng.random(group.size) < 0.01] = rng.integers(0, group.max(), 1)  # a few out of place
    dist = np.where(rng.random(group.size) < 0.4, 0.0, rng.choice([1.0, 2.5, 7.25, np.inf], group.size))
    dist[rng.random(group.size) < 0.3] = rng.uniform(0, 5000, 1)  # ties at one random distance too
    dist = np.where(rng.random(group.size) < 0.2, rng.uniform(0, 5000, group.size), dist)
    np.testing.assert_array_equal(_order_by_group_then_distance(group, dist), np.lexsort((dist, group)))
    assert _order_by_group_then_distance(np.zeros(0, np.int64), np.zeros(0)).size == 0


def test_an_index_with_no_layers_answers_not_covered():
    """Before any layer is published (a new PostGIS store) the index is empty: single and batch
    checks answer not_covered, nothing crashes."""
    from ecozone.zoning.catalog import load_catalog
    from ecozone.zoning.engine import Engine
    from ecozone.zoning.index import ZoneIndex
    from ecozone.zoning.metric import to_metric

    engine = Engine(ZoneIndex(load_catalog(), []))
    point = shapely.Point(107.77, 29.33)
    assert engine.evaluate(point, "heavy_chemical").verdict == "not_covered"
    sites = to_metric(np.array([point, point.buffer(0.01), shapely.LineString([(107.7, 29.3), (107.8, 29.4)])]))
    assert evaluate_many(engine, sites).verdict.tolist() == ["not_covered"] * 3
