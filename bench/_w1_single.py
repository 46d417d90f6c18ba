"""W1 — one site check in process, beside the bare index floor, PostGIS and DuckDB."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from _common import Stopwatch, Table, random_points_in, ratio, time_each
from _zones_sql import EPS_M

PROJECT_TYPE = "heavy_chemical"

# Which zone pieces meet the point (the jurisdiction pieces too, as the engine's one tree query
# does), then the exact distance test for buffered zones. Returns rule indexes (≥ 0) and
# jurisdictions (−j−1).
PG_POINT = f"""
SELECT DISTINCT CASE WHEN p.owner < 0 THEN p.owner ELSE z.rule_idx END
FROM pieces p LEFT JOIN zones z ON z.zone_id = p.owner
WHERE ST_Intersects(p.geom, ST_Point(%(x)s, %(y)s, 4545))
  AND (p.owner < 0 OR z.within_m <= 0
       OR ST_DWithin(ST_Point(%(x)s, %(y)s, 4545), z.reference, (z.within_m + {EPS_M}) * %(k)s))
"""
DUCK_POINT = f"""
SELECT DISTINCT CASE WHEN p.owner < 0 THEN p.owner ELSE z.rule_idx END
FROM pieces p LEFT JOIN zones z ON z.zone_id = p.owner
WHERE ST_Intersects(p.geom, ST_Point($1, $2))
  AND (p.owner < 0 OR z.within_m <= 0 OR ST_DWithin(ST_Point($1, $2), z.reference, (z.within_m + {EPS_M}) * $3))
"""


def ours_sets(demo, metric_points) -> list[frozenset]:
    """Rule indexes and jurisdictions (−j−1) per point from Engine.evaluate_metric, every rule."""
    idx = demo.index
    rule_index = {r.id: i for i, r in enumerate(demo.catalog.rules)}
    jur = {c: -j - 1 for j, c in enumerate(idx.jurisdiction_codes)}
    out = []
    for p in metric_points:
        ev = demo.engine.evaluate_metric(p, None)
        out.append(frozenset([rule_index[f.rule.id] for f in ev.findings] + [jur[c] for c, _, _ in ev.jurisdictions]))
    return out


def describe(demo, s: frozenset) -> str:
    return ", ".join(demo.catalog.rules[i].id if i >= 0 else demo.index.jurisdiction_codes[-i - 1] for i in sorted(s))


def run(ctx) -> Table:
    from ecozone.checks import SitingRequest, run_check
    from ecozone.views import evaluation_json
    from ecozone.zoning.metric import site_scale, to_metric

    demo, args = ctx.demo, ctx.args
    n, n_sql = args.points_w1, min(args.points_w1, args.points_w1_sql)
    points = random_points_in(demo.planned, n, seed=20261123)
    metric = to_metric(points)
    xy = np.column_stack([[p.x for p in metric], [p.y for p in metric]])
    k = site_scale(metric)
    engine, index, pt = demo.engine, demo.index, (PROJECT_TYPE,)
    for p in points[:200]:  # warm-up: imports, caches, the transformer
        engine.evaluate(p, PROJECT_TYPE)

    t = Table(f"W1 single check in process — {n:,} random points in the planned districts "
              f"(SQL comparators: the first {n_sql:,})",
              ["path", "points", "median µs", "p99 µs", "median × floor", "p99 × floor", "setup (untimed)"])
    rows: dict[str, np.ndarray] = {}
    rows["(a) floor: index.tree.query(point, 'intersects')"] = time_each(
        lambda p: index.tree.query(p, predicate="intersects"), metric)
    rows["(b) Engine.evaluate_metric, every rule"] = time_each(lambda p: engine.evaluate_metric(p, None), metric)
    rows[f"(b') Engine.evaluate_metric, {PROJECT_TYPE}"] = time_each(lambda p: engine.evaluate_metric(p, pt), metric)
    rows[f"(c) Engine.evaluate (WGS84), {PROJECT_TYPE}"] = time_each(lambda p: engine.evaluate(p, PROJECT_TYPE), points)
    rows["(c') Engine.evaluate (WGS84), every rule"] = time_each(lambda p: engine.evaluate(p, None), points)
    rows["(d) (c) + evaluation_json (the API's JSON)"] = time_each(
        lambda p: evaluation_json(engine.evaluate(p, PROJECT_TYPE), p, "bench", None, "EPSG:4326"), points)
    setup = {}

    # (e) run_check end to end: request model → parse/validate → evaluate → JSON (+ terrain lookup).
    try:
        from ecozone.service import Service
        from ecozone.settings import Settings

        with tempfile.TemporaryDirectory(prefix="ecozone-bench-w1-") as tmp:
            with Stopwatch() as sw:
                settings = Settings(data_dir=Path(tmp) / "data", database_url=None)
                service = Service.open(settings)
            setup["(e)"] = f"Service.open on a fresh data dir (demo load + compile) {sw.s:.1f} s"
            bodies = [{"geometry": {"type": "Point", "coordinates": [p.x, p.y]}, "project_type": PROJECT_TYPE}
                      for p in points]
            for b in bodies[:100]:
                run_check(service, settings, SitingRequest.model_validate(b))
            rows["(e) checks.run_check from the request body"] = time_each(
                lambda b: run_check(service, settings, SitingRequest.model_validate(b)), bodies)
            service.store.close()
    except Exception as e:  # noqa: BLE001 — reported in the table, never a fake number
        rows["(e) checks.run_check from the request body"] = f"skipped: {type(e).__name__}: {e}"

    ours = ours_sets(demo, metric[:n_sql])
    agree_notes = []

    # (f) PostGIS, a prepared statement per point over loopback.
    key = "(f) PostGIS: prepared point query over loopback (psycopg 3)"
    if ctx.pg_url is None:
        rows[key] = f"skipped: {ctx.pg_skip}"
    else:
        import psycopg

        from _zones_sql import load_postgis

        with psycopg.connect(ctx.pg_url, autocommit=True) as conn:
            with Stopwatch() as sw:
                load_postgis(conn, index)
            setup["(f)"] = f"load {len(index.pieces)} pieces + {len(index.zone_rule)} zones, GiST index: {sw.s:.1f} s"
            params = [{"x": float(x), "y": float(y), "k": float(kk)} for (x, y), kk in zip(xy[:n_sql], k[:n_sql])]
            for prm in params[:200]:
                conn.execute(PG_POINT, prm, prepare=True).fetchall()
            theirs = []
            rows[key] = time_each(lambda prm: theirs.append(conn.execute(PG_POINT, prm, prepare=True).fetchall()), params)
            theirs = [frozenset(r[0] for r in res) for res in theirs[-n_sql:]]
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + PG_POINT, params[0]).fetchall())
            setup["(f)"] += "; plan uses the GiST index" if "pieces_geom_idx" in plan else "; plan: no index scan"
        agree_notes.append(_agreement(demo, "PostGIS", ours, theirs, metric))

    # (g) DuckDB in process, a prepared statement, R-tree index on the pieces.
    key = "(g) DuckDB: prepared point query in process (RTREE index)"
    if ctx.duck_skip:
        rows[key] = f"skipped: {ctx.duck_skip}"
    else:
        import _duck
        from _zones_sql import load_duckdb

        con = _duck.connect(threads=1)
        with Stopwatch() as sw:
            load_duckdb(con, index, rtree=True)
        con.execute("PREPARE point_q AS " + DUCK_POINT)
        plan = con.execute(f"EXPLAIN EXECUTE point_q({float(xy[0, 0])!r}, {float(xy[0, 1])!r}, {float(k[0])!r})").fetchall()[0][1]
        setup["(g)"] = (f"load + CREATE INDEX … USING RTREE: {sw.s:.1f} s; 1 thread; "
                        + ("RTREE_INDEX_SCAN in plan" if "RTREE_INDEX_SCAN" in plan else "no RTREE_INDEX_SCAN in plan"))
        stmts = [f"EXECUTE point_q({x!r}, {y!r}, {float(kk)!r})" for (x, y), kk in zip(xy[:n_sql].tolist(), k[:n_sql].tolist())]
        for s in stmts[:200]:
            con.execute(s).fetchall()
        theirs = []
        rows[key] = time_each(lambda s: theirs.append(con.execute(s).fetchall()), stmts)
        theirs = [frozenset(r[0] for r in res) for res in theirs[-n_sql:]]
        con.close()
        agree_notes.append(_agreement(demo, "DuckDB", ours, theirs, metric))

    floor = rows["(a) floor: index.tree.query(point, 'intersects')"]
    fmed, fp99 = float(np.median(floor)), float(np.percentile(floor, 99))
    meds = {}
    for name, us in rows.items():
        tag = name.split(")")[0] + ")"
        if isinstance(us, str):
            t.add(name, None, us, "", "", "", setup.get(tag, ""))
            continue
        med, p99 = float(np.median(us)), float(np.percentile(us, 99))
        meds[tag] = med
        t.add(name, len(us), med, p99, ratio(med, fmed), ratio(p99, fp99), setup.get(tag, ""))
    # The single check end to end in process: Engine.evaluate, a WGS84 point in, the whole
    # Evaluation out (projection, lookup, exact tests, distances, findings, coverage, control
    # units, verdict) — with a project type (c) and for every rule (c'), as the SQL answers.
    for tag, what in (("(c)", f"with a project type ({PROJECT_TYPE})"), ("(c')", "every rule")):
        if tag in meds:
            t.notes.append(f"single check end to end in process {tag}, {what}: {meds[tag] / fmed:.1f}× the floor "
                           "(target ≤3×)" + "".join(
                               f"; {who} {meds[sql] / meds[tag]:.1f}× slower (target ≥5×)"
                               for sql, who in (("(f)", "PostGIS"), ("(g)", "DuckDB")) if sql in meds))
    if "(e)" in meds:
        t.notes.append(f"with the API's request handling and JSON answer (e): {meds['(e)'] / fmed:.1f}× the floor"
                       + (f"; PostGIS {meds['(f)'] / meds['(e)']:.1f}× slower" if "(f)" in meds else ""))
    t.notes += agree_notes
    t.notes.append("(b), (c') and the SQL comparators answer for every rule (project_type none) with the same exact test; "
                   "the SQL returns the set of rules and jurisdictions, ours also builds findings, distances, "
                   "coverage, control units and the verdict. p99 on a shared 2-core machine is mostly scheduler noise.")
    ctx.w1_floor = fmed
    return t


def _agreement(demo, who: str, ours, theirs, metric) -> str:
    bad = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b]
    msg = f"agreement with {who} on {len(ours):,} points (rule and jurisdiction sets): {len(bad)} disagreements"
    for i in bad[:3]:
        p = metric[i]
        msg += (f"; point {i} EPSG:4545 ({p.x!r}, {p.y!r}): ours [{describe(demo, ours[i])}] "
                f"{who} [{describe(demo, theirs[i])}]")
    return msg
