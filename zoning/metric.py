"""The one metric CRS in which zones are built and distances and areas measured.

CGCS2000 / 3-degree Gauss-Kruger CM 108E (EPSG:4545) is the official projection for
central Chongqing. The municipality spans 105.2–110.2E, i.e. up to 2.8 degrees either side
of 108E, where the transverse-Mercator scale error is below 0.1 % in distance and 0.2 % in
area — inside the contract's 0.5 % agreement with geodesic values (tests/test_geodesy.py
measures it against pyproj.Geod). One CRS for everything keeps buffers across zone borders
(the Yangtze crosses 105E and 108E) seamless, which per-feature zones would not.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import shapely
from pyproj import Transformer

METRIC_CRS = "EPSG:4545"
# GeoJSON edges are straight in lon/lat; a projection maps only the vertices, so a long edge
# would come out as the projected chord — 37 m off the parallel over 0.6 degrees at 29.5N.
# Densifying to 0.005 degrees (~500 m) first bounds that to millimetres.
_DENSIFY_DEG = 0.005


# EPSG:4545 written out as its PROJ pipeline: CGCS2000 and WGS84 differ by centimetres, which
# PROJ's EPSG:4326 → EPSG:4545 operation also treats as a null shift, so the output is identical
# (tests/test_geodesy.py checks it) — but building it skips the ~60 ms proj.db search that
# `Transformer.from_crs` costs on every CLI start.
METRIC_PIPELINE = (
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
    "+step +proj=tmerc +lat_0=0 +lon_0=108 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80"
)


@lru_cache(maxsize=1)
def _forward() -> Transformer:
    return Transformer.from_pipeline(METRIC_PIPELINE)


@lru_cache(maxsize=1)
def _inverse() -> Transformer:
    return Transformer.from_pipeline(
        "+proj=pipeline +step +inv +proj=tmerc +lat_0=0 +lon_0=108 +k=1 +x_0=500000 +y_0=0 +ellps=GRS80 "
        "+step +proj=unitconvert +xy_in=rad +xy_out=deg"
    )


def _apply(transformer: Transformer, geoms):
    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def metric_xy(lon: float, lat: float) -> tuple[float, float]:
    """One WGS84 lon/lat → EPSG:4545 x, y."""
    return _forward().transform(lon, lat)


def to_metric(geoms):
    """WGS84 lon/lat geometry (or array of them) → EPSG:4545 metres, edges kept straight in lon/lat."""
    if isinstance(geoms, shapely.Point) and not geoms.is_empty:  # one point, as most checks are: no edges
        return shapely.Point(*metric_xy(geoms.x, geoms.y))
    if isinstance(geoms, np.ndarray) and geoms.size and (shapely.get_type_id(geoms) == 0).all() \
            and not shapely.is_empty(geoms).any():  # many points (a screen): no edges, one copy
        xy = shapely.get_coordinates(geoms)
        return shapely.points(*_forward().transform(xy[:, 0], xy[:, 1])).reshape(geoms.shape)
    return _apply(_forward(), shapely.segmentize(geoms, _DENSIFY_DEG))


def to_lonlat(geoms):
    """EPSG:4545 metres → WGS84 lon/lat."""
    return _apply(_inverse(), geoms)


_FALSE_EASTING = 500_000.0
# Gaussian radius of curvature at Chongqing's latitude (29.5N on GRS80): the scale factor's
# curvature term is k − 1 ≈ x² / 2R², under 1e-3 here, so R's latitude dependence is lost in it.
_GAUSS_R = 6_373_400.0


def scale_factor(easting) -> np.ndarray | float:
    """The metric CRS's point scale at an easting: a short distance measured in it is k times
    the geodesic one (k = 1 on the central meridian, 1.0008 at 110.2E). Dividing by k makes
    distances near-geodesic (error ≪ 0.01 %) instead of up to 0.08 % long."""
    if not isinstance(easting, float):  # (one site's float needs no array set-up)
        easting = np.asarray(easting, dtype=float)
    u = (easting - _FALSE_EASTING) / _GAUSS_R
    return 1.0 + u * u / 2.0 + u ** 4 / 24.0


def largest_scale(geoms, within_m):
    """The largest point scale anywhere within ``within_m`` geodesic metres of each metric
    geometry: how far, in metric metres, such a buffer must reach to hold every point."""
    b = shapely.bounds(geoms)
    reach = np.maximum(np.abs(b[..., 0] - _FALSE_EASTING), np.abs(b[..., 2] - _FALSE_EASTING))
    return scale_factor(_FALSE_EASTING + reach + within_m)


def site_scale(sites):
    """The point scale at a metric site (or an array of them), taken at its middle: metric
    lengths / k are geodesic metres."""
    b = shapely.bounds(sites)
    return scale_factor((b[..., 0] + b[..., 2]) / 2)
