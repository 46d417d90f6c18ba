"""Single-site check latency, in process, beside its floor.

Workload: 10,000 random points uniformly inside the five demo jurisdictions, one check at a
time. Side by side in one run, on the same compiled zones:

  floor      bare ``STRtree.query(point, predicate="intersects")`` over the zone pieces —
             the least any indexed point-in-zone answer can cost here;
  metric     ``Engine.evaluate_metric`` on a pre-projected point (exact tests, distances,
             per-rule dedup, verdict);
  full       ``Engine.evaluate`` on a WGS84 point (adds the projection to EPSG:4545);
  response   full + the JSON view the API returns (``evaluation_json``).

Machines here are shared and noisy: read the ratios, not the absolute microseconds.

    python bench/single_check.py [--points 10000] [--project-type heavy_chemical]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import shapely

from _common import random_points_in, time_each  # bench/_common.py, shared with bench/run.py

from ecozone.layers.demo import DEMO_LAYERS, read_demo_layer
from ecozone.views import evaluation_json
from ecozone.zoning.catalog import load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex
from ecozone.zoning.metric import to_metric


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--project-type", default="heavy_chemical")
    args = ap.parse_args()

    catalog = load_catalog()
    layers = [LayerFeatures(lid, name, kind, read_demo_layer(lid)) for lid, name, kind in DEMO_LAYERS]
    t0 = time.perf_counter()
    index = ZoneIndex(catalog, layers)
    compile_s = time.perf_counter() - t0
    engine = Engine(index)
    districts = next(layer for layer in layers if layer.kind == "district").frame
    # Only where a plan is loaded: 綦江区 ships without one, and its sites answer not_covered at once.
    planned = districts[districts["code"].astype(str).isin({p.jurisdiction_code for p in catalog.plans})]
    points = random_points_in(shapely.union_all(planned.geometry.to_numpy()), args.points)
    metric_points = to_metric(points)
    pt = args.project_type

    # warm-up (imports, caches, transformer set-up)
    for p in points[:200]:
        engine.evaluate(p, pt)

    runs = {
        "floor: STRtree.query": time_each(lambda p: index.tree.query(p, predicate="intersects"), metric_points),
        "metric: evaluate_metric": time_each(lambda p: engine.evaluate_metric(p, pt), metric_points),
        "full: evaluate (WGS84)": time_each(lambda p: engine.evaluate(p, pt), points),
        "response: + JSON view": time_each(
            lambda p: evaluation_json(engine.evaluate(p, pt), p, "bench", None, "EPSG:4326"), points
        ),
    }
    verdicts = [engine.evaluate(p, pt).verdict for p in points[:2000]]

    print(f"zones: {len(index.zone_rule)} from {len(catalog.rules)} rules "
          f"({len(index.unbound)} unbound), pieces: {len(index.pieces)}, compile {compile_s:.2f} s")
    print(f"points: {len(points)} uniform in the five jurisdictions, project_type={pt}; "
          f"verdicts (first 2,000): " + ", ".join(f"{v} {verdicts.count(v)}" for v in sorted(set(verdicts))))
    floor = statistics.median(runs["floor: STRtree.query"])
    print(f"{'workload':28s} {'median µs':>10s} {'p99 µs':>10s} {'× floor (median)':>17s}")
    for name, us in runs.items():
        med, p99 = float(np.median(us)), float(np.percentile(us, 99))
        print(f"{name:28s} {med:10.1f} {p99:10.1f} {med / floor:17.1f}")


if __name__ == "__main__":
    main()
