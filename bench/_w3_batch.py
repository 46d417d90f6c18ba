"""W3 — a million points at once: evaluate_many beside DuckDB's and PostGIS's spatial joins, the
Dask path, and `ecozone screen pts.csv -o out.gpkg` end to end; (point, rule) agreement."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np

from _common import Stopwatch, Table, random_points_in
from _zones_sql import EPS_M

# Each point's rules (every rule, project_type none): pieces it meets, then the exact distance
# test for buffered zones. The jurisdiction pieces are left out (the pairs compared are rules).
JOIN = f"""
SELECT DISTINCT t.id, z.rule_idx
FROM pts t
JOIN (SELECT owner, geom FROM pieces WHERE owner >= 0) p ON ST_Intersects(p.geom, t.geom)
JOIN zones z ON z.zone_id = p.owner
WHERE z.within_m <= 0 OR ST_DWithin(t.geom, z.reference, (z.within_m + {EPS_M}) * t.k)
"""


def pair_codes(ids: np.ndarray, rules: np.ndarray, n_rules: int) -> np.ndarray:
    return np.unique(ids.astype(np.int64) * n_rules + rules.astype(np.int64))


def ours_codes(demo, res) -> np.ndarray:
    rule_index = {r.id: i for i, r in enumerate(demo.catalog.rules)}
    ids = np.repeat(np.arange(len(res.rule_ids)), [len(r) for r in res.rule_ids])
    rules = np.array([rule_index[r] for rs in res.rule_ids for r in rs], dtype=np.int64)
    return pair_codes(ids, rules, len(demo.catalog.rules))


def explain_disagreements(demo, metric, ours: np.ndarray, theirs: np.ndarray, who: str, limit: int = 3) -> list[str]:
    """How many (point, rule) pairs differ, and for a few: how far the point is from the rule's
    buffer edge (distance / k − within for the rule's nearest zone), which tells a boundary
    coin-toss (|margin| ≲ 1e-6 m) from a real disagreement."""
    from ecozone.zoning.metric import site_scale

    R = len(demo.catalog.rules)
    only_ours = np.setdiff1d(ours, theirs, assume_unique=True)
    only_theirs = np.setdiff1d(theirs, ours, assume_unique=True)
    lines = [f"agreement with {who}: {ours.size:,} (point, rule) pairs ours, {theirs.size:,} theirs; "
             f"{only_ours.size} only ours, {only_theirs.size} only {who}"]
    idx = demo.index
    for label, codes in (("only ours", only_ours), (f"only {who}", only_theirs)):
        for c in codes[:limit]:
            i, r = divmod(int(c), R)
            p = metric[i]
            zones = np.flatnonzero(idx.zone_rule == r)
            k = float(site_scale(p))
            import shapely

            d = shapely.distance(p, idx.zone_reference[zones]) / k
            margins = d - idx.zone_within[zones]
            j = int(np.argmin(margins))
            lines.append(f"  {label}: point {i} EPSG:4545 ({p.x!r}, {p.y!r}) rule {demo.catalog.rules[r].id}: "
                         f"nearest zone {int(zones[j])} within {idx.zone_within[zones[j]]:g} m, "
                         f"distance/k − within = {margins[j]:.3e} m")
    return lines


def run(ctx) -> Table:
    from ecozone.zoning.batch import evaluate_many
    from ecozone.zoning.metric import site_scale, to_metric

    demo, args = ctx.demo, ctx.args
    n = args.points
    R = len(demo.catalog.rules)
    t = Table(f"W3 {n:,} random points in the planned districts, every rule (project_type none)",
              ["path", "seconds", "points/s", "÷ ours (evaluate_many)", "setup (untimed) / notes"])
    notes = []
    with Stopwatch() as sw:
        points = random_points_in(demo.planned, n, seed=20261201)
    gen_s = sw.s
    metric = to_metric(points)
    xy = np.column_stack([[p.x for p in metric], [p.y for p in metric]])
    k = site_scale(metric)
    evaluate_many(demo.engine, metric[:2000], None)  # warm-up

    with Stopwatch() as sw:
        res = evaluate_many(demo.engine, metric, None)
    ours_s = sw.s
    t.add("ours: evaluate_many (metric points), 1 thread", ours_s, n / ours_s, "1.0×",
          f"points generated in {gen_s:.1f} s; projected beforehand")
    threads = len(os.sched_getaffinity(0))
    with Stopwatch() as sw:
        res_t = evaluate_many(demo.engine, metric, None, threads=threads)
    t.add(f"ours: evaluate_many (metric points), {threads} threads", sw.s, n / sw.s, f"{ours_s / sw.s:.2f}×",
          "parts evaluated at once (as `ecozone screen` does)")
    assert np.array_equal(ours_codes(demo, res), ours_codes(demo, res_t))
    del res_t
    ours_threads_s = sw.s
    with Stopwatch() as sw:
        res2 = evaluate_many(demo.engine, to_metric(points), None)
    t.add("ours: to_metric + evaluate_many (WGS84 points), 1 thread", sw.s, n / sw.s, f"{ours_s / sw.s:.2f}×",
          "projection included")
    ours = ours_codes(demo, res)
    assert np.array_equal(ours, ours_codes(demo, res2))
    del res2
    verdicts, counts = np.unique(res.verdict, return_counts=True)
    notes.append("verdicts (ours): " + ", ".join(f"{v} {c:,}" for v, c in zip(verdicts, counts))
                 + f"; {ours.size:,} (point, rule) pairs")

    # DuckDB: the same join, 2 threads (its default here) and 1 thread.
    if ctx.duck_skip:
        t.add("DuckDB spatial join", "", f"skipped: {ctx.duck_skip}", "", "")
    else:
        import _duck
        from _zones_sql import load_duckdb, load_points_duckdb

        con = _duck.connect()
        with Stopwatch() as sw:
            load_duckdb(con, demo.index, rtree=False)
            load_points_duckdb(con, "pts", np.arange(n), xy, k)
        setup = sw.s
        plan = con.execute("EXPLAIN " + JOIN).fetchall()[0][1]
        op = "SPATIAL_JOIN" if "SPATIAL_JOIN" in plan else "no SPATIAL_JOIN operator"
        theirs = None
        for threads in (2, 1):
            con.execute(f"SET threads = {threads}")
            with Stopwatch() as sw:
                got = con.execute(JOIN).fetchnumpy()
            theirs = pair_codes(got["id"], got["rule_idx"], R)
            notes.append(f"ours on {len(os.sched_getaffinity(0))} threads ÷ DuckDB on {threads}: "
                         f"{sw.s / ours_threads_s:.2f}× its points/s (target ≥3×)")
            t.add(f"DuckDB: ST_Intersects join + ST_DWithin, {threads} thread{'s' if threads > 1 else ''}", sw.s,
                  n / sw.s, f"{ours_s / sw.s:.2f}×",
                  f"load zones + {n:,} points {setup:.1f} s; {op} in plan" if threads == 2 else "result fetched to numpy")
        con.close()
        notes += explain_disagreements(demo, metric, ours, theirs, "DuckDB")

    # PostGIS: points and pieces GiST-indexed; the pairs materialised server side.
    if ctx.pg_url is None:
        t.add("PostGIS join", "", f"skipped: {ctx.pg_skip}", "", "")
    else:
        import psycopg

        from _zones_sql import copy_points_postgis, load_postgis

        with psycopg.connect(ctx.pg_url, autocommit=True) as conn:
            with Stopwatch() as sw:
                load_postgis(conn, demo.index)
                copy_points_postgis(conn, "pts", np.arange(n), xy, k)
            setup = sw.s
            plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + JOIN).fetchall())
            workers = re.search(r"Workers Planned: (\d+)", plan)
            conn.execute("DROP TABLE IF EXISTS w3_pairs")
            with Stopwatch() as sw:
                conn.execute("CREATE UNLOGGED TABLE w3_pairs AS " + JOIN)
            pg_s = sw.s
            with Stopwatch() as sw2:
                with conn.cursor() as cur:
                    ids, rules = [], []
                    with cur.copy("COPY w3_pairs TO STDOUT") as cp:
                        for row in cp.rows():
                            ids.append(int(row[0]))
                            rules.append(int(row[1]))
            theirs = pair_codes(np.array(ids), np.array(rules), R)
            t.add("PostGIS: ST_Intersects join + ST_DWithin (CREATE TABLE AS)", pg_s, n / pg_s,
                  f"{ours_s / pg_s:.2f}×",
                  f"load zones + COPY {n:,} points + GiST both sides {setup:.1f} s; "
                  f"{workers.group(1) if workers else 0} parallel workers planned; "
                  f"fetching the pairs afterwards {sw2.s:.1f} s (untimed)")
            conn.execute("DROP TABLE w3_pairs")
            conn.execute("DROP TABLE pts")
        notes += explain_disagreements(demo, metric, ours, theirs, "PostGIS")

    # The screening paths of `ecozone screen` on a CSV of lon/lat.
    csv = ctx.tmp / "w3-points.csv"
    with Stopwatch() as sw:
        _write_csv(csv, points)
    csv_s = sw.s
    notes += screen_paths(ctx, t, csv, res, ours_s, n, csv_s)
    t.notes += notes
    t.notes.append("The SQL comparators return only the (point, rule) pairs; ours also gives each point's verdict, "
                   "nearest distance and coverage. Target: ours ≥3× DuckDB's points/s.")
    return t


def _write_csv(path, points) -> None:
    import pandas as pd

    import shapely

    xy = shapely.get_coordinates(points)
    pd.DataFrame({"name": np.arange(len(points)), "lon": xy[:, 0], "lat": xy[:, 1]}).to_csv(
        path, index=False, float_format="%.17g")


def screen_paths(ctx, t: Table, csv, res, ours_s: float, n: int, csv_s: float) -> list[str]:
    from ecozone.jobs import open_input, run_chunks
    from ecozone.settings import Settings

    notes = []
    settings = Settings(data_dir=ctx.tmp / "w3-settings", database_url=None)
    engine = ctx.demo.engine
    with Stopwatch() as sw:
        inp = open_input(csv, csv.name, engine, settings, crs="EPSG:4326")
    read_s = sw.s
    with Stopwatch() as sw:
        out = run_chunks(engine, inp, settings.batch_chunk_size, threads=len(os.sched_getaffinity(0)))
    t.add(f"ecozone.jobs.run_chunks in process (screen's path), chunks of {settings.batch_chunk_size:,}", sw.s, n / sw.s,
          f"{ours_s / sw.s:.2f}×", f"CSV written {csv_s:.1f} s, read by open_input {read_s:.1f} s; output rows built")
    expect_v = np.asarray(res.verdict).astype(str)
    expect_r = np.array([",".join(r) for r in res.rule_ids], dtype=object)
    same = (out["verdict"].to_numpy().astype(str) == expect_v) & (out["rule_ids"].to_numpy() == expect_r)
    notes.append(f"run_chunks vs evaluate_many: {int((~same).sum())} rows differ (verdict or rule ids)")
    if ctx.args.no_dask:
        t.add("ecozone screen --dask: screen_on_dask, 2-worker LocalCluster", "", "skipped: --no-dask", "", "")
    else:
        try:
            from ecozone.cli_screen import screen_on_dask

            with Stopwatch() as sw:
                dout = screen_on_dask(engine, inp, "local", 2, 250_000)
            same = (dout["verdict"].to_numpy().astype(str) == expect_v) & (dout["rule_ids"].to_numpy() == expect_r)
            t.add("ecozone screen --dask: screen_on_dask, 2-worker LocalCluster", sw.s, n / sw.s, f"{ours_s / sw.s:.2f}×",
                  "cluster start, engine scatter and partitions of 250,000 included")
            notes.append(f"screen_on_dask vs evaluate_many: {int((~same).sum())} rows differ")
            del dout
        except Exception as e:  # noqa: BLE001
            import traceback

            traceback.print_exc()
            t.add("ecozone screen --dask", "", f"failed: {type(e).__name__}: {e}", "", "")
    del out, inp

    # `ecozone screen pts.csv -o out.gpkg` as a user runs it (a fresh data dir, warmed once so the
    # compiled zones come from its cache, as on any second run).
    data = ctx.tmp / "w3-screen-data"
    env = {**os.environ, "ECOZONE_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}
    env.pop("ECOZONE_DATABASE_URL", None)
    cmd = [sys.executable, "-c", "from ecozone.cli import main; main()", "screen", "--crs", "EPSG:4326"]
    small = ctx.tmp / "w3-warm.csv"
    with open(csv, encoding="utf-8") as fh, open(small, "w", encoding="utf-8") as w:
        for i, line in enumerate(fh):
            if i > 1000:
                break
            w.write(line)
    with Stopwatch() as sw:
        r = subprocess.run(cmd + [str(small), "-o", str(ctx.tmp / "w3-warm.gpkg")], env=env, capture_output=True, text=True)
    warm_s = sw.s
    if r.returncode:
        t.add("ecozone screen pts.csv -o out.gpkg", "", f"skipped: warm-up failed: {r.stderr[-300:]}", "", "")
        return notes
    gpkg = ctx.tmp / "w3-out.gpkg"
    with Stopwatch() as sw:
        r = subprocess.run(cmd + [str(csv), "-o", str(gpkg)], env=env, capture_output=True, text=True)
    if r.returncode:
        t.add("ecozone screen pts.csv -o out.gpkg", "", f"failed: {r.stderr[-300:]}", "", "")
        return notes
    m = re.search(r"read ([\d.]+) s, screen ([\d.]+) s in-process, write ([\d.]+) s", r.stderr.replace("\n", " "))
    parts = f"its own split: read {m.group(1)} s, screen {m.group(2)} s, write {m.group(3)} s; " if m else ""
    t.add("`ecozone screen pts.csv -o out.gpkg` end to end (process wall time)", sw.s, n / sw.s,
          f"{ours_s / sw.s:.2f}×", f"{parts}first run on the fresh data dir (demo load + compile) {warm_s:.1f} s "
          "untimed; target ≤60 s")
    import pyogrio

    got = pyogrio.read_dataframe(gpkg, columns=["verdict", "rule_ids"], read_geometry=False)
    same = (got["verdict"].to_numpy().astype(str) == np.asarray(res.verdict).astype(str)) & (
        got["rule_ids"].fillna("").to_numpy() == np.array([",".join(r) for r in res.rule_ids], dtype=object))
    notes.append(f"`ecozone screen` GeoPackage vs evaluate_many: {len(got):,} rows, {int((~same).sum())} differ")
    return notes
