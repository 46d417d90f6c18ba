"""W4 — polygon sites (overlap areas) and routes (chainage) through Engine.evaluate_metric,
beside PostGIS computing the same areas and lengths in one set-based query each."""

from __future__ import annotations

import numpy as np
import shapely

from _common import Stopwatch, Table, random_points_in, ratio, time_each
from _zones_sql import EPS_M

# The zones a site is in (pieces met, then the exact test for buffered zones on the part of the
# site inside the zone's clip, as Engine._exact does), with the site's distance to each.
_IN_ZONES = f"""
FROM sites s
JOIN LATERAL (SELECT DISTINCT p.owner FROM pieces p WHERE p.owner >= 0 AND ST_Intersects(p.geom, s.geom)) h ON true
JOIN zones z ON z.zone_id = h.owner
LEFT JOIN clips c ON c.clip_id = z.clip_id
WHERE z.within_m <= 0
   OR ST_DWithin(CASE WHEN z.clip_id >= 0 THEN ST_Intersection(s.geom, c.geom) ELSE s.geom END,
                 z.reference, (z.within_m + {EPS_M}) * s.k)
"""
# One row per (site, rule): the nearest zone (distance rounded to 0.1 m as findings are), then the
# largest overlap — the finding the engine reports — with ST_Area(ST_Intersection(site, region)).
PG_POLYGONS = f"""
CREATE TEMP TABLE w4_out AS
SELECT DISTINCT ON (id, rule_idx) id, rule_idx, zone_id, dist, area FROM (
  SELECT s.id, z.rule_idx, z.zone_id,
         GREATEST(ST_Distance(s.geom, z.reference) / s.k - z.half_width_m, 0) AS dist,
         ST_Area(ST_Intersection(s.geom, z.region)) / (s.k * s.k) AS area
  {_IN_ZONES}
) q ORDER BY id, rule_idx, round(dist::numeric, 1), area DESC
"""
# One row per (route, rule): the length of the route inside the union of the rule's zones (the
# regions are united first: a union of the cut lines does not dissolve overlaps that are not
# noded identically, and counts them twice).
PG_ROUTES = f"""
CREATE TEMP TABLE w4_out AS
SELECT s.id, z.rule_idx, ST_Length(ST_Intersection(s.geom, ST_Union(z.region))) / s.k AS length
{_IN_ZONES}
GROUP BY s.id, z.rule_idx
"""


def polygon_sites(demo, n: int, seed: int = 20261203) -> np.ndarray:
    """Rotated rectangles of 1–10 ha (aspect 1–3) centred in the planned districts, metric."""
    from ecozone.zoning.metric import to_metric

    rng = np.random.default_rng(seed)
    c = shapely.get_coordinates(to_metric(random_points_in(demo.planned, n, seed=seed)))
    area = rng.uniform(1e4, 1e5, n)
    aspect = rng.uniform(1, 3, n)
    a, b = np.sqrt(area * aspect) / 2, np.sqrt(area / aspect) / 2
    th = rng.uniform(0, np.pi, n)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)], dtype=float)
    dx = corners[None, :, 0] * a[:, None]
    dy = corners[None, :, 1] * b[:, None]
    x = c[:, :1] + dx * np.cos(th)[:, None] - dy * np.sin(th)[:, None]
    y = c[:, 1:] + dx * np.sin(th)[:, None] + dy * np.cos(th)[:, None]
    return shapely.polygons(np.stack([x, y], axis=2))


def routes(demo, n: int, seed: int = 20261204) -> np.ndarray:
    """Polylines of 2–20 km from a start in the planned districts: 4–20 legs, a wandering heading."""
    from ecozone.zoning.metric import to_metric

    rng = np.random.default_rng(seed)
    start = shapely.get_coordinates(to_metric(random_points_in(demo.planned, n, seed=seed)))
    out = []
    for i in range(n):
        legs = int(rng.integers(4, 21))
        length = rng.uniform(2_000, 20_000)
        steps = rng.dirichlet(np.ones(legs)) * length
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0, 0.5, legs))
        xy = start[i] + np.vstack([[0, 0], np.cumsum(np.column_stack([np.cos(heading), np.sin(heading)]) * steps[:, None], 0)])
        out.append(shapely.linestrings(xy))
    return np.array(out, dtype=object)


def _load_sites(conn, geoms, k) -> None:
    conn.execute("DROP TABLE IF EXISTS sites")
    conn.execute("CREATE TEMP TABLE sites (id int PRIMARY KEY, k float8, geom geometry(Geometry, 4545))")
    with conn.cursor() as cur:
        with cur.copy("COPY sites FROM STDIN") as cp:
            hexes = shapely.to_wkb(shapely.set_srid(geoms, 4545), hex=True, include_srid=True)
            for i, (kk, h) in enumerate(zip(k.tolist(), hexes)):
                cp.write_row((i, kk, h))
    conn.execute("CREATE INDEX ON sites USING gist (geom)")
    conn.execute("ANALYZE sites")


def run(ctx) -> Table:
    from ecozone.zoning.metric import site_scale

    demo, args = ctx.demo, ctx.args
    engine = demo.engine
    rule_index = {r.id: i for i, r in enumerate(demo.catalog.rules)}
    t = Table("W4 polygon sites and routes, every rule (project_type none)",
              ["sites", "path", "n", "median ms/site", "p99 ms/site", "mean ms/site", "total s", "PostGIS ÷ ours (mean)",
               "setup (untimed) / notes"])
    with Stopwatch() as sw:
        polys = polygon_sites(demo, args.polygons)
        lines = routes(demo, args.routes)
    gen_s = sw.s
    for s in polys[:50]:
        engine.evaluate_metric(s, None)
    answers: dict[str, list] = {"polygons": [], "routes": []}
    ours_mean = {}
    for kind, geoms, what in (("polygons", polys, "findings with overlap areas"),
                             ("routes", lines, "findings with chainage segments")):
        us = time_each(lambda g, kind=kind: answers[kind].append(engine.evaluate_metric(g, None)), geoms) / 1000.0
        ours_mean[kind] = float(np.mean(us))
        label = (f"{kind}: 1–10 ha rectangles" if kind == "polygons" else f"{kind}: 2–20 km polylines")
        t.add(label, f"ours: Engine.evaluate_metric ({what})", len(geoms), float(np.median(us)),
              float(np.percentile(us, 99)), float(np.mean(us)), float(np.sum(us)) / 1000, "",
              f"sites generated in {gen_s:.1f} s" if kind == "polygons" else
              f"mean length {np.mean(shapely.length(lines)) / 1000:.1f} km")

    if ctx.pg_url is None:
        t.add("polygons / routes", "PostGIS", "", f"skipped: {ctx.pg_skip}", "", "", "", "", "")
        return t
    import psycopg

    from _zones_sql import load_postgis

    with psycopg.connect(ctx.pg_url, autocommit=True) as conn:
        with Stopwatch() as sw:
            load_postgis(conn, demo.index)
        zones_s = sw.s
        for kind, geoms, sql in (("polygons", polys, PG_POLYGONS), ("routes", lines, PG_ROUTES)):
            with Stopwatch() as sw:
                _load_sites(conn, geoms, site_scale(geoms))
            setup = sw.s
            conn.execute("DROP TABLE IF EXISTS w4_out")
            with Stopwatch() as sw:
                conn.execute(sql)
            rows = conn.execute("SELECT * FROM w4_out").fetchall()
            n = len(geoms)
            what = ("ST_Area(ST_Intersection(site, zone region)), nearest zone per rule" if kind == "polygons" else
                    "ST_Length(ST_Intersection(route, ST_Union(zone regions))) per rule")
            t.add(f"{kind}", f"PostGIS: one query, {what}", n, "", "", sw.s * 1e3 / n, sw.s,
                  ratio(sw.s * 1e3 / n, ours_mean[kind]),
                  f"zones loaded {zones_s:.1f} s, {n:,} sites COPYed + GiST {setup:.1f} s; per-site = total ÷ n")
            t.notes.append(_compare(kind, demo, answers[kind], rows, rule_index, geoms))
    t.notes.append("Ours is timed one site at a time (the API's path); PostGIS answers all sites in one set-based "
                   "query (its best case), so its ms/site is the query time ÷ n. Ours also gives verdicts, distances, "
                   "coverage and control units, and for routes exact chainage intervals (bisection on the distance "
                   "function, geodesic lengths); PostGIS measures the planar length inside the drawn zone polygon "
                   "(32 segments a quarter circle) ÷ k, so route lengths agree to metres, not centimetres.")
    return t


def _compare(kind, demo, evals, rows, rule_index, geoms) -> str:
    """Same (site, rule) sets? And the areas / lengths: how far apart."""
    ours: dict[tuple[int, int], float] = {}
    for i, ev in enumerate(evals):
        for f in ev.findings:
            r = rule_index[f.rule.id]
            if kind == "polygons":
                ours[(i, r)] = f.overlap_area_m2
            else:
                ours[(i, r)] = sum(b - a for a, b in (f.segments or ()))
    theirs = {(int(row[0]), int(row[1])): float(row[-1] or 0.0) for row in rows}
    only_o = sorted(set(ours) - set(theirs))
    only_t = sorted(set(theirs) - set(ours))
    common = sorted(set(ours) & set(theirs))
    diff = np.array([abs(ours[c] - theirs[c]) for c in common]) if common else np.zeros(0)
    ref = np.array([max(abs(theirs[c]), 1.0) for c in common]) if common else np.zeros(0)
    unit = "m²" if kind == "polygons" else "m"
    msg = (f"{kind} agreement with PostGIS: {len(common):,} (site, rule) pairs in both, {len(only_o)} only ours, "
           f"{len(only_t)} only PostGIS")
    if diff.size:
        big = (diff > (1.0 if kind == "polygons" else 10.0)) & (diff / ref > (1e-4 if kind == "polygons" else 5e-3))
        msg += (f"; |{'area' if kind == 'polygons' else 'length'} ours − PostGIS| median {np.median(diff):.3g} {unit}, "
                f"max {diff.max():.3g} {unit}; {int(big.sum())} pairs beyond "
                + ("1 m² and 0.01 %" if kind == "polygons" else "10 m and 0.5 %"))
        if big.any():
            j = int(np.argmax(np.where(big, diff, -1)))
            i, r = common[j]
            msg += (f" (e.g. site {i} rule {demo.catalog.rules[r].id}: ours {ours[common[j]]:.1f}, PostGIS "
                    f"{theirs[common[j]]:.1f}; WKT {shapely.to_wkt(geoms[i], rounding_precision=2)[:200]})")
    for label, keys in (("only ours", only_o), ("only PostGIS", only_t)):
        for i, r in keys[:2]:
            msg += f"; {label}: site {i} rule {demo.catalog.rules[r].id}"
    return msg
