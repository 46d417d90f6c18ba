"""ecozone's own benchmark: every figure beside its comparators, on the same compiled demo zones,
in the same run.

    python bench/run.py                 # everything (~7–10 minutes on 2 cores)
    python bench/run.py --quick         # small sizes, a smoke run (~2 minutes)
    python bench/run.py --only W1,W3 --points 200000

Workloads (see bench/README.md for what each measures and why):

  W1  one check in process: index floor, Engine.evaluate_metric / evaluate, + JSON view,
      checks.run_check; PostGIS (prepared statement over loopback) and DuckDB (in process,
      RTREE index) answering the same point query
  W2  HTTP: `ecozone serve --workers 1|2`, POST /v1/siting/check at 1/16/64 clients (hey; wrk
      cross-check)
  W3  1,000,000 points: evaluate_many vs DuckDB spatial join vs PostGIS join vs the Dask path,
      and `ecozone screen pts.csv -o out.gpkg` end to end; (point, rule) agreement
  W4  10,000 polygon sites (overlap areas) and 1,000 routes (chainage) vs PostGIS
  W5  zone layers split ×1/×10/×100 (same geometry): compile time, check latency, memory,
      identical answers

The comparators are set up by the harness: a throwaway PostgreSQL 15 + PostGIS cluster on a
free loopback port (bench/_pg.py) and DuckDB with the spatial extension loaded offline from the
duckdb-extension-spatial wheel (bench/_duck.py). Setup is never inside a timed part; it is
printed beside it. A comparator that cannot be set up prints "skipped: <why>".
Output is also written to bench/results/latest.txt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
import tempfile
import time
import traceback
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import Table, compile_demo, machine_facts  # noqa: E402

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
PG_SETTINGS = {"shared_buffers": "1GB", "work_mem": "256MB", "maintenance_work_mem": "512MB",
               "max_parallel_workers_per_gather": "2"}


class Ctx:
    """What the workloads share: options, the compiled demo, the comparators' connections."""

    def __init__(self, args, tmp: Path):
        self.args = args
        self.tmp = tmp
        self.demo = None
        self.pg_url: str | None = None
        self.pg_skip = ""
        self.duck_skip = ""
        self.w1_floor = None


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Sizes default to the full run; --quick lowers every default.")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (≤2 minutes)")
    ap.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W3")
    ap.add_argument("--points", type=int, default=None, help="W3 points (default 1,000,000; quick 50,000)")
    ap.add_argument("--points-w1", type=int, default=None, help="W1 points for ours (default 10,000; quick 1,000)")
    ap.add_argument("--points-w1-sql", type=int, default=None,
                    help="W1 points for the SQL comparators (default 3,000; quick 500)")
    ap.add_argument("--polygons", type=int, default=None, help="W4 polygon sites (default 10,000; quick 500)")
    ap.add_argument("--routes", type=int, default=None, help="W4 routes (default 1,000; quick 50)")
    ap.add_argument("--growth", default=None, help="W5 factors (default 1,10,100; quick 1,10)")
    ap.add_argument("--growth-points", type=int, default=None, help="W5 points compared/timed (default 2,000)")
    ap.add_argument("--http-seconds", type=float, default=None, help="W2 seconds per load run (default 8; quick 2)")
    ap.add_argument("--clients", default=None, help="W2 concurrent clients (default 1,16,64)")
    ap.add_argument("--no-postgis", action="store_true", help="skip the PostGIS comparator")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask path in W3")
    ap.add_argument("--output", default=str(HERE / "results" / "latest.txt"), help="where the printed output is saved")
    args = ap.parse_args(argv)
    q = args.quick
    defaults = dict(points=50_000 if q else 1_000_000, points_w1=1_000 if q else 10_000,
                    points_w1_sql=500 if q else 3_000, polygons=500 if q else 10_000, routes=50 if q else 1_000,
                    growth="1,10" if q else "1,10,100", growth_points=500 if q else 2_000,
                    http_seconds=2.0 if q else 8.0, clients="1,16,64")
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    args.growth = [int(x) for x in str(args.growth).split(",") if x]
    args.clients = [int(x) for x in str(args.clients).split(",") if x]
    args.only = [w.strip().upper() for w in args.only.split(",")] if args.only else list(WORKLOADS)
    unknown = set(args.only) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workloads {sorted(unknown)}; choose from {', '.join(WORKLOADS)}")
    return args


class Out:
    """Print and keep everything for bench/results/latest.txt."""

    def __init__(self):
        self.parts: list[str] = []

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        self.parts.append(text)


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Out()
    started = time.perf_counter()
    command = "python bench/run.py" + ("".join(" " + shlex.quote(a) for a in sys.argv[1:]) if argv is None else
                                       "".join(" " + shlex.quote(a) for a in argv))
    out(f"# ecozone benchmark — {dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}")
    out("")
    out(f"command: {command}")
    for line in machine_facts():
        out(line)

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="ecozone-bench-") as tmp:
        ctx = Ctx(args, Path(tmp))
        # DuckDB
        try:
            import _duck

            con = _duck.connect()
            out(_duck.versions(con) + f", {con.execute('SELECT current_setting(' + repr('threads') + ')').fetchone()[0]}"
                " threads by default")
            con.close()
        except Exception as e:  # noqa: BLE001
            ctx.duck_skip = str(e)
            out(f"DuckDB: skipped: {e}")
        # PostGIS
        needs_pg = {"W1", "W3", "W4"} & set(args.only)
        if args.no_postgis:
            ctx.pg_skip = "--no-postgis"
        elif needs_pg:
            try:
                from _pg import throwaway_postgres

                t0 = time.perf_counter()
                ctx.pg_url = stack.enter_context(throwaway_postgres(PG_SETTINGS))
                import psycopg

                with psycopg.connect(ctx.pg_url, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION postgis")
                    pg, gis, geos = conn.execute("SELECT split_part(version(), ' on ', 1), postgis_lib_version(), "
                                                 "postgis_geos_version()").fetchone()
                out(f"{pg}, PostGIS {gis} (GEOS {geos}); throwaway cluster on 127.0.0.1 started in "
                    f"{time.perf_counter() - t0:.1f} s, fsync off, "
                    + ", ".join(f"{k}={v}" for k, v in PG_SETTINGS.items()) + f"; psycopg {psycopg.__version__}")
            except Exception as e:  # noqa: BLE001
                ctx.pg_url, ctx.pg_skip = None, f"{type(e).__name__}: {e}".strip().replace("\n", " ")
                out(f"PostGIS: skipped: {ctx.pg_skip}")
        t0 = time.perf_counter()
        ctx.demo = compile_demo()
        idx = ctx.demo.index
        out(f"zones: the demo layers compiled: {len(idx.zone_rule)} zones from {len(ctx.demo.catalog.rules)} rules "
            f"({len(idx.unbound)} unbound), {len(idx.pieces)} index pieces, compile {ctx.demo.compile_s:.2f} s "
            f"(with reading the layers {time.perf_counter() - t0:.2f} s)")
        out("Timings are wall clock on a shared machine: read the ratios. Every comparator's setup is outside its "
            "timed part and shown beside it.")
        out("")

        for w in args.only:
            t0 = time.perf_counter()
            try:
                tables = RUNNERS[w](ctx)
            except Exception as e:  # noqa: BLE001 — a workload that fails says so and the run goes on
                tables = [Table(f"{w} failed", ["error"], [[f"{type(e).__name__}: {e}".replace("\n", " ")]])]
                traceback.print_exc()
            for t in tables if isinstance(tables, list) else [tables]:
                out(t.render())
            load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
            out(f"({w} took {time.perf_counter() - t0:.0f} s; load average after it {load})")
            out("")

    out(f"total {time.perf_counter() - started:.0f} s")
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out.parts) + "\n", encoding="utf-8")
    print(f"written to {path}")


def _w1(ctx):
    import _w1_single

    return _w1_single.run(ctx)


def _w2(ctx):
    import _w2_http

    return _w2_http.run(ctx)


def _w3(ctx):
    import _w3_batch

    return _w3_batch.run(ctx)


def _w4(ctx):
    import _w4_shapes

    return _w4_shapes.run(ctx)


def _w5(ctx):
    import _w5_growth

    return _w5_growth.run(ctx)


RUNNERS = {"W1": _w1, "W2": _w2, "W3": _w3, "W4": _w4, "W5": _w5}

if __name__ == "__main__":
    os.environ.setdefault("NO_COLOR", "1")
    main()
