"""Geodesic helpers for tests: expected values come from pyproj.Geod, never from ecozone."""

from __future__ import annotations

import numpy as np
import shapely
from pyproj import Geod

GEOD = Geod(ellps="GRS80")


def geodesic_distance(lon: float, lat: float, geom: shapely.Geometry) -> float:
    """Geodesic distance from a point to a line, or to a polygon (0 inside), densified to ~5 m."""
    if geom.geom_type.endswith("Polygon") and shapely.Point(lon, lat).within(geom):
        return 0.0
    target = geom.boundary if geom.geom_type.endswith("Polygon") else geom
    xy = shapely.get_coordinates(shapely.segmentize(target, 0.00005))
    _, _, d = GEOD.inv(np.full(len(xy), lon), np.full(len(xy), lat), xy[:, 0], xy[:, 1])
    return float(d.min())


def site_beside(line: shapely.Geometry, anchor: tuple[float, float], metres: float, side: int):
    """Walk `metres` from the point of `line` nearest `anchor`, square to the line, on one side
    (+1 left of the line's direction, −1 right). Returns (lon, lat)."""
    d = line.project(shapely.Point(anchor))
    p, q = line.interpolate(d), line.interpolate(min(d + 0.002, line.length))
    if p.equals(q):
        p, q = line.interpolate(d - 0.002), line.interpolate(d)
    az, _, _ = GEOD.inv(p.x, p.y, q.x, q.y)
    lon, lat, _ = GEOD.fwd(p.x, p.y, az - 90 * side, metres)
    return float(lon), float(lat)
