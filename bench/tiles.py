"""Vector tiles beside PostGIS, and OGC API – Features throughput, measured in one run.

Tiles: the demo layers go into an embedded store and into PostGIS; for ``red_lines`` and
``rivers`` at z8, z12 and z14 a fixed sample of tiles that hold data (found from points along
the features, seeded) is cut both ways:

* ecozone — the path ``GET /v1/tiles/{layer}/{z}/{x}/{y}.mvt`` takes on a cache miss: the
  collection's bbox read (``Collections.features``) and ``encode_tile`` (cut like
  ST_AsMVTGeom, then mapbox-vector-tile); the tile cache is not used;
* PostGIS — ``SELECT ST_AsMVT(q, layer, 4096, 'geom') FROM (SELECT ST_AsMVTGeom(ST_Transform(
  geom, 3857), ST_TileEnvelope(z, x, y), 4096, 256, true) AS geom, feature_id, properties
  FROM ecozone.features WHERE <layer, current content version> AND geom && ST_Transform(
  ST_TileEnvelope(z, x, y, margin => 256.0 / 4096), 4326)) q`` on one connection.

Each tile is cut ``--repeat`` times by each (after one warm-up pass); the per-tile median is
kept, and the median and 90th percentile over the sample are printed with their ratio.

OGC API – Features: ``ecozone serve`` is started on a free port over a fresh data directory
holding the demo layers plus a synthetic layer of ``--oapif-features`` small polygons (kind
red_line, so the server compiles zones for them at start); every items page of it is read with
``limit=1000`` over one keep-alive connection (as GDAL and QGIS do) and the features per second
are printed, with the keep-alive round trip of ``/ogc/conformance`` for scale.

    python bench/tiles.py [--tiles 40] [--repeat 3] [--oapif-features 20000]
                          [--database-url postgresql://…]

Without ``--database-url`` a throwaway PostgreSQL 15 + PostGIS cluster is started in a
temporary directory (``initdb``/``pg_ctl`` from ECOZONE_PG_BIN, /usr/lib/postgresql/15/bin or
``pg_config --bindir``; as the ``postgres`` user when run as root) and removed afterwards. With
it, the demo layers are published into that database (it must be empty or hold them already).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from _pg import PostgresUnavailable, free_port, throwaway_postgres  # bench/_pg.py, shared with bench/run.py

LAYERS = ("red_lines", "rivers")
ZOOMS = (8, 12, 14)


# --- tiles ----------------------------------------------------------------------------------
def sample_tiles(frame, zoom: int, n: int, seed: int = 20261130) -> list[tuple[int, int, int]]:
    """n tiles at this zoom that hold some of the frame: from points spread along the features
    (lines) or over their outlines and insides (polygons), fixed by the seed."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    rng = np.random.default_rng(seed + zoom)
    points = []
    for g in frame.geometry:
        outline = g if g.geom_type.endswith("LineString") else g.boundary
        points += [outline.interpolate(f, normalized=True) for f in rng.uniform(0, 1, 200)]
        if g.geom_type.endswith("Polygon"):
            w, s, e, nn = g.bounds
            cand = shapely.points(rng.uniform(w, e, 400), rng.uniform(s, nn, 400))
            points += list(cand[shapely.contains(g, cand)][:200])
    tiles = sorted({(zoom, t.x, t.y) for t in (tms.tile(p.x, p.y, zoom) for p in points)})
    if len(tiles) > n:
        tiles = [tiles[i] for i in sorted(rng.choice(len(tiles), n, replace=False))]
    return tiles


PG_MVT = """
    SELECT ST_AsMVT(q, %(layer)s, 4096, 'geom') FROM (
        SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4096, 256, true) AS geom,
               feature_id, properties
        FROM ecozone.features
        WHERE layer_id = %(layer)s AND version = %(version)s
          AND geom && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => 256.0 / 4096), 4326)
    ) q
"""


def per_tile_seconds(fn, tiles, repeat: int) -> tuple[list[float], list[int]]:
    for t in tiles:  # warm-up: frames cached, statements prepared, pages in the buffer cache
        fn(*t)
    times, sizes = [], []
    for t in tiles:
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            body = fn(*t)
            runs.append(time.perf_counter() - start)
        times.append(statistics.median(runs))
        sizes.append(len(body or b""))
    return times, sizes


def bench_tiles(args, tmp: Path, database_url: str) -> None:
    import psycopg

    from ecozone.collections import Collections
    from ecozone.layers.demo import load_demo_layers
    from ecozone.layers.store import EmbeddedStore
    from ecozone.layers.store.postgis import PostGISStore
    from ecozone.maps.tiles import _lonlat_bbox, encode_tile
    from ecozone.service import Service
    from ecozone.zoning.catalog import load_catalog

    embedded = EmbeddedStore(tmp / "embedded")
    load_demo_layers(embedded)
    collections = Collections(Service(embedded, load_catalog()))
    pg = PostGISStore(database_url)
    if pg.is_empty():
        load_demo_layers(pg)
    pg.close()

    with psycopg.connect(database_url) as conn:
        pg_version, postgis, wagyu = conn.execute(
            "SELECT split_part(version(), ',', 1), postgis_lib_version(), postgis_wagyu_version()").fetchone()
    print(f"{pg_version}, PostGIS {postgis} (wagyu {wagyu})\n")
    print(f"MVT tiles: a fixed sample of up to {args.tiles} data tiles per zoom, each cut {args.repeat}× "
          "(per-tile median); ms per tile")
    print(f"{'layer':10} {'z':>3} {'tiles':>5} {'feat/tile':>9} | {'ecozone med':>11} {'p90':>7} "
          f"{'(read':>6} {'cut+enc)':>8} | {'PostGIS med':>11} {'p90':>7} | {'ratio med':>9} {'p90':>6} | "
          f"{'KiB ours/PG':>11}")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for layer in LAYERS:
            version = conn.execute(
                "SELECT v.content_version FROM ecozone.layers l JOIN ecozone.layer_versions v "
                "ON v.layer_id = l.id AND v.version = l.current_version WHERE l.id = %s", (layer,)).fetchone()[0]
            frame = embedded.read(layer)
            for zoom in ZOOMS:
                tiles = sample_tiles(frame, zoom, args.tiles)

                def ours(z, x, y, layer=layer):
                    part = collections.features(layer, _lonlat_bbox(z, x, y))
                    return encode_tile(part, layer, z, x, y) if len(part) else None

                def postgis(z, x, y, layer=layer, version=version):
                    return conn.execute(PG_MVT, {"layer": layer, "version": version, "z": z, "x": x, "y": y},
                                        prepare=True).fetchone()[0]

                parts = {t: collections.features(layer, _lonlat_bbox(*t)) for t in tiles}

                def read_only(z, x, y, layer=layer):
                    collections.features(layer, _lonlat_bbox(z, x, y))

                def cut_only(z, x, y, layer=layer):
                    part = parts[(z, x, y)]
                    return encode_tile(part, layer, z, x, y) if len(part) else None

                t_ours, s_ours = per_tile_seconds(ours, tiles, args.repeat)
                t_read, _ = per_tile_seconds(read_only, tiles, args.repeat)
                t_cut, _ = per_tile_seconds(cut_only, tiles, args.repeat)
                t_pg, s_pg = per_tile_seconds(postgis, tiles, args.repeat)
                feats = np.mean([len(p) for p in parts.values()])
                m_o, m_p = statistics.median(t_ours) * 1e3, statistics.median(t_pg) * 1e3
                p_o, p_p = np.percentile(t_ours, 90) * 1e3, np.percentile(t_pg, 90) * 1e3
                m_r, m_c = statistics.median(t_read) * 1e3, statistics.median(t_cut) * 1e3
                print(f"{layer:10} {zoom:>3} {len(tiles):>5} {feats:>9.1f} | {m_o:>11.2f} {p_o:>7.2f} "
                      f"{m_r:>6.2f} {m_c:>8.2f} | "
                      f"{m_p:>11.2f} {p_p:>7.2f} | {m_o / m_p:>9.2f} {p_o / p_p:>6.2f} | "
                      f"{sum(s_ours) / 1024:>5.0f}/{sum(s_pg) / 1024:<5.0f}")


# --- OGC API – Features throughput ------------------------------------------------------------
def synthetic_polygons(n: int, seed: int = 20261130):
    """n small irregular 12-gons (60–250 m across) over the demo area, as GeoDataFrame."""
    import geopandas as gpd

    rng = np.random.default_rng(seed)
    centres = np.column_stack([rng.uniform(106.6, 108.0, n), rng.uniform(29.0, 30.0, n)])
    angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 12)), axis=1)
    radius = rng.uniform(30, 125, (n, 1)) * rng.uniform(0.7, 1.0, (n, 12)) / 111_000
    ring = np.stack([centres[:, :1] + radius * np.cos(angles) / np.cos(np.radians(centres[:, 1:])),
                     centres[:, 1:] + radius * np.sin(angles)], axis=2)
    ring = np.concatenate([ring, ring[:, :1]], axis=1)
    return gpd.GeoDataFrame({"name": [f"图斑{i}" for i in range(n)]}, geometry=shapely.polygons(ring), crs=4326)


def bench_oapif(args, tmp: Path) -> None:
    import httpx

    from ecozone.layers.demo import load_demo_layers
    from ecozone.layers.store import EmbeddedStore

    data = tmp / "serve"
    store = EmbeddedStore(data)
    load_demo_layers(store)
    if args.oapif_features:
        store.publish("bench_parcels", "bench parcels", "red_line", synthetic_polygons(args.oapif_features),
                      source_crs="EPSG:4326")
    store.close()
    port = free_port()
    env = {**os.environ, "ECOZONE_DATA_DIR": str(data), "NO_COLOR": "1"}
    env.pop("ECOZONE_DATABASE_URL", None)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", "from ecozone.cli import main; main()", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.perf_counter() - started > 900:
                sys.exit("ecozone serve did not start")
            time.sleep(0.2)
        print(f"\nOGC API – Features items over HTTP (`ecozone serve`, started in {time.perf_counter() - started:.1f} s), "
              "limit=1000, one keep-alive connection")
        with httpx.Client(base_url=base, timeout=120) as c:
            rtt = []
            for _ in range(20):
                start = time.perf_counter()
                c.get("/ogc/conformance")
                rtt.append(time.perf_counter() - start)
            print(f"keep-alive round trip of /ogc/conformance: median {statistics.median(rtt) * 1e3:.1f} ms")
            print(f"{'collection':16} {'features':>8} {'pages':>5} {'seconds':>8} {'features/s':>11}")
            names = ["red_lines", "rivers"] + (["bench_parcels"] if args.oapif_features else [])
            for name in names:
                best = None
                for _ in range(3):
                    start, n, pages = time.perf_counter(), 0, 0
                    url = f"/ogc/collections/{name}/items?limit=1000"
                    while url:
                        page = c.get(url).json()
                        n, pages = n + page["numberReturned"], pages + 1
                        url = next((l["href"] for l in page["links"] if l["rel"] == "next"), None)
                    elapsed = time.perf_counter() - start
                    best = min(best or elapsed, elapsed)
                print(f"{name:16} {n:>8} {pages:>5} {best:>8.3f} {n / best:>11,.0f}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tiles", type=int, default=40, help="tiles sampled per layer and zoom")
    ap.add_argument("--repeat", type=int, default=3, help="cuts of each tile (the median is kept)")
    ap.add_argument("--oapif-features", type=int, default=20_000, help="polygons in the synthetic OAPIF layer (0: none)")
    ap.add_argument("--database-url", default=None, help="a PostGIS database to use instead of a throwaway cluster")
    args = ap.parse_args()
    import pyproj

    import ecozone

    print(f"ecozone {ecozone.__version__}, Python {sys.version.split()[0]}, shapely {shapely.__version__} "
          f"(GEOS {shapely.geos_version_string}), PROJ {pyproj.proj_version_str}")
    with tempfile.TemporaryDirectory(prefix="ecozone-bench-tiles-") as tmp:
        tmp = Path(tmp)
        if args.database_url:
            bench_tiles(args, tmp, args.database_url)
        else:
            try:
                with throwaway_postgres() as url:
                    bench_tiles(args, tmp, url)
            except PostgresUnavailable as e:
                sys.exit(str(e))
        bench_oapif(args, tmp)


if __name__ == "__main__":
    main()
