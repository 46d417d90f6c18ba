"""Exact distances from sites to zone references, however long the reference.

GEOS measures a point against a line by visiting every segment: ≈50 µs for a river of 3,000
vertices, and a site near the Yangtze is tested against several such zones. Here every
reference is cut into *chunks* — lines into runs of at most ``MAX_CHUNK_SEGMENTS`` segments
(consecutive chunks share their end vertex), polygons into pieces that tile them, points kept
as they are — all held in one STRtree. The distance to a reference is the least distance to
its chunks, exactly; and since a caller only needs distances up to a limit (the zone's buffer
distance: beyond it the site is not in the zone), only the chunks within that limit are ever
measured.

A complement zone ("outside every park") reports how far its site is from a whole layer, with
no limit. That is measured only to the layer's parts whose envelope can hold the nearest
point: bounds from the envelopes decide, per point for many points and per cell of a coarse
grid for one.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import STRtree

from ecozone.zoning.cells import concat_ranges, first_of_runs
from ecozone.zoning.prepared import prepared_copy

MAX_CHUNK_SEGMENTS = 32
_MAX_CHUNK_VERTICES = 64  # polygon pieces
# `nearest` by parts: for at least this many points, on references of at most this many parts,
# in blocks of points.
_MANY_POINTS, _MAX_PARTS, _POINT_BLOCK = 64, 256, 4096
_PART_GRID = 64  # `nearest_point`'s grid: cells per side


def _slack(limit):
    """A candidate search's reach: a little beyond the limit, for a bound computed in floating
    point (an envelope corner, a box edge) can round past a distance GEOS computes exactly at
    it; the exact test against the limit is made on GEOS's distance."""
    return limit * (1 + 1e-9) + 1e-6


def _chunks(references: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split references into chunks; returns (chunks, owner of each chunk)."""
    from ecozone.zoning.index import subdivide  # the tiling the zone pieces use

    parts, which = shapely.get_parts(references, return_index=True)
    part_owner = owners[which]
    types = shapely.get_type_id(parts)
    out: list[np.ndarray] = []
    out_owner: list[np.ndarray] = []
    points = types == 0
    out.append(parts[points])
    out_owner.append(part_owner[points])
    lines = np.flatnonzero((types == 1) | (types == 2))
    if lines.size:
        xy, of = shapely.get_coordinates(parts[lines], return_index=True)
        n = np.bincount(of, minlength=lines.size)
        first = np.r_[0, np.cumsum(n)[:-1]]
        segs = np.maximum(n - 1, 0)
        per = -(-segs // MAX_CHUNK_SEGMENTS)  # chunks per line
        line_of_chunk = np.repeat(np.arange(lines.size), per)
        j = concat_ranges(np.zeros(lines.size, np.int64), per)
        start = first[line_of_chunk] + j * MAX_CHUNK_SEGMENTS
        length = np.minimum(MAX_CHUNK_SEGMENTS + 1, n[line_of_chunk] - j * MAX_CHUNK_SEGMENTS)
        coords = xy[concat_ranges(start, length)]
        out.append(shapely.linestrings(coords, indices=np.repeat(np.arange(per.sum()), length)))
        out_owner.append(part_owner[lines][line_of_chunk])
    polygons = np.flatnonzero(types == 3)
    if polygons.size:
        small = shapely.get_num_coordinates(parts[polygons]) <= _MAX_CHUNK_VERTICES
        out.append(parts[polygons[small]])
        out_owner.append(part_owner[polygons[small]])
        for i in polygons[~small]:
            pieces = subdivide(parts[i], _MAX_CHUNK_VERTICES)
            out.append(np.array(pieces, dtype=object))
            out_owner.append(np.full(len(pieces), part_owner[i]))
    return np.concatenate(out).astype(object), np.concatenate(out_owner).astype(np.int64)


def _gap_sq(x0, y0, x1, y1, b: np.ndarray) -> np.ndarray:
    """Squared distance from boxes [x0, x1] × [y0, y1] (a column of them; a point is a box of
    no size) to envelopes ``b`` (rows of xmin, ymin, xmax, ymax): a lower bound on the distance
    from any point of a box to the geometry inside an envelope. (Squares: np.hypot is slow.)"""
    gx = np.maximum(np.maximum(b[:, 0] - x1, x0 - b[:, 2]), 0)
    gy = np.maximum(np.maximum(b[:, 1] - y1, y0 - b[:, 3]), 0)
    return gx * gx + gy * gy


def _candidates(x0, y0, x1, y1, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box, envelope) index pairs where the envelope's geometry can hold the point nearest to
    a point of the box: its lower bound is within the least upper bound over all envelopes. An
    envelope is tight — each of its sides holds a vertex of its geometry — so the geometry is
    no farther from a point than the farther end of any one side; and the farthest a box's
    point is from an envelope corner is at a box corner."""
    far_x = [np.maximum(np.abs(x0 - b[:, i]), np.abs(x1 - b[:, i])) for i in (0, 2)]
    far_y = [np.maximum(np.abs(y0 - b[:, i]), np.abs(y1 - b[:, i])) for i in (1, 3)]
    corner = [[fx * fx + fy * fy for fy in far_y] for fx in far_x]  # squared, [x side][y side]
    upper = np.minimum(np.minimum(np.maximum(corner[0][0], corner[0][1]), np.maximum(corner[1][0], corner[1][1])),
                       np.minimum(np.maximum(corner[0][0], corner[1][0]), np.maximum(corner[0][1], corner[1][1])))
    reach = _slack(np.sqrt(upper.min(axis=1, keepdims=True)))
    return np.nonzero(_gap_sq(x0, y0, x1, y1, b) <= reach * reach)


def _least_by_key(key: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys, sorted, and the least ``d`` of each (a stable sort: timsort is fast
    on the nearly sorted keys callers pass)."""
    order = np.argsort(key, kind="stable")
    key, d = key[order], d[order]
    first = np.flatnonzero(first_of_runs(key))
    return key[first], np.minimum.reduceat(d, first)


class ReferenceChunks:
    """Distinct references, chunked and indexed, for distances up to a limit. (Many zones share
    one reference — a river named by several rules — so zones map to references, and a site's
    distance to a river is measured once.)"""

    def __init__(self, references: np.ndarray, reach_m: np.ndarray | None = None,
                 domain: tuple[float, float, float, float] | None = None):
        """``reach_m``: per reference, the farthest any zone measures from it (its largest
        buffer distance, metres); ``domain``: the bounds sites can be measured from (the
        index's extent)."""
        self.domain = domain
        self.references = np.asarray(references, dtype=object)
        self.n_refs = len(references)
        self.chunks, self.chunk_ref = _chunks(self.references, np.arange(self.n_refs))
        # In metric units: the projection's scale factor is within 1 % of 1 here, and the
        # exact test's slack is a micrometre; a limit beyond it takes the general path.
        self.reach = (np.zeros(self.n_refs) if reach_m is None else np.asarray(reach_m, dtype=float)) * 1.01 + 1.0
        self._index()

    def _index(self) -> None:
        self.tree = STRtree(self.chunks)
        # The chunks' envelopes grown by their reference's reach: the points a chunk may be
        # within a zone's distance of are exactly the points in its grown envelope that the
        # envelope distance test keeps, so points query this tree as they are (no box built
        # around each point).
        self.chunk_bounds = shapely.bounds(self.chunks).reshape(-1, 4)
        self._chunk_ref, self._chunk_bounds, self._reach = (  # lists: one point reads a few entries
            self.chunk_ref.tolist(), self.chunk_bounds.tolist(), self.reach.tolist())
        grow = self.reach[self.chunk_ref]
        self.reach_tree = STRtree(shapely.box(self.chunk_bounds[:, 0] - grow, self.chunk_bounds[:, 1] - grow,
                                              self.chunk_bounds[:, 2] + grow, self.chunk_bounds[:, 3] + grow))
        # Each reference's parts (the polygons of a layer's union), with their envelopes: how
        # `nearest` finds the parts worth measuring for many points.
        self.parts, part_of = shapely.get_parts(self.references, return_index=True)
        self.part_start = np.searchsorted(part_of, np.arange(self.n_refs + 1))
        self.part_bounds = shapely.bounds(self.parts).reshape(-1, 4)
        self._part_cells()

    def _part_cells(self) -> None:
        """For one point (`nearest_point`): a grid over the domain giving, per cell and per
        reference of several parts, the parts that can hold the nearest point of any point in
        the cell — those whose envelope comes within the least upper bound over the cell."""
        self.cell_parts: dict[int, tuple[list[int], list[int]]] = {}
        if self.domain is None:
            return
        x0, y0, x1, y1 = self.domain
        self.cell_size = max(x1 - x0, y1 - y0, 1.0) / _PART_GRID
        edges = np.arange(_PART_GRID + 1) * self.cell_size
        cx0, cy0 = np.meshgrid(x0 + edges[:-1], y0 + edges[:-1])  # row-major: cell = row * grid + col
        cx0, cy0 = cx0.reshape(-1, 1), cy0.reshape(-1, 1)
        cx1, cy1 = cx0 + self.cell_size, cy0 + self.cell_size
        for ref in range(self.n_refs):
            lo, hi = int(self.part_start[ref]), int(self.part_start[ref + 1])
            if not 1 < hi - lo <= _MAX_PARTS:
                continue
            cell, part = _candidates(cx0, cy0, cx1, cy1, self.part_bounds[lo:hi])
            # (lists: one point reads two entries)
            self.cell_parts[ref] = (np.searchsorted(cell, np.arange(_PART_GRID * _PART_GRID + 1)).tolist(),
                                    (part + lo).tolist())

    def __getstate__(self):  # pickled with the zone cache: geometries as WKB, the tree rebuilt
        return {"n_refs": self.n_refs, "chunk_ref": self.chunk_ref, "reach": self.reach, "domain": self.domain,
                "wkb": shapely.to_wkb(self.chunks), "ref_wkb": shapely.to_wkb(self.references)}

    def __setstate__(self, state):
        self.n_refs = state["n_refs"]
        self.chunk_ref = state["chunk_ref"]
        self.reach = state["reach"]
        self.domain = state["domain"]
        self.chunks = shapely.from_wkb(state["wkb"]) if len(state["wkb"]) else np.array([], dtype=object)
        self.references = shapely.from_wkb(state["ref_wkb"]) if len(state["ref_wkb"]) else np.array([], dtype=object)
        self._index()

    def _prepared(self, name: str = "references") -> np.ndarray:
        """This thread's prepared copies of the references or their parts (prepared geometries
        are not thread-safe; see zoning.prepared)."""
        return prepared_copy(self, name)

    def nearest_point(self, site: shapely.Geometry, point: tuple[float, float], ref: int) -> float:
        """`nearest` for one point site (x, y given): measured to the parts its grid cell lists."""
        cells = self.cell_parts.get(ref)
        if cells is not None:
            col = math.floor((point[0] - self.domain[0]) / self.cell_size)
            row = math.floor((point[1] - self.domain[1]) / self.cell_size)
            if 0 <= col < _PART_GRID and 0 <= row < _PART_GRID:
                ptr, parts = cells
                cell = row * _PART_GRID + col
                first, end = ptr[cell], ptr[cell + 1]
                prepared = self._prepared("parts")
                if end - first == 1:
                    return float(shapely.distance(site, prepared[parts[first]]))
                return min(shapely.distance(site, prepared[parts[first:end]]).tolist())
        return float(shapely.distance(site, self._prepared()[ref]))

    def nearest(self, sites, ref: int) -> np.ndarray:
        """Distance from each site to reference ``ref``, however far (no limit: a complement
        zone reports how far its site is from what it excludes). Many points are measured only
        to the parts of the reference that can hold their nearest point; otherwise GEOS's
        indexed facet distance to the whole reference."""
        sites = np.atleast_1d(np.asarray(sites, dtype=object))
        lo, hi = int(self.part_start[ref]), int(self.part_start[ref + 1])
        if sites.size >= _MANY_POINTS and hi - lo <= _MAX_PARTS and bool((shapely.get_type_id(sites) == 0).all()):
            return self._nearest_parts(sites, lo, hi)
        return shapely.distance(sites, self._prepared()[ref])

    def _nearest_parts(self, points: np.ndarray, lo: int, hi: int) -> np.ndarray:
        """Exact distances from points to parts lo:hi taken together, measuring each point only
        against the parts `_candidates` leaves."""
        xy = shapely.get_coordinates(points)
        b = self.part_bounds[lo:hi]
        out = np.empty(points.size)
        for s in range(0, points.size, _POINT_BLOCK):  # blocks bound the points × parts arrays
            x, y = xy[s:s + _POINT_BLOCK, :1], xy[s:s + _POINT_BLOCK, 1:]
            pi, pj = _candidates(x, y, x, y, b)
            d = shapely.distance(points[s + pi], self._prepared("parts")[lo + pj])
            out[s:s + x.shape[0]] = np.minimum.reduceat(d, np.flatnonzero(first_of_runs(pi)))
        return out

    def touches(self, sites: np.ndarray, ref: int) -> np.ndarray:
        """Whether each site intersects reference ``ref`` (points tested by x, y: no GEOS
        point objects read)."""
        prepared = self._prepared()[ref]
        if not (sites.size and bool((shapely.get_type_id(sites) == 0).all())):
            return shapely.intersects(sites, prepared)
        xy = shapely.get_coordinates(sites)
        out = np.zeros(sites.size, dtype=bool)
        lo, hi = int(self.part_start[ref]), int(self.part_start[ref + 1])
        if hi - lo <= _MAX_PARTS:  # only a point inside some part's envelope can touch it
            b = self.part_bounds[lo:hi]
            maybe = np.zeros(sites.size, dtype=bool)
            for x0, y0, x1, y1 in b.tolist():
                maybe |= (xy[:, 0] >= x0) & (xy[:, 0] <= x1) & (xy[:, 1] >= y0) & (xy[:, 1] <= y1)
            out[maybe] = shapely.intersects_xy(prepared, xy[maybe, 0], xy[maybe, 1])
            return out
        return shapely.intersects_xy(prepared, xy[:, 0], xy[:, 1])

    def distances_from(self, site: shapely.Geometry, refs: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """For one site: the distance to each reference in ``refs`` when at most the matching
        ``limit`` (exact), else inf."""
        if not refs.size:
            return np.empty(0)
        r = _slack(float(limit.max()))
        xmin, ymin, xmax, ymax = shapely.bounds(site).tolist()
        # Every point within r of the site lies in its box grown by r: the candidates.
        ci = self.tree.query(shapely.box(xmin - r, ymin - r, xmax + r, ymax + r))
        best = self._least_per_reference(site, ci.tolist())
        out = np.array([best.get(ref, np.inf) for ref in refs.tolist()])
        out[out > limit] = np.inf
        return out

    def distances_from_point(self, site: shapely.Geometry, point: tuple[float, float], refs: list[int],
                             limits: list[float]) -> list[float]:
        """`distances_from` for one point (x, y given; lists in and out: a check asks for a
        few): the chunks whose grown envelope holds the point, of the references asked, and
        whose envelope is within the limit."""
        reach: dict[int, float] = {}
        for ref, lim in zip(refs, limits):
            if lim > self._reach[ref]:  # beyond what the grown envelopes cover
                return self.distances_from(site, np.array(refs), np.array(limits)).tolist()
            reach[ref] = max(lim, reach.get(ref, 0.0))
        x, y = point
        ci = []
        for c in self.reach_tree.query(site).tolist():
            ref = self._chunk_ref[c]
            if ref in reach:
                x0, y0, x1, y1 = self._chunk_bounds[c]
                if math.hypot(max(x0 - x, x - x1, 0.0), max(y0 - y, y - y1, 0.0)) <= _slack(reach[ref]):
                    ci.append(c)
        best = self._least_per_reference(site, ci)
        distances = [best.get(ref, np.inf) for ref in refs]
        return [d if d <= lim else np.inf for d, lim in zip(distances, limits)]

    def _least_per_reference(self, site: shapely.Geometry, chunks: list[int]) -> dict[int, float]:
        """The least distance from the site to the given chunks, per reference."""
        best: dict[int, float] = {}
        if chunks:
            for c, d in zip(chunks, shapely.distance(site, self.chunks[chunks]).tolist()):
                ref = self._chunk_ref[c]
                if d < best.get(ref, np.inf):
                    best[ref] = d
        return best

    def distances(self, sites: np.ndarray, pair_site: np.ndarray, pair_ref: np.ndarray,
                  limit: np.ndarray) -> np.ndarray:
        """For each pair i: the distance from ``sites[pair_site[i]]`` to reference
        ``pair_ref[i]`` when at most ``limit[i]`` (exact), else inf."""
        out = np.full(pair_site.size, np.inf)
        if not pair_site.size:
            return out
        if bool((limit <= self.reach[pair_ref]).all()) and bool((shapely.get_type_id(sites[pair_site]) == 0).all()):
            return self._point_distances(sites, pair_site, pair_ref, limit)
        order = np.argsort(pair_site, kind="stable")
        starts = np.flatnonzero(first_of_runs(pair_site[order]))
        u = pair_site[order][starts]
        radius = _slack(np.maximum.reduceat(limit[order], starts))
        b = shapely.bounds(sites[u])
        boxes = shapely.box(b[:, 0] - radius, b[:, 1] - radius, b[:, 2] + radius, b[:, 3] + radius)
        qi, ci = self.tree.query(boxes)
        if not qi.size:
            return out
        site_key = u[qi] * self.n_refs + self.chunk_ref[ci]
        wanted = pair_site.astype(np.int64) * self.n_refs + pair_ref
        keep = np.isin(site_key, wanted)
        if not keep.any():
            return out
        site_key, qi, ci = site_key[keep], qi[keep], ci[keep]
        # (nearly sorted: the tree answers by site)
        keys, dmin = _least_by_key(site_key, shapely.distance(sites[u[qi]], self.chunks[ci]))
        pos = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
        found = keys[pos] == wanted
        out[found] = dmin[pos[found]]
        out[out > limit] = np.inf
        return out

    def clipped_distances(self, sites: np.ndarray, pair_site: np.ndarray, pair_clip: np.ndarray, clips,
                          pair_ref: np.ndarray, limit: np.ndarray) -> np.ndarray:
        """`distances`, where a pair with a clip (``pair_clip`` ≥ 0, into ``clips``: a zone's
        jurisdiction or sector) counts only the site's part inside it: that part decides whether
        the site is within the limit, and the whole site's distance is reported. Each (site,
        clip) is intersected once."""
        d = np.empty(pair_site.size)
        plain = pair_clip < 0
        d[plain] = self.distances(sites, pair_site[plain], pair_ref[plain], limit[plain])
        cut = np.flatnonzero(~plain)
        if cut.size:
            n_clips = len(clips)
            distinct, which = np.unique(pair_site[cut].astype(np.int64) * n_clips + pair_clip[cut], return_inverse=True)
            parts = shapely.intersection(sites[distinct // n_clips], np.asarray(clips, dtype=object)[distinct % n_clips])
            dc = self.distances(parts, which, pair_ref[cut], limit[cut])
            hit = np.isfinite(dc)
            dc[hit] = self.distances(sites, pair_site[cut][hit], pair_ref[cut][hit], limit[cut][hit])
            d[cut] = dc
        return d

    def _point_distances(self, sites: np.ndarray, pair_site: np.ndarray, pair_ref: np.ndarray,
                         limit: np.ndarray) -> np.ndarray:
        """`distances` for point sites, each limit within its reference's reach: the points
        query the tree of grown chunk envelopes, candidates are matched to the (site,
        reference) pairs asked by a search in their sorted keys, those whose chunk envelope is
        beyond the pair's largest limit are dropped in numpy, and GEOS measures the rest."""
        # (Sorts are stable, i.e. timsort: the batch passes pairs sorted by site.)
        by_key = np.argsort(pair_site.astype(np.int64) * self.n_refs + pair_ref, kind="stable")
        wanted = (pair_site.astype(np.int64) * self.n_refs + pair_ref)[by_key]
        new_key = first_of_runs(wanted)
        first = np.flatnonzero(new_key)
        keys = wanted[first]  # distinct (site, reference) pairs: several zones can share one
        key_of = np.empty(pair_site.size, dtype=np.int64)
        key_of[by_key] = np.cumsum(new_key) - 1
        key_limit = np.maximum.reduceat(limit[by_key], first)
        u = keys // self.n_refs
        u = u[first_of_runs(u)]
        qi, ci = self.reach_tree.query(sites[u])
        cand = u[qi].astype(np.int64) * self.n_refs + self.chunk_ref[ci]
        at = np.minimum(np.searchsorted(keys, cand), keys.size - 1)
        asked = keys[at] == cand
        key, ci = at[asked], ci[asked]
        xy = shapely.get_coordinates(sites[u])[qi[asked]]
        near = _gap_sq(xy[:, 0], xy[:, 1], xy[:, 0], xy[:, 1], self.chunk_bounds[ci]) <= _slack(key_limit[key]) ** 2
        key, ci = key[near], ci[near]
        best = np.full(keys.size, np.inf)
        if key.size:
            measured, dmin = _least_by_key(key, shapely.distance(sites[keys[key] // self.n_refs], self.chunks[ci]))
            best[measured] = dmin
        out = best[key_of]
        out[out > limit] = np.inf
        return out
