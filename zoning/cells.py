"""Point lookups by a regular grid of cells, built once per data version.

An STRtree answers "which polygons contain this point" by walking the tree and then testing
every polygon whose box holds the point — about 20 µs a point here, most of it GEOS work on
polygons the point is deep inside. Most points, though, lie in a cell of the grid that no
polygon's boundary crosses: there the answer is known in advance (every polygon whose
interior holds the whole cell), and it is an array lookup. Only points in cells that a
boundary crosses are tested exactly, and only against the polygons that cross that cell.
The answer is the same as ``STRtree.query(point, predicate="intersects")`` (a test compares
them, boundaries and vertices included).

Cells are classified without a GEOS call per (polygon, cell): boundaries are densified to
half a cell and the cells each short piece of boundary can pass through are marked *crossed*
(conservatively — a crossed cell only costs an exact test); each remaining cell in a polygon's
bounding box is wholly inside or wholly outside it, which one point-in-polygon test of its
centre decides, for all cells at once.
"""

from __future__ import annotations

import math

import numpy as np
import shapely


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)]), vectorised."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    keep = lengths > 0
    starts, lengths = np.asarray(starts, dtype=np.int64)[keep], lengths[keep]
    step = np.ones(total, dtype=np.int64)
    heads = np.cumsum(lengths)[:-1]
    step[0] = starts[0]
    step[heads] = starts[1:] - (starts[:-1] + lengths[:-1] - 1)
    return np.cumsum(step)


def first_of_runs(*keys: np.ndarray) -> np.ndarray:
    """On arrays sorted by ``keys``: True where a new run of equal keys starts."""
    n = keys[0].size
    first = np.zeros(n, dtype=bool)
    if n:
        first[0] = True
        for k in keys:
            first[1:] |= k[1:] != k[:-1]
    return first


def _distinct(a: np.ndarray) -> np.ndarray:
    """Sorted distinct values (np.unique's hash path is several times slower on large int arrays)."""
    a = np.sort(a)
    return a[first_of_runs(a)]


class CellIndex:
    """Which of a fixed set of (prepared) polygons each point intersects. Holds only arrays (it
    is pickled with the zone cache); the geometries are passed to each query."""

    def __init__(self, geoms: np.ndarray, target_cells: int = 1_000_000):
        geoms = np.asarray(geoms, dtype=object)
        bounds = shapely.bounds(geoms) if geoms.size else np.zeros((0, 4))
        if geoms.size:
            x0, y0 = bounds[:, 0].min(), bounds[:, 1].min()
            w, h = bounds[:, 2].max() - x0, bounds[:, 3].max() - y0
            size = max(float(np.sqrt(max(w * h, 1.0) / target_cells)), 1.0)
        else:
            x0 = y0 = 0.0
            w = h = 0.0
            size = 1.0
        self.origin = (float(x0), float(y0))
        self.size = size
        # +1: a point on the grid's far edge falls in a last column/row of its own.
        self.nx = int(np.floor(w / size)) + 1
        self.ny = int(np.floor(h / size)) + 1
        cells, items, crossed = self._classify(geoms, bounds)
        order = np.lexsort((crossed, cells))  # per cell: polygons holding it wholly first
        cells, items, crossed = cells[order], items[order], crossed[order]
        # Each cell's polygons are items[ptr[c]:ptr[c + 1]], the crossed ones from crossed_from[c]
        # (int32: the zone cache holds these arrays, and no grid has 2³¹ entries).
        self.ptr = np.searchsorted(cells, np.arange(self.nx * self.ny + 1)).astype(np.int32)
        self.crossed_from = np.searchsorted(cells * 2 + crossed, np.arange(self.nx * self.ny) * 2 + 1).astype(np.int32)
        self.items = items.astype(np.int32)
        self.crossed = crossed

    def _cell_of(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        cx = np.floor((np.asarray(x, dtype=float) - self.origin[0]) / self.size).astype(np.int64)
        cy = np.floor((np.asarray(y, dtype=float) - self.origin[1]) / self.size).astype(np.int64)
        return cx, cy

    def _classify(self, geoms: np.ndarray, bounds: np.ndarray):
        n = geoms.size
        if n == 0:
            return (np.empty(0, np.int64),) * 2 + (np.empty(0, bool),)
        nx, ny = self.nx, self.ny
        # Cells a boundary may cross. Densified to half a cell, each piece of the boundary
        # between consecutive vertices has its ends in the same cell or in neighbours, and lies
        # in the block of cells between theirs (as floor() is monotone, no rounding can put a
        # point of the piece, or a query point beside it, in a cell outside that block): the
        # ends' cells, and for a diagonal step the two cells beside it.
        # (A point or line has no interior: its cells are all "crossed", found from the geometry itself.)
        outline = np.where(shapely.get_dimensions(geoms) == 2, shapely.boundary(geoms), geoms)
        boundary = shapely.segmentize(outline, self.size / 2)
        xy, owner = shapely.get_coordinates(boundary, return_index=True)
        cx, cy = self._cell_of(xy[:, 0], xy[:, 1])
        diagonal = np.flatnonzero((owner[1:] == owner[:-1]) & (np.abs(np.diff(cx)) == 1) & (np.abs(np.diff(cy)) == 1))
        o = np.r_[owner, owner[diagonal], owner[diagonal]]
        mx = np.r_[cx, cx[diagonal], cx[diagonal + 1]]
        my = np.r_[cy, cy[diagonal + 1], cy[diagonal]]
        ok = (mx >= 0) & (mx < nx) & (my >= 0) & (my < ny)
        crossed_keys = _distinct(o[ok] * (nx * ny) + my[ok] * nx + mx[ok])
        # Every cell of each polygon's bounding box.
        bx0, by0 = self._cell_of(bounds[:, 0], bounds[:, 1])
        bx1, by1 = self._cell_of(bounds[:, 2], bounds[:, 3])
        wx, wy = bx1 - bx0 + 1, by1 - by0 + 1
        per = wx * wy
        poly = np.repeat(np.arange(n), per)
        k = concat_ranges(np.zeros(n, np.int64), per)
        ccx = bx0[poly] + k % wx[poly]
        ccy = by0[poly] + k // wx[poly]
        keys = poly * (nx * ny) + ccy * nx + ccx
        at = np.minimum(np.searchsorted(crossed_keys, keys), max(crossed_keys.size - 1, 0))
        is_crossed = crossed_keys[at] == keys if crossed_keys.size else np.zeros(keys.size, dtype=bool)
        # The rest are wholly inside or outside: test the centre.
        rest = np.flatnonzero(~is_crossed)
        inside = shapely.contains_xy(
            geoms[poly[rest]],
            self.origin[0] + (ccx[rest] + 0.5) * self.size,
            self.origin[1] + (ccy[rest] + 0.5) * self.size,
        )
        keep = is_crossed.copy()
        keep[rest[inside]] = True
        return (ccy * nx + ccx)[keep], poly[keep], is_crossed[keep]

    def query_point(self, geoms: np.ndarray, x: float, y: float) -> np.ndarray:
        """The polygons one point intersects (the single-site path: no per-point arrays)."""
        cx = math.floor((x - self.origin[0]) / self.size)
        cy = math.floor((y - self.origin[1]) / self.size)
        if not (0 <= cx < self.nx and 0 <= cy < self.ny):
            return np.empty(0, dtype=np.int32)
        cell = cy * self.nx + cx
        lo, mid, hi = int(self.ptr[cell]), int(self.crossed_from[cell]), int(self.ptr[cell + 1])
        if mid == hi:
            return self.items[lo:mid]
        test = self.items[mid:hi]
        return np.concatenate([self.items[lo:mid], test[shapely.intersects_xy(geoms[test], x, y)]])

    def query(self, geoms: np.ndarray, x, y) -> tuple[np.ndarray, np.ndarray]:
        """(point index, polygon index) for every point that intersects a polygon (its interior
        or boundary), as STRtree.query(points, predicate="intersects") gives them."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        y = np.atleast_1d(np.asarray(y, dtype=float))
        cx, cy = self._cell_of(x, y)
        inside = (cx >= 0) & (cx < self.nx) & (cy >= 0) & (cy < self.ny)
        pts = np.flatnonzero(inside)
        cell = cy[pts] * self.nx + cx[pts]
        lo, hi = self.ptr[cell].astype(np.int64), self.ptr[cell + 1].astype(np.int64)
        point_i = np.repeat(pts, hi - lo)
        slot = concat_ranges(lo, hi - lo)
        poly_i = self.items[slot].astype(np.int64)
        test = self.crossed[slot]
        if test.any():
            t = np.flatnonzero(test)
            hit = shapely.intersects_xy(geoms[poly_i[t]], x[point_i[t]], y[point_i[t]])
            keep = ~test
            keep[t[hit]] = True
            point_i, poly_i = point_i[keep], poly_i[keep]
        return point_i, poly_i
