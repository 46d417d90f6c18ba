"""Mapbox vector tiles of every collection (layers and rule zones), Web Mercator.

Each tile is cut the way PostGIS's ``ST_AsMVTGeom(geom, ST_TileEnvelope(z, x, y), 4096, 256,
true)`` cuts it — clipped to the tile plus a 256-unit buffer (mapbox-vector-tile itself does not
clip), moved into the 4096-unit tile grid and snapped to it (which is the per-zoom
simplification: detail below a grid unit is dropped) — so the two give the same features per
tile (a test compares them). Tiles are cached by the collection's version (a layer version or the
data version) and answered with an ETag; an empty tile is a 204.
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
from ecozone.layers.errors import NotFound
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


def tile_geometries(frame, z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame's geometries in tile units (y down), clipped with the buffer and snapped to the
    grid, and the row positions of those that survive (ST_AsMVTGeom's semantics)."""
    left, bottom, right, top = _tms().xy_bounds(x, y, z)
    pad = (right - left) * BUFFER / EXTENT
    fwd = _transformer(True)
    merc = shapely.transform(frame.geometry.to_numpy(), lambda xy: np.column_stack(fwd.transform(xy[:, 0], xy[:, 1])))
    clipped = shapely.clip_by_rect(merc, left - pad, bottom - pad, right + pad, top + pad)
    sx, sy = EXTENT / (right - left), EXTENT / (top - bottom)
    local = shapely.transform(clipped, lambda xy: np.column_stack([(xy[:, 0] - left) * sx, (top - xy[:, 1]) * sy]))
    snapped = shapely.set_precision(local, 1.0)
    # A polygon that snaps to a line or a point has vanished at this zoom, as in PostGIS.
    dims = shapely.get_dimensions(merc)
    keep = ~shapely.is_empty(snapped) & (shapely.get_dimensions(snapped) == dims)
    rows = np.flatnonzero(keep)
    return snapped[rows], rows


def encode_tile(frame, layer_name: str, z: int, x: int, y: int) -> bytes | None:
    import mapbox_vector_tile

    geoms, rows = tile_geometries(frame, z, x, y)
    if not rows.size:
        return None
    columns = [c for c in frame.columns if c != frame.geometry.name]
    records = frame.iloc[rows][columns].to_dict("records")
    features = [
        {"geometry": g, "properties": {k: (v if isinstance(v, (int, float, str, bool)) else str(v))
                                       for k, v in rec.items() if v is not None and v == v}}
        for g, rec in zip(geoms, records)
    ]
    return mapbox_vector_tile.encode(
        [{"name": layer_name, "features": features}],
        default_options={"extents": EXTENT, "y_coord_down": True,
                         "on_invalid_geometry": mapbox_vector_tile.encoder.on_invalid_geometry_make_valid},
    )


def _lonlat_bbox(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    left, bottom, right, top = _tms().xy_bounds(x, y, z)
    pad = (right - left) * BUFFER / EXTENT
    inv = _transformer(False)
    w, s = inv.transform(left - pad, bottom - pad)
    e, n = inv.transform(right + pad, top + pad)
    return max(w, -180.0), max(s, -85.06), min(e, 180.0), min(n, 85.06)


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
        if request.headers.get("if-none-match") == etag:
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
        fields = {col: ("Number" if frame[col].dtype.kind in "if" else "String")
                  for col in frame.columns if col != frame.geometry.name}
        return {
            "tilejson": "3.0.0", "name": c.title["zh"], "description": c.description["zh"], "version": "1.0.0",
            "scheme": "xyz", "tiles": [f"{base}/v1/tiles/{c.id}/{{z}}/{{x}}/{{y}}.mvt"],
            "minzoom": 0, "maxzoom": MAX_ZOOM, "bounds": [w, s, e, n],
            "center": [(w + e) / 2, (s + n) / 2, 8],
            "vector_layers": [{"id": c.id, "fields": fields, "minzoom": 0, "maxzoom": MAX_ZOOM}],
        }

    return router
