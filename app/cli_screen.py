"""`ecozone screen FILE -o OUT`: screen a whole file of sites from the terminal, in-process
with a progress bar over chunks, or on a Dask cluster (`--dask` starts a LocalCluster,
`--dask tcp://scheduler:8786` uses a running one).

Both paths run ecozone.jobs' batch function over the same rows and give identical output: the
in-process one chunk by chunk, the Dask one over the partitions of a dask-geopandas frame,
with the compiled zones (the Engine) shipped to every worker once with
``client.scatter(engine, broadcast=True)`` and handed to ``map_partitions`` as a future.
Heavy libraries are imported inside the command, so `ecozone check` stays fast to start.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import typer

DASK_PARTITION_ROWS = 250_000
_FORMATS = {".gpkg": "gpkg", ".geojson": "geojson", ".json": "geojson", ".csv": "csv"}


def screen(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="Sites: CSV (lon/lat or WKT), GeoJSON, "
                                "GeoPackage, zipped Shapefile or KML; an optional project_type column per row"),
    output: Path = typer.Option(..., "-o", "--output", dir_okay=False,
                                help="Result file; its suffix picks the format: .gpkg, .geojson or .csv"),
    project_type: list[str] | None = typer.Option(
        None, "--project-type", "-t", metavar="TYPE",
        help="Code or Chinese name; repeat or comma-separate for several (a per-row project_type column overrides)",
    ),
    crs: str | None = typer.Option(None, help="The file's CRS when it carries none: EPSG code, GCJ02 or BD09"),
    table: str | None = typer.Option(None, "--layer", help="Table of a multi-table GeoPackage"),
    dask: str | None = typer.Option(
        None, "--dask", metavar="[SCHEDULER]",
        help="Run on Dask: alone (or `--dask local`), a LocalCluster on this machine; with a scheduler "
        "address (tcp://host:8786), that cluster (its workers need ecozone installed).",
    ),
    workers: int = typer.Option(2, min=1, max=256, help="LocalCluster worker processes (with a bare --dask)"),
    chunk_size: int | None = typer.Option(None, min=1, help="Sites per chunk (default: the batch_chunk_size "
                                          "setting, 50,000) or per Dask partition (default 250,000)"),
    threads: int = typer.Option(0, min=0, max=256, help="Threads evaluating points in process (0: one per "
                                "core)"),
) -> None:
    """Screen every site of a file (in-process, or on a Dask cluster); write one row per input
    feature with its attributes, site_id, verdict, rule_ids, min_distance_m and covered_ratio."""
    from ecozone.cli import _guard, _stderr, _usage_error, split_project_types  # cli imports this module

    fmt = _FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise _usage_error(f"无法由后缀判断输出格式：{output.name}（可用 .gpkg、.geojson、.csv）。",
                           f"Cannot tell the output format from {output.name!r}: use .gpkg, .geojson or .csv.")
    from ecozone.jobs import open_input, run_chunks, summary, write_result
    from ecozone.service import Service
    from ecozone.settings import Settings

    settings = Settings()
    # Dask partitions are larger than in-process chunks: every partition is a round trip
    # through the scheduler (on 2 cores, 4 partitions of 250k beat 20 of 50k by 2×).
    chunk = chunk_size or (DASK_PARTITION_ROWS if dask is not None else settings.batch_chunk_size)
    console = _stderr()
    started = time.perf_counter()
    with console.status("Loading the compiled zones…"):
        service = _guard(lambda: Service.open(settings))
    snapshot = service.snapshot
    types = _guard(lambda: split_project_types(project_type))
    with console.status(f"Reading {file.name}…"):
        inp = _guard(lambda: open_input(file, file.name, snapshot.engine, settings, crs=crs, project_type=types,
                                        table=table))
    read_s = time.perf_counter() - started
    with _progress(console) as progress:
        task = progress.add_task(f"Screening {inp.total:,} sites", total=inp.total)
        t0 = time.perf_counter()
        if dask is None:
            out = run_chunks(snapshot.engine, inp, chunk, lambda done: progress.update(task, completed=done),
                             threads=threads or len(os.sched_getaffinity(0)))
        else:
            out = _guard(lambda: screen_on_dask(snapshot.engine, inp, dask, workers, chunk,
                                                lambda n: progress.advance(task, n)))
        eval_s = time.perf_counter() - t0
    with console.status(f"Writing {output.name}…"):
        t0 = time.perf_counter()
        write_result(out, output, fmt)
        write_s = time.perf_counter() - t0
    total_s = time.perf_counter() - started
    from rich.table import Table

    table_out = Table(title=f"{file.name} → {output.name} · data_version {snapshot.data_version}")
    table_out.add_column("verdict")
    table_out.add_column("sites", justify="right")
    for verdict, n in summary(out).items():
        table_out.add_row(verdict, f"{n:,}")
    console.print(table_out)
    where = "in-process" if dask is None else f"dask {dask}"
    console.print(
        f"{len(out):,} sites in {total_s:.1f} s ({len(out) / total_s:,.0f} sites/s end to end; "
        f"read {read_s:.1f} s, screen {eval_s:.1f} s {where}, write {write_s:.1f} s)", highlight=False,
    )


def bare_dask_flag(args: list[str]) -> list[str]:
    """`ecozone screen … --dask` with no address means `--dask local` (Typer options cannot take
    an optional value): a bare --dask is one at the end or followed by another option."""
    if "screen" not in args:
        return args
    out = list(args)
    for i, a in enumerate(out):
        if a == "--dask" and (i + 1 == len(out) or out[i + 1].startswith("-")):
            out[i] = "--dask=local"
    return out


def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console, transient=False)


def screen_on_dask(engine, inp, scheduler: str, workers: int = 2, chunk_size: int = 50_000, on_part=None):
    """The same batch function over a dask-geopandas frame's partitions; returns the output
    rows in input order. ``scheduler`` "local" starts a LocalCluster of `workers` processes."""
    import dask
    import dask_geopandas
    import geopandas as gpd
    import pandas as pd
    from distributed import Client, LocalCluster, as_completed

    from ecozone.jobs import screen_part

    cluster = None
    # Strings stay the dtype the in-process path gives (not pyarrow strings), so output files match.
    with dask.config.set({"dataframe.convert-string": False}):
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout="30s")
            except (OSError, TimeoutError, ValueError) as e:
                from ecozone.layers.errors import InputError

                raise InputError(f"无法连接 Dask 调度器 {scheduler}：{e}", f"Cannot reach the Dask scheduler {scheduler}: {e}",
                                 field="dask", scheduler=scheduler) from None
        try:
            n_workers = max(len(client.scheduler_info().get("workers", {})), 1)
            engine_f = client.scatter(engine, broadcast=True)  # once, to every worker
            parts = max(math.ceil(inp.total / chunk_size), 2 * n_workers)
            ddf = dask_geopandas.from_geopandas(inp.frame, npartitions=parts)
            meta = screen_part(inp.frame.iloc[:0], engine, inp.spec)
            out = ddf.map_partitions(screen_part, engine_f, inp.spec, meta=meta)
            futures = client.compute(out.to_delayed())
            order = {f.key: i for i, f in enumerate(futures)}
            results = [None] * len(futures)
            for fut, frame in as_completed(futures, with_results=True):
                results[order[fut.key]] = frame
                if on_part is not None:
                    on_part(len(frame))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    frame = pd.concat(results) if results else meta
    return gpd.GeoDataFrame(frame, geometry=frame.geometry.name, crs="EPSG:4326")
