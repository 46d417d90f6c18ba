"""Deriving the terrain zones from a 5,000 × 5,000 DEM: time and memory of each step.

Workload: a synthetic DEM (labelled synthetic: no real DEM is available offline) of 5,000 ×
5,000 cells of 30 m in EPSG:4545 (150 × 150 km around 108E 29.6N), with a meandering river
valley (river bed at ~100 m, sides rising ~0.35 near the river and levelling off ~800 m above
it) and hills of several wavelengths on top; the river is the line along the valley floor
(~200 km). Timed: `slope_degrees`, `slope_zones`, `drawdown_zones` (145–175 m) and
`viewshed_zones` (1.7 m observers every `--spacing` m along the river, 5 km, first ridge),
plus `zonal_stats` of a 1 km² site. Times (wall and this process's CPU time, which a
busy machine inflates less) come from a first, untraced pass with the process's peak RSS after
each step (ru_maxrss, monotonic over the run); a second pass measures each step's
tracemalloc peak (numpy's and Python's allocations; GDAL's own buffers are not traced), since
tracing slows the Python-heavy polygon steps.

    python bench/terrain.py [--size 5000] [--spacing 60] [--max-distance 5000] [--no-trace]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
import tracemalloc

import geopandas as gpd
import numpy as np
import shapely
from affine import Affine

from ecozone.layers.terrain import Dem, drawdown_zones, slope_degrees, slope_zones, viewshed_zones, zonal_stats
from ecozone.zoning.metric import to_lonlat, to_metric

CELL = 30.0
X0, Y_TOP = 425_000.0, 3_350_000.0


def river_y(x: np.ndarray, size: int) -> np.ndarray:
    yc = Y_TOP - CELL * size / 2
    span = CELL * size
    return yc + 0.10 * span * np.sin(2 * np.pi * (x - X0) / (0.55 * span)) + 0.015 * span * np.sin(2 * np.pi * (x - X0) / (0.12 * span))


def synthetic_dem(size: int, seed: int = 17) -> tuple[Dem, gpd.GeoDataFrame]:
    rng = np.random.default_rng(seed)
    z = np.empty((size, size), dtype=np.float32)
    xs = X0 + CELL * (np.arange(size) + 0.5)
    ry = river_y(xs, size)
    waves = [(150.0, 7000.0), (80.0, 3000.0), (40.0, 1200.0), (15.0, 450.0)]
    angles = rng.uniform(0, np.pi, len(waves))
    phases = rng.uniform(0, 2 * np.pi, len(waves))
    for r0 in range(0, size, 500):  # row blocks keep the float64 temporaries small
        ys = Y_TOP - CELL * (np.arange(r0, min(size, r0 + 500)) + 0.5)
        x, y = np.meshgrid(xs, ys)
        d = np.abs(y - ry[None, :])
        hills = sum(a * np.sin(2 * np.pi * (x * np.cos(t) + y * np.sin(t)) / lam + p)
                    for (a, lam), t, p in zip(waves, angles, phases))
        z[r0:r0 + len(ys)] = 100.0 + 800.0 * (1 - np.exp(-d / 2300.0)) + hills * (1 - np.exp(-d / 1500.0))
    transform = Affine(CELL, 0, X0, 0, -CELL, Y_TOP)
    line = shapely.LineString(np.column_stack([xs, ry]))
    rivers = gpd.GeoDataFrame({"name": ["合成河流"], "river_class": ["mainstem"]}, geometry=[to_lonlat(line)], crs=4326)
    return Dem(z, transform, "EPSG:4545"), rivers


def measure(label: str, fn, traced: bool):
    """Run fn once: its wall time untraced, or (traced) tracemalloc's peak during it."""
    if traced:
        tracemalloc.start()
    t, cpu = time.perf_counter(), time.process_time()
    out = fn()
    dt, dcpu = time.perf_counter() - t, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if traced:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{label:<38} traced peak {peak / 2**20:7.0f} MiB (under tracing {dt:6.1f} s)")
    else:
        print(f"{label:<38} {dt:7.2f} s wall {dcpu:7.2f} s CPU   max RSS so far {rss:5.0f} MiB")
    return out


def describe(frame: gpd.GeoDataFrame) -> str:
    if frame.empty:
        return "empty"
    parts = [f"{row.get('slope_class', row['name'])}: {shapely.get_num_geometries(g)} polygons, "
             f"{shapely.get_num_coordinates(g):,} vertices, {to_metric(g).area / 1e6:,.1f} km², "
             f"{'valid' if shapely.is_valid(g) else 'INVALID'}"
             for row, g in zip(frame.to_dict('records'), frame.geometry)]
    return "; ".join(parts)


def run(dem: Dem, rivers: gpd.GeoDataFrame, args, traced: bool) -> None:
    m = lambda label, fn: measure(label, fn, traced)  # noqa: E731
    say = (lambda text: None) if traced else print
    slope = m("slope_degrees (Horn)", lambda: slope_degrees(dem))
    say(f"  slope: mean {np.nanmean(slope):.1f}°, max {np.nanmax(slope):.1f}°, >25° {np.mean(slope > 25) * 100:.1f} % of cells")
    del slope
    zones = m("slope_zones (>25°, 15–25°)", lambda: slope_zones(dem))
    say("  " + describe(zones))
    del zones
    band = m("drawdown_zones (145–175 m)", lambda: drawdown_zones(dem, rivers))
    say("  " + describe(band))
    del band
    view = m(f"viewshed_zones ({args.spacing:g} m, {args.max_distance / 1000:g} km)",
             lambda: viewshed_zones(dem, rivers, max_distance_m=args.max_distance, observer_spacing_m=args.spacing))
    r = math.ceil(2 * math.pi * args.max_distance / CELL)
    n_obs = math.ceil(to_metric(rivers.geometry.iloc[0]).length / args.spacing) + 1
    say(f"  ~{n_obs} observers × {r} rays × {int(args.max_distance // CELL)} samples = "
        f"{n_obs * r * int(args.max_distance // CELL) / 1e6:,.0f} M samples; " + describe(view))
    del view
    site = to_lonlat(shapely.box(X0 + 60_000, Y_TOP - 70_000, X0 + 61_000, Y_TOP - 69_000))
    stats = m("zonal_stats (1 km² polygon)", lambda: zonal_stats(dem, site))
    say(f"  {stats}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=5000)
    ap.add_argument("--spacing", type=float, default=60.0, help="observer spacing along the river (m)")
    ap.add_argument("--max-distance", type=float, default=5000.0)
    ap.add_argument("--no-trace", action="store_true", help="skip the second, traced pass")
    args = ap.parse_args()

    dem, rivers = measure(f"build synthetic DEM {args.size}²", lambda: synthetic_dem(args.size), False)
    print(f"  DEM: {dem.z.shape[1]} × {dem.z.shape[0]} cells of {CELL:g} m, {dem.z.nbytes / 2**20:.0f} MiB float32, "
          f"z {np.nanmin(dem.z):.0f}–{np.nanmax(dem.z):.0f} m; river {to_metric(rivers.geometry.iloc[0]).length / 1000:.0f} km")
    print(f"-- timings (untraced; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start); "
          "RSS is the process's peak so far, the DEM included")
    run(dem, rivers, args, traced=False)
    if not args.no_trace:
        print("-- memory: tracemalloc peak of each step (numpy and Python allocations; not GDAL's own)")
        run(dem, rivers, args, traced=True)


if __name__ == "__main__":
    main()
