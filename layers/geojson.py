"""GeoJSON geometry input: structural checks with a precise location for every problem."""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely.geometry import shape

from ecozone.layers.errors import InvalidGeometry

SITE_TYPES = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
# Nesting depth of "coordinates" for each type: Point = a position, LineString = list of positions …
_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _bad(zh: str, en: str, where: str, **detail) -> InvalidGeometry:
    return InvalidGeometry(zh, en, field="geometry", where=where, **detail)


def _check_position(pos: Any, where: str) -> None:
    if not isinstance(pos, (list, tuple)) or len(pos) < 2 or len(pos) > 3:
        raise _bad("坐标点须为 [x, y] 数组", "A position must be an array [x, y]", where, value=repr(pos)[:80])
    for v in pos:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise _bad("坐标须为有限数值", "Coordinates must be finite numbers", where, value=repr(pos)[:80])


def _walk(coords: Any, depth: int, where: str) -> None:
    if depth == 0:
        _check_position(coords, where)
        return
    if not isinstance(coords, (list, tuple)) or not coords:
        raise _bad("coordinates 嵌套结构不符合几何类型", "coordinates nesting does not match the geometry type", where)
    for i, c in enumerate(coords):
        _walk(c, depth - 1, f"{where}[{i}]")


def _check_rings(gtype: str, coords: Any) -> None:
    polys = [coords] if gtype == "Polygon" else coords if gtype == "MultiPolygon" else []
    for p, rings in enumerate(polys):
        for r, ring in enumerate(rings):
            where = f"coordinates[{r}]" if gtype == "Polygon" else f"coordinates[{p}][{r}]"
            if len(ring) < 4:
                raise _bad("多边形的环至少需要 4 个点", "A polygon ring needs at least 4 positions", where)
            if list(ring[0][:2]) != list(ring[-1][:2]):
                raise _bad("多边形的环须首尾闭合", "A polygon ring must be closed (first position = last)", where)
    lines = [coords] if gtype == "LineString" else coords if gtype == "MultiLineString" else []
    for i, line in enumerate(lines):
        if len(line) < 2:
            where = "coordinates" if gtype == "LineString" else f"coordinates[{i}]"
            raise _bad("线至少需要 2 个点", "A line needs at least 2 positions", where)


def parse_site_geometry(obj: Any) -> shapely.Geometry:
    """A GeoJSON geometry object → shapely geometry, or InvalidGeometry saying what and where."""
    if not isinstance(obj, dict):
        raise _bad("geometry 须为 GeoJSON 几何对象", "geometry must be a GeoJSON geometry object", "geometry")
    gtype = obj.get("type")
    if gtype in ("Feature", "FeatureCollection"):
        raise _bad(
            f"geometry 须为 GeoJSON 几何对象，收到的是 {gtype}。请只传入要素的 geometry 成员"
            "（多个要素请使用批量筛查）。",
            f"geometry must be a GeoJSON geometry, but a {gtype} was sent. Send the feature's `geometry` member "
            "(use batch screening for several features).",
            "geometry.type", received=gtype,
        )
    if gtype not in SITE_TYPES:
        raise _bad(
            f"不支持的几何类型：{gtype}；可用 {', '.join(SITE_TYPES)}",
            f"Unsupported geometry type {gtype!r}; use one of {', '.join(SITE_TYPES)}",
            "geometry.type",
        )
    if "coordinates" not in obj:
        raise _bad("缺少 coordinates", "Missing coordinates", "geometry.coordinates")
    coords = obj["coordinates"]
    _walk(coords, _DEPTH[gtype], "coordinates")
    _check_rings(gtype, coords)
    geom = shape({"type": gtype, "coordinates": coords})
    geom = shapely.force_2d(geom)
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        raise _bad(
            f"几何无效：{reason}（如多边形自相交）。请修复后重试。",
            f"Invalid geometry: {reason} (e.g. a self-intersecting polygon). Please repair it.",
            "geometry.coordinates",
            reason=reason,
        )
    return geom
