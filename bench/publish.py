"""Publishing a large layer: how long until a 100,000-polygon GeoPackage answers checks, beside
merely reading and writing the same file with pyogrio, measured in one run.

Workload: N small polygons (irregular 12-gons, 60–250 m across) scattered over the planned
districts, in EPSG:4545 as a bureau would send them, published as a new layer of ``--kind``
into a store that already holds the demo layers, through the same path as
``POST /v1/layers`` (read → validate → write version → compile the rules over that kind →
commit → swap). The stages are timed separately; ``visible`` is the whole publish, after
which the service answers from the new data version.

    python bench/publish.py [--features 100000] [--kind red_line] [--database-url postgresql://…]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely

from ecozone.layers.demo import load_demo_layers, read_demo_layer
from ecozone.layers.formats import read_upload
from ecozone.layers.validate import validate_layer
from ecozone.publishing import limits
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.zoning.catalog import load_catalog


def polygons(n: int, seed: int = 20261130) -> gpd.GeoDataFrame:
    """n irregular 12-gons inside the planned districts (vectorised; no per-feature loop)."""
    rng = np.random.default_rng(seed)
    districts = read_demo_layer("districts")
    region = shapely.union_all(districts[districts["code"].isin(["500102", "500156", "500238"])].geometry.to_numpy())
    w, s, e, nn = region.bounds
    shapely.prepare(region)
    centres = np.empty((0, 2))
    while len(centres) < n:
        cand = np.column_stack([rng.uniform(w, e, 2 * n), rng.uniform(s, nn, 2 * n)])
        centres = np.vstack([centres, cand[shapely.contains_xy(region, cand[:, 0], cand[:, 1])]])
    centres = centres[:n]
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 12)), axis=1)
    radius = rng.uniform(30, 125, (n, 1)) * rng.uniform(0.7, 1.0, (n, 12)) / 111_000
    ring = np.stack([centres[:, :1] + radius * np.cos(angles) / np.cos(np.radians(centres[:, 1:])),
                     centres[:, 1:] + radius * np.sin(angles)], axis=2)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    geoms = shapely.polygons(ring)
    frame = gpd.GeoDataFrame({"name": [f"图斑{i}" for i in range(n)]}, geometry=geoms, crs=4326)
    return frame.to_crs(4545)


def timed(label: str, fn, results: dict):
    t = time.perf_counter()
    out = fn()
    results[label] = time.perf_counter() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--features", type=int, default=100_000)
    ap.add_argument("--kind", default="red_line")
    ap.add_argument("--database-url", default=None, help="publish into this PostGIS database instead")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="ecozone-bench-") as tmp:
        tmp = Path(tmp)
        frame = polygons(args.features)
        r: dict[str, float] = {}
        path = tmp / "big.gpkg"
        timed("pyogrio write", lambda: pyogrio.write_dataframe(frame, path, layer="big", driver="GPKG"), r)
        timed("pyogrio read", lambda: pyogrio.read_dataframe(path), r)

        settings = Settings(data_dir=tmp / "data", database_url=args.database_url)
        from ecozone.service import open_store

        store = open_store(settings)
        if store.is_empty():
            load_demo_layers(store)
        service = Service(store, load_catalog(), cache_dir=tmp / "data" / "cache")
        before = service.snapshot.data_version

        upload = timed("read upload", lambda: read_upload(path, path.name), r)
        checked, report = timed("validate + to WGS84", lambda: validate_layer(args.kind, upload, limits=limits(settings)), r)
        # The store write and the compile happen inside one publish; time the compile through
        # the hook so that the store's share is the rest.
        compile_time = {}
        original = service._compile

        def measured(infos, staged):
            t = time.perf_counter()
            snap = original(infos, staged)
            compile_time["s"] = time.perf_counter() - t
            return snap

        service._compile = measured
        t = time.perf_counter()
        service.publish("bench_big", "bench", args.kind, checked, report.source_crs)
        r["store write + compile + commit"] = time.perf_counter() - t
        r["  of which compile"] = compile_time["s"]
        r["visible (read → answering)"] = r["read upload"] + r["validate + to WGS84"] + r["store write + compile + commit"]
        assert service.snapshot.data_version != before
        zones = int((service.snapshot.engine.index.zone_rule >= 0).sum())
        store.close()

    backend = "PostGIS" if args.database_url else "embedded"
    print(f"{args.features:,} polygons, kind {args.kind}, {backend} store; {zones:,} zones after publish")
    base = r["pyogrio read"] + r["pyogrio write"]
    print(f"{'stage':32} {'seconds':>8} {'× read+write':>13}")
    for k, v in r.items():
        print(f"{k:32} {v:8.2f} {v / base:13.2f}")


if __name__ == "__main__":
    main()
