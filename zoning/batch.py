"""Many sites at once: arrays of metric geometries in, a table out — the same answers as
single checks (a property test compares them), computed with bulk index queries.

One STRtree query for all sites gives every (site, zone piece) and (site, jurisdiction piece)
pair; buffered zones are then tested exactly, all pairs in one vectorised distance call
(against the part of the site inside the zone's clip, as Engine._exact does); rules are
filtered by project type with a rule × type lookup, and each site's verdict is the strictest
effect among its rules (grouped with numpy, no per-site Python). Rules that set others aside
(`overrides`) are applied per site, with the engine's own `set_aside`, only for the few sites
where an overriding rule meets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from ecozone.zoning.catalog import EFFECT_ORDER
from ecozone.zoning.engine import _EPS_M, NOT_COVERED, Engine, set_aside
from ecozone.zoning.metric import site_scale

_RANK = {e: i for i, e in enumerate(EFFECT_ORDER)}  # prohibited 0, restricted 1, notice 2
_PERMITTED = len(EFFECT_ORDER)
_VERDICTS = np.array(tuple(EFFECT_ORDER) + ("permitted",), dtype=object)


@dataclass
class BatchResult:
    verdict: np.ndarray  # str per site
    rule_ids: list[list[str]]  # binding rules per site, strictest first
    min_distance_m: np.ndarray  # to the nearest binding zone's reference (NaN when none)
    covered_ratio: np.ndarray


def evaluate_many(engine: Engine, sites: np.ndarray, project_type: tuple[str, ...] | None = None) -> BatchResult:
    """Evaluate metric sites (an object array of shapely geometries) for one project type."""
    idx = engine.index
    catalog = engine.catalog
    sites = np.asarray(sites, dtype=object)
    n = sites.size
    site_i, piece_i = idx.tree.query(sites, predicate="intersects")
    owner = idx.piece_owner[piece_i]

    # Coverage: which sites touch a planned jurisdiction, and by how much.
    jur = owner < 0
    planned_codes = np.array([c in idx.planned_codes for c in idx.jurisdiction_codes])
    touches_planned = np.zeros(n, dtype=bool)
    touches_planned[site_i[jur][planned_codes[-owner[jur] - 1]]] = True
    covered = np.where(touches_planned, 1.0, 0.0)
    extended = touches_planned & (shapely.get_dimensions(sites) > 0)
    if extended.any():
        ext = np.flatnonzero(extended)
        dims = shapely.get_dimensions(sites[ext])
        inside = shapely.contains_properly(idx.planned_region, sites[ext])
        part = ext[~inside]
        if part.size:
            measure = np.where(dims[~inside] == 2, shapely.area(sites[part]), shapely.length(sites[part]))
            cut = shapely.intersection(sites[part], idx.planned_region)
            got = np.where(dims[~inside] == 2, shapely.area(cut), shapely.length(cut))
            covered[part] = np.where(measure > 0, np.minimum(got / np.where(measure > 0, measure, 1), 1.0), 1.0)

    # Candidate (site, zone) pairs, deduplicated.
    pairs = np.unique(np.stack([site_i[~jur], owner[~jur]], axis=1), axis=0) if (~jur).any() else np.empty((0, 2), int)
    ps, pz = pairs[:, 0], pairs[:, 1]
    rule_of = idx.zone_rule[pz]
    if project_type is not None:
        binds = np.array([catalog.applies(r, project_type) for r in catalog.rules])
        keep = binds[rule_of]
        ps, pz, rule_of = ps[keep], pz[keep], rule_of[keep]
    # Exact distances (also what min_distance reports).
    k = site_scale(sites)
    within = idx.zone_within[pz]
    refs = idx.zone_reference[pz]
    parts = sites[ps]
    buffered = within > 0
    clipped = buffered & (shapely.get_type_id(parts) != 0) & (idx.zone_clip[pz] >= 0)
    if clipped.any():  # a line or polygon: only its part inside the zone's clip counts
        clips = np.array(idx.clips, dtype=object)
        parts = parts.copy()
        parts[clipped] = shapely.intersection(parts[clipped], clips[idx.zone_clip[pz][clipped]])
    d_raw = shapely.distance(parts, refs) / k[ps]
    inside = ~buffered | (np.nan_to_num(d_raw, nan=np.inf) <= within + _EPS_M)
    ps, pz, rule_of = ps[inside], pz[inside], rule_of[inside]
    dist = np.maximum(shapely.distance(sites[ps], idx.zone_reference[pz]) / k[ps] - idx.zone_half_width[pz], 0.0)

    # Per site: its rules (one per rule), strictest effect, nearest distance.
    effects = np.array([_RANK[r.effect] for r in catalog.rules])
    rule_ids_all = [r.id for r in catalog.rules]
    order = np.lexsort((dist, rule_of, ps))
    ps, rule_of, dist = ps[order], rule_of[order], dist[order]
    first = np.ones(ps.size, dtype=bool)
    first[1:] = (ps[1:] != ps[:-1]) | (rule_of[1:] != rule_of[:-1])
    ps, rule_of, dist = ps[first], rule_of[first], dist[first]

    overriding = {i for i, r in enumerate(catalog.rules) if r.overrides}
    rule_ids: list[list[str]] = [[] for _ in range(n)]
    best = np.full(n, _PERMITTED)
    min_dist = np.full(n, np.nan)
    if ps.size:
        starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])
        ends = np.r_[starts[1:], ps.size]
        for s, e in zip(starts, ends):
            site = int(ps[s])
            rules = rule_of[s:e].tolist()
            d = dist[s:e]
            if project_type is not None and overriding.intersection(rules):
                aside = set_aside(catalog, [catalog.rules[r] for r in rules], project_type)
                keep = [j for j, r in enumerate(rules) if catalog.rules[r].id not in aside]
                rules, d = [rules[j] for j in keep], d[keep]
            if not rules:
                continue
            eff = effects[rules]
            o = np.lexsort((d, eff))
            rule_ids[site] = [rule_ids_all[rules[j]] for j in o]
            best[site] = eff.min()
            min_dist[site] = float(np.min(d))
    verdict = _VERDICTS[best]
    verdict[covered <= 0] = NOT_COVERED
    return BatchResult(verdict, rule_ids, min_dist, covered)
