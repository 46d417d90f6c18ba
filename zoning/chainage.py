"""Chainage along a linear site (a road, pipeline, power line): which intervals of it lie in a
rule's zone, in metres from its first vertex, as route designers read them (K3+250).

Chainage is geodesic: each straight piece of the metric line is given its geodesic length on
the ellipsoid (pyproj.Geod), so a position's chainage is the geodesic length of the route up to
it. Interval ends are exact at the rule's distance: a buffered zone's intervals are found on the
distance function itself (geodesic distance to the reference ≤ threshold), bracketed on a 1 m
grid inside the outer polygon and bisected to a centimetre, never read off a polygonal buffer;
jurisdiction and sector clips and unbuffered zones are exact polygons, intersected piece by
piece (so a route that crosses itself is still measured right).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import Geod

from ecozone.zoning.metric import scale_factor, to_lonlat

_STEP_M = 1.0  # sampling step for brackets of the distance function
_TOL_M = 0.01  # bisection tolerance


@lru_cache(maxsize=1)
def _geod() -> Geod:
    return Geod(ellps="GRS80")


@dataclass(frozen=True)
class Route:
    """A linear site as straight metric pieces with their geodesic lengths."""

    a: np.ndarray  # (n, 2) piece starts, metric
    b: np.ndarray  # (n, 2) piece ends
    metric_length: np.ndarray  # (n,)
    start_m: np.ndarray  # (n,) geodesic chainage at each piece's start
    length_m: float  # the whole route, geodesic

    @classmethod
    def of(cls, site_metric: shapely.Geometry) -> Route:
        parts = [p for p in shapely.get_parts(site_metric) if shapely.get_type_id(p) == 1]
        a, b = [], []
        for line in parts:
            xy = shapely.get_coordinates(line)
            a.append(xy[:-1])
            b.append(xy[1:])
        a, b = np.concatenate(a), np.concatenate(b)
        keep = np.any(a != b, axis=1)
        a, b = a[keep], b[keep]
        ll_a = shapely.get_coordinates(to_lonlat(shapely.points(a)))
        ll_b = shapely.get_coordinates(to_lonlat(shapely.points(b)))
        _, _, geodesic = _geod().inv(ll_a[:, 0], ll_a[:, 1], ll_b[:, 0], ll_b[:, 1])
        start = np.concatenate([[0.0], np.cumsum(geodesic)[:-1]])
        return cls(a, b, np.hypot(*(b - a).T), start, float(np.sum(geodesic)))

    @property
    def geodesic(self) -> np.ndarray:
        return np.diff(np.append(self.start_m, self.length_m))

    def chainage(self, piece: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.start_m[piece] + t * self.geodesic[piece]

    def point(self, piece: np.ndarray, t: np.ndarray) -> np.ndarray:
        return self.a[piece] + (self.b[piece] - self.a[piece]) * t[:, None]

    def inside(self, polygon: shapely.Geometry) -> list[tuple[int, float, float]]:
        """(piece, t0, t1) for every stretch of a piece inside the polygon."""
        pieces = shapely.linestrings(np.stack([self.a, self.b], axis=1))
        shapely.prepare(polygon)
        out = []
        for i in np.flatnonzero(shapely.intersects(polygon, pieces)):
            d = self.b[i] - self.a[i]
            for part in shapely.get_parts(shapely.intersection(pieces[i], polygon)):
                if shapely.get_type_id(part) != 1:
                    continue  # a touch at a point is no length
                xy = shapely.get_coordinates(part)
                t = np.clip(((xy - self.a[i]) @ d) / (d @ d), 0.0, 1.0)
                out.append((int(i), float(t.min()), float(t.max())))
        return out


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + _TOL_M:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out if hi - lo > _TOL_M]


def polygon_intervals(route: Route, polygon: shapely.Geometry) -> list[tuple[float, float]]:
    """Chainage intervals of the route inside an exact polygon."""
    return _merge([(float(route.chainage(np.array([i]), np.array([t0]))[0]),
                    float(route.chainage(np.array([i]), np.array([t1]))[0]))
                   for i, t0, t1 in route.inside(polygon)])


def distance_intervals(route: Route, reference: shapely.Geometry, within_m: float,
                       outer: shapely.Geometry) -> list[tuple[float, float]]:
    """Chainage intervals where the geodesic distance to ``reference`` is at most ``within_m``
    (metric distance / point scale, as the engine measures), searched inside ``outer`` (a
    polygon containing every such point; its own edges bound the intervals where it is cut)."""
    out = []
    for i, t0, t1 in route.inside(outer):
        span = (t1 - t0) * route.metric_length[i]
        n = max(int(np.ceil(span / _STEP_M)), 1)
        t = np.linspace(t0, t1, n + 1)
        piece = np.full(t.size, i)

        def excess(tt: np.ndarray, pp: np.ndarray = piece) -> np.ndarray:
            xy = route.point(pp[: tt.size], tt)
            d = shapely.distance(shapely.points(xy), reference) / scale_factor(xy[:, 0])
            return d - within_m

        f = excess(t)
        inside = f <= 0
        if not inside.any():
            continue
        # Brackets where the sign changes, bisected all at once.
        change = np.flatnonzero(inside[:-1] != inside[1:])
        lo, hi = t[change], t[change + 1]
        lo_in = inside[change]
        for _ in range(60):
            if not lo.size or np.max(hi - lo) * route.metric_length[i] <= _TOL_M:
                break
            mid = (lo + hi) / 2
            mid_in = excess(mid) <= 0
            same = mid_in == lo_in
            lo = np.where(same, mid, lo)
            hi = np.where(same, hi, mid)
        edges = (lo + hi) / 2
        # Walk the samples: runs of `inside`, cut at the refined edges.
        bounds = ([t0] if inside[0] else []) + edges.tolist()
        if inside[-1]:
            bounds.append(t1)
        for s0, s1 in zip(bounds[::2], bounds[1::2]):
            c = route.chainage(np.array([i, i]), np.array([s0, s1]))
            out.append((float(c[0]), float(c[1])))
    return _merge(out)


def zone_intervals(index, zone_ids, route: Route) -> list[tuple[float, float]]:
    """The route's chainage intervals inside any of these zones (of one rule)."""
    out: list[tuple[float, float]] = []
    for z in zone_ids:
        within = float(index.zone_within[z])
        if within <= 0:
            out.extend(polygon_intervals(route, index.zone_region[z]))
            continue
        # The zone's tree pieces tile its outer polygon already cut to its clip (jurisdiction
        # or sector), so the clip's edges bound the search exactly and the buffer's are refined.
        outer = shapely.union_all(index.pieces[index.piece_owner == z])
        out.extend(distance_intervals(route, index.zone_reference[z], within, outer))
    return _merge(out)


def stake(chainage_m: float) -> str:
    """K notation of Chinese route design: 3250.4 m → "K3+250"."""
    m = int(round(chainage_m))
    return f"K{m // 1000}+{m % 1000:03d}"
