"""Mapbox vector tiles of every collection (layers and rule zones), Web Mercator.

Each tile is cut the way PostGIS's ``ST_AsMVTGeom(geom, ST_TileEnvelope(z, x, y), 4096, 256,
true)`` (PostGIS 3.3 with wagyu) cuts it — moved into the 4096-unit tile grid and snapped to it
(which is the per-zoom simplification: detail below a grid unit is dropped), then clipped to the
tile plus a 256-unit buffer (mapbox-vector-tile itself does not clip) — so the two give the same
features per tile and nearly always the same vertices (tests/test_tiles.py compares them on
PostGIS). Tiles are cached by the collection's version (a layer version or the data version) and
answered with an ETag; an empty tile is a 204.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from functools import lru_cache

import numpy as np
import shapely
from fastapi import APIRouter, Depends, Path, Request, Response
from pyproj import Transformer

from ecozone.collections import Collections
from ecozone.deps import get_service
from ecozone.errors import NotFound
from ecozone.service import Service

EXTENT = 4096
BUFFER = 256
MAX_ZOOM = 22
MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"


@lru_cache(maxsize=1)
def _tms():
    import morecantile

    return morecantile.tms.get("WebMercatorQuad")


@lru_cache(maxsize=2)
def _transformer(forward: bool) -> Transformer:
    return Transformer.from_crs(4326, 3857, always_xy=True) if forward else Transformer.from_crs(3857, 4326, always_xy=True)


class TileCache:
    """Encoded tiles by (collection version, z, x, y); versions are immutable, so never stale."""

    def __init__(self, size: int = 4096):
        self._tiles: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key in self._tiles:
                self._tiles.move_to_end(key)
                return self._tiles[key]
        return None

    def put(self, key, body: bytes) -> None:
        with self._lock:
            self._tiles[key] = body
            while len(self._tiles) > self._size:
                self._tiles.popitem(last=False)


def _basic_type(geoms: np.ndarray, dims: np.ndarray) -> np.ndarray:
    """Geometry collections (in place) reduced to their parts of the highest dimension
    (``dims``), as ST_AsMVTGeom does: an MVT feature is points, lines or polygons, never a mix."""
    for i in np.flatnonzero(shapely.get_type_id(geoms) == 7):
        parts = shapely.get_parts(shapely.get_parts(geoms[i]))  # collections, then multi-parts
        parts = parts[~shapely.is_empty(parts) & (shapely.get_dimensions(parts) == dims[i])]
        build = {0: shapely.multipoints, 1: shapely.multilinestrings}.get(int(dims[i]))
        geoms[i] = build(parts) if build else shapely.union_all(parts)
    return geoms


def _on_grid(geoms: np.ndarray) -> np.ndarray:
    """Valid on the unit grid, collapsed parts gone (GEOS's precision reducer). Rounding can
    leave a polygon self-intersecting in a way the reducer refuses; that one is made valid
    first (as wagyu would untangle it)."""
    try:
        return shapely.set_precision(geoms, 1.0)
    except shapely.errors.GEOSException:
        out = geoms.copy()
        for i, g in enumerate(geoms):
            try:
                out[i] = shapely.set_precision(g, 1.0)
            except shapely.errors.GEOSException:
                out[i] = shapely.set_precision(shapely.make_valid(g), 1.0)
        return out


def _through_hot_pixels(xy: np.ndarray, tree, pixels: np.ndarray) -> np.ndarray:
    """A ring (integer vertices) with every edge that passes through the closed unit square
    around another vertex routed through that vertex, in order along the edge."""
    segs = shapely.linestrings(np.stack([xy[:-1], xy[1:]], axis=1))
    si, pi = tree.query(segs, predicate="intersects")
    p, a, b = pixels[pi], xy[si], xy[si + 1]
    other = ~((p == a).all(axis=1) | (p == b).all(axis=1))
    if not other.any():
        return xy
    si, p, a, b = si[other], p[other], a[other], b[other]
    d = b - a
    t = ((p - a) * d).sum(axis=1) / (d * d).sum(axis=1)
    order = np.lexsort((t, si))
    si, p = si[order], p[order]
    pieces = np.split(p, np.searchsorted(si, np.arange(1, len(xy) - 1)))
    return np.concatenate([np.vstack([xy[k], pieces[k]]) for k in range(len(xy) - 1)] + [xy[-1:]])


def _even_odd(rings: list[np.ndarray]):
    """The region inside an odd number of the rings (wagyu's even-odd fill), valid, on the grid."""
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(
        [shapely.linestrings(r) for r in rings]))))
    if not len(faces):
        return shapely.Polygon()
    a = np.concatenate([r[:-1] for r in rings])
    b = np.concatenate([r[1:] for r in rings])
    pts = shapely.get_coordinates(shapely.point_on_surface(faces))
    px, py = pts[:, :1], pts[:, 1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        crossing_x = a[:, 0] + (py - a[:, 1]) * (b[:, 0] - a[:, 0]) / (b[:, 1] - a[:, 1])
    odd = (((a[:, 1] > py) != (b[:, 1] > py)) & (px < crossing_x)).sum(axis=1) % 2 == 1
    return shapely.set_precision(shapely.union_all(faces[odd]), 1.0) if odd.any() else shapely.Polygon()


def _wagyu_ring(xy: np.ndarray) -> np.ndarray | None:
    """A gridded ring as wagyu builds its edges from it: repeated points, and points in line
    with their neighbours (straight runs and back-and-forth spikes alike, around the closing
    point too), removed until none is left; None when fewer than three points remain."""
    pts = [tuple(p) for p in xy[:-1]]
    changed = True
    while changed and len(pts) >= 3:
        changed, i = False, 0
        while i < len(pts) and len(pts) >= 3:
            (ax, ay), (bx, by), (cx, cy) = pts[i - 1], pts[i], pts[(i + 1) % len(pts)]
            if (bx - ax) * (cy - by) - (by - ay) * (cx - bx) == 0:
                del pts[i]
                changed = True
            else:
                i += 1
    return np.array(pts + pts[:1], dtype=float) if len(pts) >= 3 else None


def _wagyu_small(geom):
    """A small or thin polygon (integer tile units) as wagyu would leave it. Both wagyu and
    GEOS snap-round with "hot pixels" — an edge passing through the unit square around a
    vertex is bent through that vertex — but GEOS's squares are half-open and wagyu's closed,
    so a sliver whose edge grazes a neighbouring vertex's pixel corner (every triangle of area
    ½, many of area 1 to 2) collapses in PostGIS and survives GEOS. Here the closed-square
    snapping is done first, then the rings are filled even-odd as wagyu fills them."""
    rings = [_wagyu_ring(shapely.get_coordinates(r))
             for part in shapely.get_parts(geom) for r in shapely.get_rings(part)]
    rings = [r for r in rings if r is not None]
    if not rings:
        return shapely.Polygon()
    pixels = np.unique(np.concatenate(rings), axis=0)
    tree = shapely.STRtree(shapely.box(pixels[:, 0] - 0.5, pixels[:, 1] - 0.5, pixels[:, 0] + 0.5, pixels[:, 1] + 0.5))
    return _even_odd([_through_hot_pixels(xy, tree, pixels) for xy in rings])


def tile_geometries(frame, z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame's geometries in tile units (y down), snapped to the grid and clipped with the
    buffer, and the row positions of those that survive.

    The steps are ST_AsMVTGeom's (PostGIS 3.3, ``mvt_geom`` with wagyu), in its order, so a
    tile holds the same features as PostGIS's and nearly always the very same vertices:

    1. a line or polygon whose bounding box is under half a grid unit both ways is dropped
       (PostGIS's shortcut, on the box it stores: float4, rounded outward);
    2. into tile units, every vertex rounded to the grid (``rint``);
    3. unless it already lies within the buffered tile, clipped to ``[-BUFFER, EXTENT +
       BUFFER]`` in grid units; the new vertices on the box edges are truncated toward zero
       for polygons (PostGIS hands wagyu integers by a C cast) and rounded for lines;
    4. made valid on the grid — by GEOS's snap-rounding, except for small or thin polygons,
       the only ones that can vanish there, which go through wagyu's stricter snapping
       (``_wagyu_small``).

    A feature that comes out empty or of a lower dimension (a polygon collapsed to a line, a
    line to a point) has vanished at this zoom and is dropped, as PostGIS drops it. Clipping
    after snapping (not before) matters: the crossing points on the box edges depend on the
    snapped far vertices, and rounding instead of truncating them shifts long edges by a unit.
    """
    left, bottom, right, top = _tms().xy_bounds(x, y, z)
    fwd = _transformer(True)
    geoms = np.asarray(frame.geometry.array)
    dims = shapely.get_dimensions(geoms)
    types = shapely.get_type_id(geoms)
    geoms = _basic_type(geoms.copy(), dims)
    merc = shapely.transform(geoms, lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    b = shapely.bounds(merc)  # step 1
    f4 = np.float32
    lo, hi = b[:, :2].astype(f4), b[:, 2:].astype(f4)
    lo = np.where(lo > b[:, :2], np.nextafter(lo, f4(-np.inf)), lo).astype(float)
    hi = np.where(hi < b[:, 2:], np.nextafter(hi, f4(np.inf)), hi).astype(float)
    tiny = (np.isin(types, (1, 3, 5, 6))
            & (hi[:, 0] - lo[:, 0] < (right - left) / EXTENT / 2) & (hi[:, 1] - lo[:, 1] < (top - bottom) / EXTENT / 2))
    sx, sy = EXTENT / (right - left), EXTENT / (top - bottom)
    grid = shapely.transform(merc, lambda xy: np.rint(np.column_stack([(xy[:, 0] - left) * sx, (top - xy[:, 1]) * sy])))
    lo, hi = -BUFFER, EXTENT + BUFFER
    bounds = shapely.bounds(grid)
    inside = (bounds[:, 0] >= lo) & (bounds[:, 1] >= lo) & (bounds[:, 2] <= hi) & (bounds[:, 3] <= hi)
    out = grid.copy()
    cut = np.flatnonzero(~inside & ~shapely.is_empty(grid))
    if cut.size:
        clipped = shapely.clip_by_rect(grid[cut], lo, lo, hi, hi)
        poly = dims[cut] == 2
        clipped[poly] = shapely.transform(clipped[poly], np.trunc)
        clipped[~poly] = shapely.transform(clipped[~poly], np.rint)
        out[cut] = clipped
    small = np.flatnonzero((dims == 2) & ~shapely.is_empty(out) & (shapely.area(out) <= shapely.length(out)))
    for i in small:
        out[i] = _wagyu_small(out[i])
    out = _basic_type(_on_grid(out), dims)
    keep = ~tiny & ~shapely.is_missing(out) & ~shapely.is_empty(out) & (shapely.get_dimensions(out) == dims)
    rows = np.flatnonzero(keep)
    return out[rows], rows


def encode_tile(frame, layer_name: str, z: int, x: int, y: int) -> bytes | None:
    import mapbox_vector_tile
    import pandas as pd

    geoms, rows = tile_geometries(frame, z, x, y)
    if not rows.size:
        return None
    # Column by column, not frame.iloc[rows].to_dict(): pandas' per-call overhead was most of
    # the time of a small tile.
    columns = [c for c in frame.columns if c != frame.geometry.name]
    values = [frame[c].to_numpy(dtype=object)[rows] for c in columns]
    features = [
        {"geometry": g, "properties": {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                                       for k, v in zip(columns, vals) if not pd.isna(v)}}
        for g, vals in zip(geoms, zip(*values))
    ]
    return mapbox_vector_tile.encode(
        [{"name": layer_name, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True,
                         "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid},
    )


def _lonlat_bbox(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    left, bottom, right, top = _tms().xy_bounds(x, y, z)
    # One grid unit more than the buffer: a vertex within half a unit outside it snaps onto it.
    pad = (right - left) * (BUFFER + 1) / EXTENT
    inv = _transformer(False)
    w, s = inv.transform(left - pad, bottom - pad)
    e, n = inv.transform(right + pad, top + pad)
    return max(w, -180.0), max(s, -85.06), min(e, 180.0), min(n, 85.06)


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 If-None-Match: a list of tags, weak ones compared weakly, or ``*``."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in (t[2:] if t.startswith("W/") else t for t in tags)


def tiles_router() -> APIRouter:
    router = APIRouter(prefix="/v1/tiles", tags=["tiles"])
    cache = TileCache()

    def collections(service: Service = Depends(get_service)) -> Collections:
        return Collections(service)

    @router.get("/{collection_id}/{z}/{x}/{y}.mvt", response_class=Response,
                responses={200: {"content": {MVT_MEDIA_TYPE: {}}}, 204: {"description": "empty tile"}})
    def tile(
        collection_id: str, request: Request,
        z: int = Path(..., ge=0, le=MAX_ZOOM), x: int = Path(..., ge=0), y: int = Path(..., ge=0),
        cols: Collections = Depends(collections),
    ) -> Response:
        if x >= 2 ** z or y >= 2 ** z:
            raise NotFound(f"瓦片 {z}/{x}/{y} 超出范围", f"Tile {z}/{x}/{y} is outside the grid", where="x,y")
        version = cols.get(collection_id).version
        etag = f'"{version}-{z}-{x}-{y}"'
        headers = {"ETag": etag, "Cache-Control": "public, max-age=60"}
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        key = (collection_id, version, z, x, y)
        body = cache.get(key)
        if body is None:
            frame = cols.features(collection_id, _lonlat_bbox(z, x, y))
            body = (encode_tile(frame, collection_id, z, x, y) if len(frame) else None) or b""
            cache.put(key, body)
        if not body:
            return Response(status_code=204, headers=headers)
        return Response(body, media_type=MVT_MEDIA_TYPE, headers=headers)

    @router.get("/{collection_id}/tilejson.json")
    def tilejson(collection_id: str, request: Request, cols: Collections = Depends(collections)) -> dict:
        c = cols.get(collection_id)
        base = str(request.base_url).rstrip("/")
        w, s, e, n = c.bbox
        frame = cols.features(collection_id)
        kinds = {"b": "Boolean", "i": "Number", "u": "Number", "f": "Number"}
        fields = {col: kinds.get(frame[col].dtype.kind, "String")
                  for col in frame.columns if col != frame.geometry.name}
        return {
            "tilejson": "3.0.0", "name": c.title["zh"], "description": c.description["zh"], "version": "1.0.0",
            "scheme": "xyz", "tiles": [f"{base}/v1/tiles/{c.id}/{{z}}/{{x}}/{{y}}.mvt"],
            "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": [w, s, e, n],
            "center": [(w + e) / 2, (s + n) / 2, 8],
            "vector_layers": [{"id": c.id, "fields": fields, "minzoom": 0, "maxzoom": MAX_ZOOM}],
        }

    return router
