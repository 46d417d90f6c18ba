"""What every benchmark workload shares: the compiled demo zones, random sites in the planned
districts, a per-call timer, the zones exported as SQL tables, and the plain-text tables the
harness prints."""

from __future__ import annotations

import gc
import os
import platform
import time
from dataclasses import dataclass, field

import numpy as np
import shapely


# --- the zones ----------------------------------------------------------------------------
@dataclass
class Demo:
    catalog: object
    layers: list
    index: object
    engine: object
    planned: shapely.Geometry  # WGS84 union of the districts a plan is loaded for
    compile_s: float


def compile_demo(layers=None) -> Demo:
    """The demo layers compiled as the service compiles them (``ZoneIndex(catalog, layers)``)."""
    from ecozone.layers.demo import DEMO_LAYERS, read_demo_layer
    from ecozone.zoning.catalog import load_catalog
    from ecozone.zoning.engine import Engine
    from ecozone.zoning.index import LayerFeatures, ZoneIndex

    catalog = load_catalog()
    if layers is None:
        layers = [LayerFeatures(lid, name, kind, read_demo_layer(lid)) for lid, name, kind in DEMO_LAYERS]
    t0 = time.perf_counter()
    index = ZoneIndex(catalog, layers)
    compile_s = time.perf_counter() - t0
    districts = next(layer for layer in layers if layer.kind == "district").frame
    # Only where a plan is loaded: 綦江区 ships without one, and its sites answer not_covered at once.
    planned = districts[districts["code"].astype(str).isin({p.jurisdiction_code for p in catalog.plans})]
    return Demo(catalog, layers, index, Engine(index), shapely.union_all(planned.geometry.to_numpy()), compile_s)


def random_points_in(polygon: shapely.Geometry, n: int, seed: int = 20261123) -> np.ndarray:
    """n points uniform inside a (lon/lat) polygon, fixed by the seed."""
    rng = np.random.default_rng(seed)
    xmin, ymin, xmax, ymax = polygon.bounds
    shapely.prepare(polygon)
    out: list[np.ndarray] = []
    got = 0
    while got < n:
        m = max(n, 1000)
        x, y = rng.uniform(xmin, xmax, m), rng.uniform(ymin, ymax, m)
        keep = shapely.contains_xy(polygon, x, y)
        out.append(shapely.points(x[keep], y[keep]))
        got += int(keep.sum())
    return np.concatenate(out)[:n]


def time_each(fn, items) -> np.ndarray:
    """Microseconds of ``fn(item)`` for each item, garbage collection paused."""
    gc.disable()
    try:
        out = np.empty(len(items))
        for i, item in enumerate(items):
            t0 = time.perf_counter_ns()
            fn(item)
            out[i] = time.perf_counter_ns() - t0
    finally:
        gc.enable()
    return out / 1000.0


class Stopwatch:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.s = time.perf_counter() - self.t0


# --- the zones as SQL tables (PostGIS and DuckDB load the same rows) ------------------------
def zone_rows(index, with_jurisdictions: bool = True):
    """(pieces, zones, clips) as column dicts with WKB geometries, metric (EPSG:4545)."""
    owner = index.piece_owner
    keep = np.ones(owner.size, dtype=bool) if with_jurisdictions else owner >= 0
    pieces = {"piece_id": np.flatnonzero(keep), "owner": owner[keep], "wkb": shapely.to_wkb(index.pieces[keep])}
    n = index.zone_rule.size
    zones = {
        "zone_id": np.arange(n), "rule_idx": index.zone_rule, "within_m": index.zone_within,
        "half_width_m": index.zone_half_width, "clip_id": index.zone_clip,
        "reference": shapely.to_wkb(index.zone_reference), "region": shapely.to_wkb(index.zone_region),
    }
    clips = {"clip_id": np.arange(len(index.clips)), "wkb": shapely.to_wkb(np.array(index.clips, dtype=object))}
    return pieces, zones, clips


# --- output -------------------------------------------------------------------------------
@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells) -> None:
        self.rows.append(list(cells))

    def render(self) -> str:
        cells = [[str(c) for c in self.columns]] + [[fmt(c) for c in r] for r in self.rows]
        widths = [max(len(r[i]) if i < len(r) else 0 for r in cells) for i in range(len(self.columns))]

        def line(r):
            out = []
            for i, w in enumerate(widths):
                c = r[i] if i < len(r) else ""
                out.append(c.ljust(w) if i == 0 or not _numeric(c) else c.rjust(w))
            return "| " + " | ".join(out) + " |"

        text = [f"### {self.title}", "", line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        text += [line(r) for r in cells[1:]]
        if self.notes:
            text.append("")
            text += [f"- {n}" for n in self.notes]
        return "\n".join(text) + "\n"


def _numeric(s: str) -> bool:
    return bool(s) and (s[0].isdigit() or s[0] in "-+.×") and not s.startswith("skipped")


def fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not np.isfinite(v):
            return "—"
        a = abs(v)
        if a >= 10_000:
            return f"{v:,.0f}"
        if a >= 100:
            return f"{v:.0f}"
        if a >= 10:
            return f"{v:.1f}"
        if a >= 1:
            return f"{v:.2f}"
        return f"{v:.3f}"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    return str(v)


def ratio(a, b) -> str:
    if a is None or b is None or not b or not np.isfinite(a) or not np.isfinite(b):
        return "—"
    r = a / b
    return f"{r:.1f}×" if r >= 0.95 else f"{r:.2g}×"


# --- machine facts ------------------------------------------------------------------------
def machine_facts() -> list[str]:
    import sys

    import numpy
    import pyproj

    cpu = platform.processor() or "?"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    import subprocess
    from pathlib import Path

    import ecozone

    src = Path(ecozone.__file__).resolve().parent
    code = f"ecozone {ecozone.__version__} from {src}"
    head = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no", "--", "..", ],
                               capture_output=True, text=True).stdout.splitlines()
        dirty = [d for d in dirty if not d[3:].startswith(("bench/", "pyproject.toml"))]
        code += f", git {head.stdout.strip()}" + (f" + uncommitted changes in {len(dirty)} files outside bench/"
                                                  if dirty else " (clean outside bench/)")
    return [
        code,
        f"CPU: {cpu}, {os.cpu_count()} logical cores (affinity {len(os.sched_getaffinity(0))}), RAM {ram}, "
        f"load average at start {load}",
        f"{platform.system()} {platform.release()}, Python {sys.version.split()[0]}, numpy {numpy.__version__}, "
        f"shapely {shapely.__version__} (GEOS {shapely.geos_version_string}), pyproj {pyproj.__version__} "
        f"(PROJ {pyproj.proj_version_str})",
    ]
