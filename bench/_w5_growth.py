"""W5 — growth: the zone layers with ×1, ×10, ×100 features and the same geometry in total
(each polygon feature cut by a grid, each line feature cut into pieces along its length, the
attributes kept), so every answer must stay the same. Compile time, check latency, memory."""

from __future__ import annotations

import math
import pickle
import time
import tracemalloc

import numpy as np
import shapely

from _common import Table, random_points_in, time_each

# Layers not multiplied: the districts (jurisdictions, not zones), the control units (reported
# per site, not zones), and the kinds of rules drawn per feature (a tailings pond's downstream
# sector starts at the feature's centroid and scales with its area: cutting it changes the zone).
_KEEP_KINDS = {"district", "control_unit"}


def _sector_kinds(catalog) -> set[str]:
    return {r.zone.kind for r in catalog.rules if r.zone.downstream_sector is not None}


def _split_polygon(g: shapely.Geometry, m: int) -> list[shapely.Geometry]:
    """At least m polygonal pieces of g (a grid over its bounds, refined until enough cells meet it)."""
    if m <= 1:
        return [g]
    w, s, e, n = g.bounds
    shapely.prepare(g)
    side = math.ceil(math.sqrt(m))
    while True:
        xs, ys = np.linspace(w, e, side + 1), np.linspace(s, n, side + 1)
        cells = shapely.box(*[a.ravel() for a in np.meshgrid(xs[:-1], ys[:-1])],
                            *[a.ravel() for a in np.meshgrid(xs[1:], ys[1:])])
        cells = cells[shapely.intersects(g, cells)]
        if len(cells) >= m or side > 40 * math.sqrt(m):
            break
        side += max(1, side // 4)
    parts = shapely.intersection(g, cells)
    out = []
    for p in parts:  # keep only the polygonal part of each cut (cuts along an edge leave lines)
        if shapely.get_type_id(p) == 7:
            polys = [q for q in shapely.get_parts(p) if shapely.get_dimensions(q) == 2 and not q.is_empty]
            p = shapely.multipolygons(polys) if len(polys) > 1 else (polys[0] if polys else None)
        if p is not None and not p.is_empty and shapely.get_dimensions(p) == 2 and p.area > 0:
            out.append(p)
    return out


def _split_line(g: shapely.Geometry, m: int) -> list[shapely.Geometry]:
    """m pieces of g along its length (a multi-line: its parts, each cut in proportion)."""
    from shapely.ops import substring

    if m <= 1:
        return [g]
    parts = list(shapely.get_parts(g))
    total = sum(p.length for p in parts)
    out = []
    for p in parts:
        k = max(1, round(m * p.length / total))
        cuts = np.linspace(0, 1, k + 1)
        out += [substring(p, a, b, normalized=True) for a, b in zip(cuts[:-1], cuts[1:])]
    return [q for q in out if not q.is_empty]


def multiply(layers, factor: int, keep_kinds: set[str]):
    """The demo layers with each zone feature cut into ~factor pieces that carry its attributes."""
    from ecozone.zoning.index import LayerFeatures

    out = []
    for layer in layers:
        if factor <= 1 or layer.kind in keep_kinds:
            out.append(layer)
            continue
        frame = layer.frame
        rows, geoms, fids = [], [], []
        for i, (g, fid) in enumerate(zip(frame.geometry.to_numpy(), frame["feature_id"].astype(str))):
            dim = shapely.get_dimensions(g)
            pieces = _split_polygon(g, factor) if dim == 2 else _split_line(g, factor) if dim == 1 else [g]
            rows += [i] * len(pieces)
            geoms += pieces
            fids += [fid] if len(pieces) == 1 else [f"{fid}#{j}" for j in range(len(pieces))]
        new = frame.iloc[rows].copy()
        new[frame.geometry.name] = geoms
        new["feature_id"] = fids
        out.append(LayerFeatures(layer.id, layer.name, layer.kind, new.reset_index(drop=True), layer.version))
    return out


def run(ctx) -> Table:
    from ecozone.zoning.batch import evaluate_many
    from ecozone.zoning.engine import Engine
    from ecozone.zoning.index import ZoneIndex
    from ecozone.zoning.metric import to_metric

    demo, args = ctx.demo, ctx.args
    keep = _KEEP_KINDS | _sector_kinds(demo.catalog)
    points = to_metric(random_points_in(demo.planned, args.growth_points, seed=20261205))
    t = Table(f"W5 growth: zone layers cut into ×N features, same geometry; {len(points):,} random points compared",
              ["features", "zone features", "zones", "index pieces", "compile s", "evaluate_metric median µs",
               "p99 µs", "× the ×1 median", "tracemalloc peak MiB", "index pickle MiB",
               "answers vs ×1"])
    base = None
    for factor in args.growth:
        layers = multiply(demo.layers, factor, keep)
        n_feat = sum(len(layer.frame) for layer in layers if layer.kind not in _KEEP_KINDS)
        import gc

        gc.collect()
        t0 = time.perf_counter()
        index = ZoneIndex(demo.catalog, layers)
        compile_s = time.perf_counter() - t0
        engine = Engine(index)
        tracemalloc.start()
        ZoneIndex(demo.catalog, layers)  # a second, traced compile: its peak Python/numpy allocation
        _, traced = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = len(pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)) / 2**20
        for p in points[:100]:
            engine.evaluate_metric(p, None)
        singles = []
        us = time_each(lambda p: singles.append(engine.evaluate_metric(p, None)), points)
        batch = evaluate_many(engine, points, None)
        answer = (np.asarray(batch.verdict).astype(str), [sorted(r) for r in batch.rule_ids], batch.min_distance_m,
                  [(ev.verdict, sorted(f.rule.id for f in ev.findings)) for ev in singles],
                  _finding_distances(index, points, singles))
        med = float(np.median(us))
        if base is None:
            base = (med, answer)
            same = "reference"
        else:
            same = _compare(base[1], answer, points)
        t.add(f"×{factor}", n_feat, len(index.zone_rule), len(index.pieces), compile_s, med,
              float(np.percentile(us, 99)), f"{med / base[0]:.2f}×", traced / 2**20, size, same)
    t.notes += [
        "Not multiplied: " + ", ".join(sorted(keep)) + " (jurisdictions, per-site control units, and kinds whose "
        "rules draw a downstream sector from each feature's centroid and area, which cutting would change).",
        "Polygons are cut by a grid over each feature's bounds (shapely.intersection with the cells, polygonal "
        "parts kept), lines into pieces along their length (shapely.ops.substring); the attributes are copied, "
        "feature ids become <id>#<n>. Answers are compared as verdict + rule ids (single checks and "
        "evaluate_many) and evaluate_many's nearest distance (≤1 mm).",
        "Distances at ×N can differ from ×1 by a few mm: a cut vertex lies on the lon/lat-straight edge, which "
        "the projection follows only to within its 0.005° densification chord (ecozone.zoning.metric); the "
        "same check with the source layers densified to 0.0002° before cutting agrees to µm (bench/README.md).",
        "Memory: the tracemalloc peak of a second, traced compile of the same layers (Python and numpy "
        "allocations; GEOS's own are not traced), and the compiled index's pickled size (what the zone cache "
        "stores). RSS is not shown: after W3 the process's resident set says nothing about one compile.",
        "Targets: compile ≤5 s at ×100; check median at ×100 ≤2× that at ×1.",
    ]
    return t


def _finding_distances(index, points, singles) -> dict[tuple[int, str], float]:
    """Each (point, rule) finding's distance, unrounded: the least, over the rule's zones the point
    is in, of distance / k − half width. (Finding.distance_m is rounded to 0.1 m and names the first
    of the zones tied at that rounding, so with cut features it may name a piece a few mm farther.)"""
    from ecozone.zoning.metric import site_scale

    rule_index = {r.id: i for i, r in enumerate(index.catalog.rules)}
    out = {}
    for i, (p, ev) in enumerate(zip(points, singles)):
        k = float(site_scale(p))
        owners = np.unique(index.piece_owner[index.tree.query(p, predicate="intersects")])
        zones = owners[owners >= 0]
        d = shapely.distance(p, index.zone_reference[zones]) / k
        inside = (index.zone_within[zones] <= 0) | (d <= index.zone_within[zones] + 1e-6)
        zones, d = zones[inside], np.maximum(d[inside] - index.zone_half_width[zones[inside]], 0.0)
        rules = index.zone_rule[zones]
        for f in ev.findings:
            out[(i, f.rule.id)] = float(d[rules == rule_index[f.rule.id]].min())
    return out


def _compare(a, b, points) -> str:
    va, ra, da, sa, fa = a
    vb, rb, db, sb, fb = b
    bad_v = np.flatnonzero(va != vb)
    bad_r = [i for i in range(len(ra)) if ra[i] != rb[i]]
    bad_s = [i for i in range(len(sa)) if sa[i] != sb[i]]
    both = np.isfinite(da) & np.isfinite(db)
    nan_mismatch = int(np.sum(np.isfinite(da) != np.isfinite(db)))
    dd = np.abs(da[both] - db[both])
    far = np.flatnonzero(both)[dd > 1e-3] if dd.size else np.array([], int)
    common = sorted(set(fa) & set(fb))
    fd = np.array([abs(fa[c] - fb[c]) for c in common]) if common else np.zeros(0)
    msg = (f"verdicts {len(bad_v)} differ, rule ids {len(bad_r)}, single checks {len(bad_s)}; "
           f"nearest distance max |Δ| {dd.max() if dd.size else 0:.2g} m ({int(np.sum(db[both] > 0))} > 0), "
           f"{len(far) + nan_mismatch} beyond 1 mm; per-(point, rule) distances ({len(common):,}) max |Δ| "
           f"{fd.max() if fd.size else 0:.2g} m, {int(np.sum(fd > 1e-3))} beyond 1 mm")
    for i in (list(bad_v[:1]) + bad_r[:1] + bad_s[:1] + list(far[:1]))[:2]:
        p = points[i]
        msg += (f"; e.g. point {i} EPSG:4545 ({p.x:.3f}, {p.y:.3f}): {va[i]} {ra[i]} {da[i]:.4f} m vs "
                f"{vb[i]} {rb[i]} {db[i]:.4f} m")
    return msg
