"""The compiled zones as tables in PostGIS and in DuckDB — the same rows on both sides:

  pieces(piece_id, owner, geom)   every STRtree piece: owner ≥ 0 a zone id, < 0 the
                                  jurisdiction −owner−1 (ZoneIndex.piece_owner)
  zones(zone_id, rule_idx, within_m, half_width_m, clip_id, reference, region)
  clips(clip_id, geom)            jurisdictions and downstream sectors (ZoneIndex.clips)

Geometries are EPSG:4545 metres. A site is in a zone when it meets one of the zone's pieces
and, for a buffered zone (within_m > 0), ST_DWithin(site, reference, (within_m + 1e-6) × k)
where k is the projection's point scale at the site (ecozone.zoning.metric.site_scale, passed in
by the caller: the engine compares distance / k with within_m, so the comparators must too)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from _common import zone_rows

EPS_M = 1e-6  # ecozone.zoning.engine._EPS_M: the slack of the exact distance test


def load_postgis(conn, index) -> None:
    pieces, zones, clips = zone_rows(index)
    conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    conn.execute("DROP TABLE IF EXISTS pieces, zones, clips")
    conn.execute("CREATE TABLE pieces (piece_id int PRIMARY KEY, owner int NOT NULL, geom geometry(Geometry, 4545))")
    conn.execute("CREATE TABLE zones (zone_id int PRIMARY KEY, rule_idx int, within_m float8, half_width_m float8, "
                 "clip_id int, reference geometry(Geometry, 4545), region geometry(Geometry, 4545))")
    conn.execute("CREATE TABLE clips (clip_id int PRIMARY KEY, geom geometry(Geometry, 4545))")
    with conn.cursor() as cur:
        with cur.copy("COPY pieces (piece_id, owner, geom) FROM STDIN") as cp:
            for row in zip(pieces["piece_id"].tolist(), pieces["owner"].tolist(), pieces["wkb"]):
                cp.write_row((row[0], row[1], _ewkb_hex(row[2])))
        with cur.copy("COPY zones FROM STDIN") as cp:
            for i in range(len(zones["zone_id"])):
                cp.write_row((int(zones["zone_id"][i]), int(zones["rule_idx"][i]), float(zones["within_m"][i]),
                              float(zones["half_width_m"][i]), int(zones["clip_id"][i]),
                              _ewkb_hex(zones["reference"][i]), _ewkb_hex(zones["region"][i])))
        with cur.copy("COPY clips FROM STDIN") as cp:
            for i, wkb in zip(clips["clip_id"].tolist(), clips["wkb"]):
                cp.write_row((i, _ewkb_hex(wkb)))
    conn.execute("CREATE INDEX ON pieces USING gist (geom)")
    conn.execute("CREATE INDEX ON pieces (owner)")
    conn.execute("ANALYZE pieces")
    conn.execute("ANALYZE zones")
    conn.execute("ANALYZE clips")


def _ewkb_hex(wkb: bytes) -> str:
    """WKB → hex EWKB with SRID 4545 (what a geometry(…, 4545) column takes from COPY text)."""
    import shapely

    return shapely.to_wkb(shapely.set_srid(shapely.from_wkb(wkb), 4545), hex=True, include_srid=True)


def copy_points_postgis(conn, table: str, ids: np.ndarray, xy: np.ndarray, k: np.ndarray) -> None:
    """A points table (id, k, geom) with a GiST index, loaded with COPY (CSV text, fast)."""
    conn.execute(f"DROP TABLE IF EXISTS {table}_in, {table}")
    conn.execute(f"CREATE UNLOGGED TABLE {table}_in (id int, x float8, y float8, k float8)")
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table}_in FROM STDIN (FORMAT csv)") as cp:
            step = 200_000
            for s in range(0, len(ids), step):
                buf = io.StringIO()
                np.savetxt(buf, np.column_stack([ids[s:s + step], xy[s:s + step], k[s:s + step]]),
                           fmt=["%d", "%.17g", "%.17g", "%.17g"], delimiter=",")
                cp.write(buf.getvalue())
    conn.execute(f"CREATE UNLOGGED TABLE {table} AS SELECT id, k, ST_Point(x, y, 4545) AS geom FROM {table}_in")
    conn.execute(f"DROP TABLE {table}_in")
    conn.execute(f"CREATE INDEX ON {table} USING gist (geom)")
    conn.execute(f"ANALYZE {table}")


def load_duckdb(con, index, rtree: bool = True) -> None:
    pieces, zones, clips = zone_rows(index)
    p = pd.DataFrame(pieces)
    z = pd.DataFrame(zones)
    c = pd.DataFrame(clips)
    con.register("pieces_df", p)
    con.register("zones_df", z)
    con.register("clips_df", c)
    con.execute("CREATE OR REPLACE TABLE pieces AS SELECT piece_id::INT AS piece_id, owner::INT AS owner, "
                "ST_GeomFromWKB(wkb) AS geom FROM pieces_df")
    con.execute("CREATE OR REPLACE TABLE zones AS SELECT zone_id::INT AS zone_id, rule_idx::INT AS rule_idx, within_m, "
                "half_width_m, clip_id::INT AS clip_id, ST_GeomFromWKB(reference) AS reference, "
                "ST_GeomFromWKB(region) AS region FROM zones_df")
    con.execute("CREATE OR REPLACE TABLE clips AS SELECT clip_id::INT AS clip_id, ST_GeomFromWKB(wkb) AS geom FROM clips_df")
    for name in ("pieces_df", "zones_df", "clips_df"):
        con.unregister(name)
    if rtree:
        con.execute("CREATE INDEX pieces_rtree ON pieces USING RTREE (geom)")


def load_points_duckdb(con, table: str, ids: np.ndarray, xy: np.ndarray, k: np.ndarray) -> None:
    df = pd.DataFrame({"id": ids.astype(np.int32), "x": xy[:, 0], "y": xy[:, 1], "k": k})
    con.register(f"{table}_df", df)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT id, k, ST_Point(x, y) AS geom FROM {table}_df")
    con.unregister(f"{table}_df")
