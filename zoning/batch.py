"""Many sites at once: arrays of metric geometries in, a table out — the same answers as
single checks (a property test compares them), computed with bulk queries and no per-site
Python.

Points are looked up in the zone index's cell grid (zoning.cells: most answered by array
lookup, only points in cells a zone boundary crosses tested exactly); other sites take one
STRtree query for all. That gives every (site, zone) and (site, jurisdiction) pair; buffered
zones are then tested exactly, every pair at once, by distance to the reference's chunks near
the site (zoning.nearest; a line or polygon by its part inside the zone's clip, as
Engine._exact does); rules are filtered by project type, and each site's verdict is the
strictest effect among its rules (grouped with numpy). Rules that set others aside
(`overrides`) are applied, with the engine's own `set_aside`, only for the few sites where an
overriding rule meets. Rule-id lists are built per distinct list, not per site.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import shapely

from ecozone.zoning.catalog import EFFECT_ORDER
from ecozone.zoning.cells import first_of_runs
from ecozone.zoning.engine import _EPS_M, NOT_COVERED, Engine, set_aside
from ecozone.zoning.metric import site_scale

_RANK = {e: i for i, e in enumerate(EFFECT_ORDER)}  # prohibited 0, restricted 1, notice 2
_PERMITTED = len(EFFECT_ORDER)
_VERDICTS = np.array(tuple(EFFECT_ORDER) + ("permitted",), dtype=object)


@dataclass
class BatchResult:
    verdict: np.ndarray  # str per site
    min_distance_m: np.ndarray  # to the nearest binding zone's reference (NaN when none)
    covered_ratio: np.ndarray
    # Binding rules per site, strictest first: site i's are rule_lists[rule_list_of[i]].
    rule_list_of: np.ndarray
    rule_lists: list[tuple[str, ...]]
    # Asked for (per_rule=True): one row per (site, binding rule) — site index, rule id, distance
    # in metres from the site to that rule's nearest zone reference (0 inside an unbuffered zone).
    per_rule: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def rule_ids(self) -> list[list[str]]:
        return [list(self.rule_lists[i]) for i in self.rule_list_of.tolist()]

    @cached_property
    def rule_ids_joined(self) -> np.ndarray:
        """Per site, its rule ids joined by commas (as the result files carry them)."""
        return np.array([",".join(ids) for ids in self.rule_lists], dtype=object)[self.rule_list_of]


# Below this many sites a part is not worth a thread.
_MIN_THREAD_PART = 20_000
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(size: int) -> ThreadPoolExecutor:
    """A pool kept for the process: its threads keep the prepared copies of the pieces they
    made (ZoneIndex.prepared) from one chunk to the next."""
    pool = _POOLS.get(size)
    if pool is None:
        pool = _POOLS.setdefault(size, ThreadPoolExecutor(size, thread_name_prefix="ecozone-batch"))
    return pool


def evaluate_many(engine: Engine, sites: np.ndarray, project_type: tuple[str, ...] | None = None,
                  threads: int = 1, per_rule: bool = False) -> BatchResult:
    """Evaluate metric sites (an object array of shapely geometries) for one project type;
    ``per_rule``: also every (site, rule) distance.

    ``threads`` > 1 evaluates contiguous parts at once (shapely and numpy release the GIL for
    the heavy work; each thread prepares its own geometries, see zoning.prepared) — for points,
    the bulk case and the one tested on threads; other sites are evaluated on one."""
    sites = np.asarray(sites, dtype=object)
    parts = min(threads, sites.size // _MIN_THREAD_PART)
    if parts > 1 and bool((shapely.get_type_id(sites) == 0).all()):
        engine.index.warm()
        pool = _pool(parts)
        split = np.array_split(sites, parts)
        results = list(pool.map(lambda part: _evaluate(engine, part, project_type, per_rule), split))
        offsets = np.cumsum([0] + [len(r.rule_lists) for r in results[:-1]])
        starts = np.cumsum([0] + [len(part) for part in split[:-1]])
        return BatchResult(
            np.concatenate([r.verdict for r in results]),
            np.concatenate([r.min_distance_m for r in results]),
            np.concatenate([r.covered_ratio for r in results]),
            np.concatenate([r.rule_list_of + o for r, o in zip(results, offsets)]),
            [ids for r in results for ids in r.rule_lists],
            tuple(np.concatenate(c) for c in zip(*[(r.per_rule[0] + st, r.per_rule[1], r.per_rule[2])
                                                   for r, st in zip(results, starts)])) if per_rule else None,
        )
    return _evaluate(engine, sites, project_type, per_rule)


def _evaluate(engine: Engine, sites: np.ndarray, project_type: tuple[str, ...] | None,
              per_rule: bool = False) -> BatchResult:
    idx = engine.index
    catalog = engine.catalog
    n = sites.size
    site_i, piece_i = idx.query_many(sites)
    owner = idx.piece_owner[piece_i]

    # Coverage: which sites touch a planned jurisdiction, and by how much.
    jur = owner < 0
    planned_codes = np.array([c in idx.planned_codes for c in idx.jurisdiction_codes], dtype=bool)
    touches_planned = np.zeros(n, dtype=bool)
    touches_planned[site_i[jur][planned_codes[-owner[jur] - 1]]] = True
    covered = np.where(touches_planned, 1.0, 0.0)
    is_point = shapely.get_type_id(sites) == 0
    extended = touches_planned & ~is_point & (shapely.get_dimensions(sites) > 0)
    if extended.any():
        ext = np.flatnonzero(extended)
        dims = shapely.get_dimensions(sites[ext])
        inside = shapely.contains_properly(idx.prepared("planned_region"), sites[ext])
        part = ext[~inside]
        if part.size:
            measure = np.where(dims[~inside] == 2, shapely.area(sites[part]), shapely.length(sites[part]))
            cut = shapely.intersection(sites[part], idx.planned_region)
            got = np.where(dims[~inside] == 2, shapely.area(cut), shapely.length(cut))
            covered[part] = np.where(measure > 0, np.minimum(got / np.where(measure > 0, measure, 1), 1.0), 1.0)

    # Candidate (site, zone) pairs, deduplicated and sorted by site, then rule id, then zone:
    # so one rule's rows are contiguous (its nearest zone is found without a sort), and the
    # final order, strictest first, then nearest, then by rule id, is a stable sort by two keys.
    n_zones = max(len(idx.zone_rule), 1)
    rule_ids = np.array([r.id for r in catalog.rules], dtype=object)
    id_rank = np.argsort(np.argsort(rule_ids.astype(str)))
    zone_order = np.lexsort((np.arange(len(idx.zone_rule)), id_rank[idx.zone_rule]))
    zone_pos = np.empty_like(zone_order)
    zone_pos[zone_order] = np.arange(zone_order.size)
    # (stable: timsort, fast here, for the cell grid gives the pairs sorted by site already)
    key = np.sort(site_i[~jur].astype(np.int64) * n_zones + zone_pos[owner[~jur]], kind="stable")
    key = key[first_of_runs(key)]
    ps, pz = key // n_zones, zone_order[key % n_zones]
    rule_of = idx.zone_rule[pz]
    if project_type is not None:
        keep = catalog.binding_mask(project_type)[rule_of]
        ps, pz, rule_of = ps[keep], pz[keep], rule_of[keep]

    # Exact tests and the distances the answers report (geodesic metres to the reference's
    # edge): 0 in unbuffered zones, measured for buffered and complement ones.
    k = site_scale(sites)
    dist = np.zeros(ps.size)
    inside = np.ones(ps.size, dtype=bool)
    refs = idx.zone_ref[pz]
    buffered = np.flatnonzero(idx.zone_within[pz] > 0)
    if buffered.size:
        bs, bz = ps[buffered], pz[buffered]
        limit = (idx.zone_within[bz] + _EPS_M) * k[bs]
        # (a point's piece hit already places it inside the zone's clip)
        clip = np.where(is_point[bs], -1, idx.zone_clip[bz])
        d = idx.references.clipped_distances(sites, bs, clip, idx.clips, refs[buffered], limit)
        inside[buffered] = np.isfinite(d)
        dist[buffered] = np.maximum(d / k[bs] - idx.zone_half_width[bz], 0.0)
    ps, pz, rule_of, dist = ps[inside], pz[inside], rule_of[inside], dist[inside]

    # One row per (site, rule), at its nearest zone (ties: the first zone). (A complement rule
    # has one zone, so its distance, still unknown here, cannot change which zone is kept.)
    nearest = _nearest_per_rule(ps, rule_of, dist)
    ps, pz, rule_of, dist = ps[nearest], pz[nearest], rule_of[nearest], dist[nearest]

    overriding = np.array([bool(r.overrides) for r in catalog.rules])
    if project_type is not None and overriding[rule_of].any():
        drop = np.zeros(ps.size, dtype=bool)
        for site in np.unique(ps[overriding[rule_of]]).tolist():
            rows = np.flatnonzero(ps == site)
            aside = set_aside(catalog, [catalog.rules[r] for r in rule_of[rows].tolist()], project_type)
            drop[rows] = [catalog.rules[r].id in aside for r in rule_of[rows].tolist()]
        ps, pz, rule_of, dist = ps[~drop], pz[~drop], rule_of[~drop], dist[~drop]

    effects = np.array([_RANK[r.effect] for r in catalog.rules])
    n_eff = len(EFFECT_ORDER) + 1
    eff = effects[rule_of]
    dist = _complement_distances(idx, sites, k, ps, pz, eff, dist, every=per_rule)

    # Per site: strictest effect, nearest distance, and its rules strictest first, then nearest,
    # then by id.
    best = np.full(n, _PERMITTED)
    np.minimum.at(best, ps, eff)
    min_dist = np.full(n, np.inf)
    np.minimum.at(min_dist, ps, dist)
    min_dist[np.isinf(min_dist)] = np.nan
    order = _order_by_group_then_distance(ps * n_eff + eff, dist)  # as Engine._findings orders them
    ps, rule_of = ps[order], rule_of[order]
    rule_list_of, rule_lists = _rule_lists(n, ps, rule_of, rule_ids.tolist())
    verdict = _VERDICTS[best]
    verdict[covered <= 0] = NOT_COVERED
    rows = (ps, rule_ids[rule_of], dist[order]) if per_rule else None
    return BatchResult(verdict, min_dist, covered, rule_list_of, rule_lists, rows)


def _order_by_group_then_distance(group: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """The stable order by (group, dist) (dist ≥ 0), for groups that come nearly sorted and
    small: a stable sort by (group, dist > 0), then, in groups with several rows away from 0,
    those rows sorted by distance — all such groups of one size at once, as the rows of a
    matrix (np.lexsort over every row sorts by distance first, and costs more)."""
    key = group.astype(np.int64) * 2 + (dist > 0)
    order = np.argsort(key, kind="stable")
    if not order.size:
        return order
    key = key[order]
    starts = np.flatnonzero(first_of_runs(key))
    sizes = np.diff(np.r_[starts, order.size])
    away = np.flatnonzero((key[starts] & 1).astype(bool) & (sizes > 1))
    d = dist[order]
    for size in np.unique(sizes[away]).tolist():
        rows = starts[away[sizes[away] == size]][:, None] + np.arange(size)
        by_dist = np.take_along_axis(rows, np.argsort(d[rows], axis=1, kind="stable"), axis=1)
        order[rows] = order[by_dist]
    return order


def _nearest_per_rule(ps: np.ndarray, rule_of: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Rows to keep, on rows where each (site, rule)'s rows are contiguous: per (site, rule),
    the first row at the least distance (one pass over the runs, no sort)."""
    if not ps.size:
        return np.zeros(0, dtype=np.int64)
    first = first_of_runs(ps, rule_of)
    run_of = np.cumsum(first) - 1
    least = np.minimum.reduceat(dist, np.flatnonzero(first))
    at_least = np.flatnonzero(dist == least[run_of])
    return at_least[first_of_runs(run_of[at_least])]


def _complement_distances(idx, sites, k, ps, pz, eff, dist, every: bool = False) -> np.ndarray:
    """Fill in the distances of complement zones ("outside every park": measured to the nearest
    park) — only as far as the answer depends on them, for they are the costliest to measure
    (one GEOS distance to a whole layer's union per site). A site's answer uses a distance for
    its minimum and to order its rules of one effect. So the exact distance is measured where
    no other rule of the site is at 0 m (it may be the minimum), or where the site has another
    rule of that effect that is not at 0 m (the order needs the value); where the site's other
    rules of that effect are all at 0 m, only whether it is 0 too decides the order (a cheap
    intersects test; a positive distance is then kept as inf, which orders the same and cannot
    be the minimum, another rule being at 0); otherwise the value is never read. ``every``:
    measure them all (per-rule distances were asked for). Rows come sorted by site."""
    comp = idx.zone_complement[pz]
    if not comp.any():
        return dist
    dist = dist.copy()
    n_eff = len(EFFECT_ORDER) + 1
    known_zero = ~comp & (dist == 0)
    zero_other = np.zeros(sites.size, dtype=bool)
    zero_other[ps[known_zero]] = True
    # Per (site, effect): how many rows, and how many that are not known to be at 0 m.
    group = ps.astype(np.int64) * n_eff + eff
    rows_in = np.bincount(group, minlength=sites.size * n_eff)
    unsure_in = np.bincount(group[~known_zero], minlength=sites.size * n_eff)
    c = np.flatnonzero(comp)
    others_unsure = unsure_in[group[c]] - 1  # besides the row itself
    exact = ~zero_other[ps[c]] | (others_unsure > 0) | every
    zero_test = ~exact & (rows_in[group[c]] > 1)
    refs = idx.zone_ref[pz]
    for ref in np.unique(refs[c]).tolist():
        mine = refs[c] == ref
        e = c[mine & exact]
        dist[e] = idx.references.nearest(sites[ps[e]], ref) / k[ps[e]]
        z = c[mine & zero_test]
        dist[z] = np.where(idx.references.touches(sites[ps[z]], ref), 0.0, np.inf)
        dist[c[mine & ~exact & ~zero_test]] = np.inf
    return dist


def _rule_lists(n: int, ps: np.ndarray, rule_of: np.ndarray, rule_ids: list[str]):
    """Each site's ordered rule list as an index into the distinct lists. Each list is packed
    into int64 words (rule index + 1 in a few bits each; 0 pads, so a site with no rule is all
    zeros: the empty list), and the word rows are deduplicated by one lexsort."""
    if not ps.size:
        return np.zeros(n, dtype=np.int64), [()]
    starts = np.flatnonzero(first_of_runs(ps))
    counts = np.diff(np.r_[starts, ps.size])
    pos = np.arange(ps.size) - np.repeat(starts, counts)
    bits = max(int(len(rule_ids) + 1).bit_length(), 1)
    per_word = 63 // bits
    words = np.zeros((int(counts.max()) // per_word + 1, n), dtype=np.int64)
    word = pos // per_word
    packed = (rule_of.astype(np.int64) + 1) << (bits * (pos % per_word))
    same_word = np.flatnonzero(first_of_runs(ps, word))  # a site's rows for one word are contiguous
    words[word[same_word], ps[same_word]] = np.add.reduceat(packed, same_word)
    order = np.lexsort(words[::-1])
    sorted_words = words[:, order]
    new = np.zeros(n, dtype=bool)
    new[0] = True
    new[1:] = (sorted_words[:, 1:] != sorted_words[:, :-1]).any(axis=0)
    list_of = np.empty(n, dtype=np.int64)
    list_of[order] = np.cumsum(new) - 1
    mask = (1 << bits) - 1
    lists = []
    for col in sorted_words[:, new].T.tolist():
        codes = [(w >> (bits * j)) & mask for w in col for j in range(per_word)]
        lists.append(tuple(rule_ids[c - 1] for c in codes if c))
    return list_of, lists
