"""Terrain from a DEM: slope, zonal statistics of a site, and the zones the plans derive from
terrain — slope classes (巫溪's 25° rule for 坡耕地), the Three Gorges drawdown band (消落带,
145–175 m) along the reservoir rivers, and the area visible from the river shorelines up to the
first ridge line (涪陵's 生态屏障区, 「第一层山脊线」).

Pure numpy / scipy.ndimage / rasterio / shapely: no web, no rules. Every per-cell computation
is vectorised; the only Python loops run over row blocks (slope), batches of observers
(viewshed) and output polygons.

DEM
    `read_dem` reads a (COG) GeoTIFF from a path or bytes into a `Dem`: elevations as float
    (float64 stays float64, anything else becomes float32) with nodata → NaN, the affine
    transform and the CRS. The grid must be north-up and unrotated (b = d = 0), as DEMs are.
    Elevations are metres.

Projected or geographic
    A projected DEM (EPSG:4545 typically) is used as it is; cell sizes are its axis units
    converted to metres (Gauss–Kruger grid distance; the scale error, < 0.1 % in Chongqing,
    changes a slope by < 0.03°·sin 2θ and is ignored). A geographic DEM (EPSG:4326/4490,
    degrees) is *not* resampled for slope, zonal statistics, slope zones and the drawdown band:
    each row gets its own east–west cell size from its latitude (N(φ)·cos φ·Δλ on the CRS's
    ellipsoid) and the north–south size M(φ)·Δφ, so Horn's slope is right on the native cells
    and elevations are never interpolated; distances (the drawdown seed buffer) are measured
    in EPSG:4545. The viewshed alone reprojects a geographic DEM to EPSG:4545 first
    (`rasterio.warp.reproject`, bilinear, at about the native resolution), because casting
    straight rays at even spacing needs an isotropic metric grid.

Slope — `slope_degrees`
    Horn's 3×3 method (weights 1-2-1): the x-gradient of each of the three rows is a central
    difference over that row's own cell width, averaged 1-2-1; the y-gradient is the 1-2-1
    weighted difference of the rows above and below. A neighbour that is NaN or off the grid
    is replaced by the centre cell reflected through the opposite neighbour (2·z0 − z_opp);
    when both of a diagonal pair are missing (a corner), by the plane through the centre and
    the two orthogonal neighbours beside it (z_N + z_E − z0); when both of an orthogonal pair
    are missing (a one-cell-wide strip), by z0 (no gradient across). Edge and corner cells and
    cells next to holes thus keep the exact slope of a plane; a cell whose own elevation is
    NaN is NaN. Computed in blocks of rows in float64, returned as float32.

Zonal statistics — `zonal_stats`
    The site (WGS84 lon/lat; edges densified to 0.005° and projected into the DEM's CRS with
    pyproj) selects the cells whose centres lie in a polygon (all cells it touches when a
    polygon is smaller than a cell and contains no centre), all cells a line touches, and the
    cell containing a point (its value, not a bilinear interpolation: min = mean = max = that
    cell, and its Horn slope). Slope is computed on a window around the site with a 2-cell
    margin, so it equals the whole-DEM slope.

Derived zones — each a GeoDataFrame in EPSG:4326 with one dissolved row per class:
    polygons come from `rasterio.features.shapes` (4-connected regions) on the class raster;
    the regions of one class never share an edge, so they are gathered into a MultiPolygon
    without a union.

    `slope_zones`: classes (lo, hi] of Horn slope; the defaults are > 25° ("gt25") and
    15–25° ("15_25", i.e. 15 < slope ≤ 25).

    `drawdown_zones`: the cells with low ≤ z ≤ high that the reservoir at `high` reaches
    from the rivers: the 8-connected components (`scipy.ndimage.label`) of {z ≤ high} that
    contain a seed cell — the cells the river geometries touch or lie within
    `max_distance_m` of — intersected with the band. Connecting through every cell ≤ high,
    not only through band cells, is what the water does: the DEM's river bed may lie below
    145 m (a pre-impoundment DEM) or at the water level of the day, and a side valley behind
    a low saddle floods all the same; a 150 m basin behind a rim above 175 m stays dry.

    `viewshed_zones`: see below.

Viewshed from the shorelines — multi-observer ray casting (`viewshed`)
    `gdal_viewshed` answers one observer per run (a full raster pass each); a shoreline needs
    thousands. Here observers are sampled along the river lines (both banks when a
    `half_width_m` attribute is given, the boundary of a river polygon) every
    `observer_spacing_m`, standing `observer_height_m` above the bilinear terrain. For a batch
    of observers, R rays each (default R = ⌈2π·max_distance / cell⌉, so that neighbouring rays
    are at most one cell apart at the maximum distance) are sampled every cell size out to
    `max_distance_m` with bilinear interpolation (`scipy.ndimage.map_coordinates`, order 1).
    Along each ray the tangent of the elevation angle of the sample seen from the eye,
    (z − curvature − z_eye)/d, is compared with the running maximum of the samples before it
    (`np.maximum.accumulate`): the sample is visible when it is not below that horizon. With
    `first_ridge=True` the ray ends at its first ridge: the last running maximum of the
    terrain before the first sample lying more than `ridge_drop_m` below it, counted only when
    that maximum rises more than `ridge_drop_m` above the observer's ground (a riverside bump
    or a descent from a bluff is not a ridge). Visible samples are scattered into the grid
    (the cell containing each), OR-ed over all observers, then a 3×3 binary closing (OR-ed
    with the raw result) fills one-cell gaps between rays. The rays of a batch advance together
    32 samples at a time, carrying each ray's horizon, terrain maximum and where it was
    reached; rays that have met their first ridge or left the grid are dropped, so the samples
    beyond the first ridge are never interpolated. Earth curvature with refraction
    coefficient 1/7 (gdal_viewshed's default curvature coefficient 0.85714) lowers distant
    samples by (1 − 1/7)·d²/2R (0.4 m at 2.5 km, 1.7 m at 5 km).

    Error: samples are one cell apart along a ray and neighbouring rays at most one cell
    apart (2π·d/R ≤ cell for d ≤ max_distance), so every cell in range is sampled or is a
    one-cell gap that the closing fills; a cell counts as visible when any sample inside it
    is, so the computed boundary lies within one cell of the exact one (outward where a cell
    is partly visible, inward where its visible part holds no sample; tests/test_terrain.py
    checks this cell by cell against a wall's exact shadow and a valley's exact visible rows).
    Terrain between cell centres is bilinear, so a crest narrower than a cell is flattened by
    the interpolation; positions are float32 (< 0.001 cell). Observers are discrete, so ground
    seen only through a gap narrower than the observer spacing along the shore can be missed;
    the ends of every shoreline are always observers.

Cost for a 5,000 × 5,000 DEM of 30 m cells (bench/terrain.py; CPU seconds, single-threaded):
slope 1.1 s; slope zones 4.4 s (slope, then GDAL polygonising ~48,000 polygons of 2.9 M
vertices and reprojecting them); drawdown band 0.8 s; viewshed 27 s for ~3,400 observers
every 60 m along a 200 km river out to 5 km — linear in the number of observers, at most
R × max_distance/cell samples each (1,048 × 166 here; fewer where the first ridge ends a
ray). Each step's traced numpy peak is 100–190 MiB beside the DEM's 95 MiB (float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import rasterio.warp
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio.crs import CRS as RasterCRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from scipy import ndimage

WGS84 = "EPSG:4326"
METRIC_CRS = "EPSG:4545"  # CGCS2000 / 3-degree Gauss-Kruger CM 108E (as zoning.metric)
_DENSIFY_DEG = 0.005  # lon/lat edges are straight in lon/lat: densify before projecting
_EARTH_RADIUS_M = 6_371_000.0
_REFRACTION = 1.0 / 7.0  # gdal_viewshed's curvature coefficient 0.85714 = 1 − 1/7

SLOPE_CLASSES: tuple[tuple[float | None, float | None, str], ...] = ((25.0, None, "gt25"), (15.0, 25.0, "15_25"))
DRAWDOWN_NAME = "消落带（由 DEM 派生，145–175 m）"
BARRIER_NAME = "生态屏障区（由 DEM 视域派生）"


# --- the DEM -----------------------------------------------------------------------------------
@dataclass(eq=False)
class Dem:
    """Elevations (metres, NaN = no data) on a north-up grid."""

    z: np.ndarray
    transform: Affine
    crs: RasterCRS | None
    nodata: float | None = None

    def __post_init__(self) -> None:
        z = np.asarray(self.z)
        if z.ndim != 2:
            raise ValueError(f"a DEM is a 2-D array, got shape {z.shape}")
        if z.dtype != np.float64:
            z = z.astype(np.float32)
        if self.nodata is not None and not math.isnan(self.nodata) and (z == self.nodata).any():
            z = np.where(z == self.nodata, np.nan, z).astype(z.dtype)
        self.z = z
        self.transform = Affine(*tuple(self.transform)[:6])
        if self.crs is not None and not isinstance(self.crs, RasterCRS):
            self.crs = RasterCRS.from_user_input(self.crs)
        t = self.transform
        if t.b != 0 or t.d != 0 or t.a == 0 or t.e == 0:
            raise ValueError("the DEM's grid must be north-up and unrotated (transform b = d = 0)")

    @property
    def shape(self) -> tuple[int, int]:
        return self.z.shape

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        h, w = self.z.shape
        x0, y0 = self.transform @ (0, 0)
        x1, y1 = self.transform @ (w, h)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    @property
    def is_geographic(self) -> bool:
        return bool(self._crs().is_geographic)

    def _crs(self) -> CRS:
        if self.crs is None:
            raise ValueError("the DEM has no CRS: cell sizes and site positions are unknown")
        return _pyproj_crs(self.crs.to_wkt())

    def window(self, r0: int, r1: int, c0: int, c1: int) -> "Dem":
        return Dem(self.z[r0:r1, c0:c1], self.transform @ Affine.translation(c0, r0), self.crs)


def read_dem(source: bytes | str | Path, band: int = 1) -> Dem:
    """A GeoTIFF/COG (path or bytes) → `Dem`, nodata (and the dataset mask) as NaN."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        with MemoryFile(bytes(source)) as mem, mem.open() as src:
            return _read(src, band)
    with rasterio.open(source) as src:
        return _read(src, band)


def _read(src, band: int) -> Dem:
    data = src.read(band, masked=True)
    dtype = np.float64 if data.dtype == np.float64 else np.float32
    z = np.ma.filled(data.astype(dtype), np.nan)
    return Dem(z, src.transform, src.crs, src.nodata)


# --- CRS helpers -------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _pyproj_crs(wkt: str) -> CRS:
    return CRS.from_wkt(wkt)


@lru_cache(maxsize=32)
def _transformer(src: str, dst: str) -> Transformer:
    return Transformer.from_crs(CRS.from_user_input(src), CRS.from_user_input(dst), always_xy=True)


def _key(crs) -> str:
    return crs if isinstance(crs, str) else crs.to_wkt()


def _transform(geoms, src, dst):
    t = _transformer(_key(src), _key(dst))

    def fn(xy: np.ndarray) -> np.ndarray:
        x, y = t.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geoms, fn)


def _from_lonlat(geoms, crs):
    """WGS84 geometry → the CRS, lon/lat edges densified first (they are straight in lon/lat)."""
    return _transform(shapely.segmentize(geoms, _DENSIFY_DEG), WGS84, crs)


def _to_lonlat(geoms, crs):
    return _transform(geoms, crs, WGS84)


def _unit_m(crs: CRS) -> float:
    """Metres per axis unit of a projected CRS."""
    return float(crs.axis_info[0].unit_conversion_factor)


def _cell_metres(dem: Dem) -> tuple[np.ndarray, np.ndarray]:
    """(east–west, north–south) cell size in metres for every row (arrays of length H)."""
    crs = dem._crs()
    h = dem.z.shape[0]
    t = dem.transform
    if not crs.is_geographic:
        u = _unit_m(crs)
        return np.full(h, abs(t.a) * u), np.full(h, abs(t.e) * u)
    rad = float(crs.axis_info[0].unit_conversion_factor)  # radians per unit (degree)
    ell = crs.ellipsoid
    a = ell.semi_major_metre
    f = 1.0 / ell.inverse_flattening if ell.inverse_flattening else 0.0
    e2 = f * (2.0 - f)
    lat = (t.f + t.e * (np.arange(h) + 0.5)) * rad
    s2 = np.sin(lat) ** 2
    n = a / np.sqrt(1.0 - e2 * s2)  # prime-vertical radius
    m = a * (1.0 - e2) / (1.0 - e2 * s2) ** 1.5  # meridian radius
    return abs(t.a) * rad * n * np.cos(lat), abs(t.e) * rad * m


def _metric_dem(dem: Dem) -> Dem:
    """The DEM on a projected grid: itself, or a geographic DEM warped to EPSG:4545 (bilinear)."""
    if not dem.is_geographic:
        return dem
    h, w = dem.z.shape
    dx, dy = _cell_metres(dem)
    res = float(min(dx.min(), dy.min()))
    transform, width, height = rasterio.warp.calculate_default_transform(
        dem.crs, METRIC_CRS, w, h, *dem.bounds, resolution=res,
    )
    out = np.full((height, width), np.nan, dtype=np.float32)
    rasterio.warp.reproject(
        dem.z.astype(np.float32), out, src_transform=dem.transform, src_crs=dem.crs, src_nodata=np.nan,
        dst_transform=transform, dst_crs=METRIC_CRS, dst_nodata=np.nan, resampling=Resampling.bilinear,
    )
    return Dem(out, transform, METRIC_CRS)


# --- slope -------------------------------------------------------------------------------------
def slope_degrees(dem: Dem, *, block_cells: int = 1 << 18) -> np.ndarray:
    """Horn's slope in degrees (float32, NaN where the elevation is NaN); see the module notes."""
    z = dem.z
    h, w = z.shape
    dx, dy = _cell_metres(dem)
    dx_pad = np.pad(dx, 1, mode="edge")
    out = np.empty((h, w), dtype=np.float32)
    block_rows = max(8, block_cells // max(w, 1))
    for r0 in range(0, h, block_rows):
        r1 = min(h, r0 + block_rows)
        n = r1 - r0
        blk = np.full((n + 2, w + 2), np.nan)
        lo, hi = max(0, r0 - 1), min(h, r1 + 1)
        blk[lo - (r0 - 1): lo - (r0 - 1) + (hi - lo), 1:-1] = z[lo:hi]
        c = blk[1: 1 + n, 1: 1 + w]
        nbrs = {}
        for p, q in (((-1, 0), (1, 0)), ((0, -1), (0, 1)), ((-1, -1), (1, 1)), ((-1, 1), (1, -1))):
            zp = blk[1 + p[0]: 1 + p[0] + n, 1 + p[1]: 1 + p[1] + w]
            zq = blk[1 + q[0]: 1 + q[0] + n, 1 + q[1]: 1 + q[1] + w]
            mp, mq = np.isnan(zp), np.isnan(zq)
            if p[1] == 0 or p[0] == 0:  # N/S, W/E: reflect, else flat
                both_p = both_q = c
            else:  # diagonals both missing: the plane through the filled orthogonal neighbours
                both_p = nbrs[(p[0], 0)] + nbrs[(0, p[1])] - c
                both_q = nbrs[(q[0], 0)] + nbrs[(0, q[1])] - c
            nbrs[p] = np.where(mp, np.where(mq, both_p, 2.0 * c - zq), zp)
            nbrs[q] = np.where(mq, np.where(mp, both_q, 2.0 * c - zp), zq)
        nw, n_, ne = nbrs[(-1, -1)], nbrs[(-1, 0)], nbrs[(-1, 1)]
        w_, e_ = nbrs[(0, -1)], nbrs[(0, 1)]
        sw, s_, se = nbrs[(1, -1)], nbrs[(1, 0)], nbrs[(1, 1)]
        dxn = dx_pad[r0: r1, None]  # the row above row r is r - 1 → dx_pad[r]
        dxc = dx_pad[r0 + 1: r1 + 1, None]
        dxs = dx_pad[r0 + 2: r1 + 2, None]
        gx = ((ne - nw) / dxn + 2.0 * (e_ - w_) / dxc + (se - sw) / dxs) / 8.0
        gy = ((nw + 2.0 * n_ + ne) - (sw + 2.0 * s_ + se)) / (8.0 * dy[r0:r1, None])
        s = np.degrees(np.arctan(np.hypot(gx, gy)))
        s[np.isnan(c)] = np.nan
        out[r0:r1] = s
    return out


# --- zonal statistics --------------------------------------------------------------------------
def _as_geometry(geometry) -> shapely.Geometry:
    if isinstance(geometry, dict):
        return shapely.geometry.shape(geometry)
    return geometry


def _site_mask(site: shapely.Geometry, dem: Dem) -> np.ndarray:
    """Cells of the site on the DEM's grid: centres in polygons (touched if none), touched by
    lines, containing points."""
    h, w = dem.z.shape
    parts = shapely.get_parts(site)
    while True:  # flatten nested collections
        nested = shapely.get_type_id(parts) == 7
        if not nested.any():
            break
        parts = np.concatenate([parts[~nested], *[shapely.get_parts(g) for g in parts[nested]]])
    types = shapely.get_type_id(parts)
    mask = np.zeros((h, w), dtype=bool)
    polys = [g for g in parts[(types == 3) | (types == 6)] if not g.is_empty]
    lines = [g for g in parts[(types == 1) | (types == 2) | (types == 5)] if not g.is_empty]
    points = parts[(types == 0) | (types == 4)]
    if polys:
        m = rasterio.features.rasterize(polys, (h, w), transform=dem.transform, dtype=np.uint8).astype(bool)
        if not m.any():
            m = rasterio.features.rasterize(
                polys, (h, w), transform=dem.transform, all_touched=True, dtype=np.uint8,
            ).astype(bool)
        mask |= m
    if lines:
        mask |= rasterio.features.rasterize(
            lines, (h, w), transform=dem.transform, all_touched=True, dtype=np.uint8,
        ).astype(bool)
    if len(points):
        xy = shapely.get_coordinates(points)
        cols, rows = ~dem.transform @ (xy[:, 0], xy[:, 1])
        rows, cols = np.floor(rows).astype(int), np.floor(cols).astype(int)
        ok = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        mask[rows[ok], cols[ok]] = True
    return mask


def zonal_stats(dem: Dem, geometry_lonlat) -> dict | None:
    """Elevation (min/mean/max, m) and Horn slope (mean/max, degrees) over a WGS84 site.

    Returns None when the DEM covers none of the site's cells or all of them are no-data.
    `cells` counts the cells with data; `complete` is False when part of the site lies off the
    DEM or on no-data cells."""
    geom = _as_geometry(geometry_lonlat)
    if geom is None or geom.is_empty:
        return None
    site = _from_lonlat(geom, dem.crs)
    h, w = dem.z.shape
    x0, y0, x1, y1 = site.bounds
    inv = ~dem.transform
    cs, rs = inv @ (np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
    r0, r1 = int(np.floor(rs.min())) - 2, int(np.floor(rs.max())) + 3
    c0, c1 = int(np.floor(cs.min())) - 2, int(np.floor(cs.max())) + 3
    r0, c0, r1, c1 = max(r0, 0), max(c0, 0), min(r1, h), min(c1, w)
    if r0 >= r1 or c0 >= c1:
        return None
    sub = dem.window(r0, r1, c0, c1)
    mask = _site_mask(site, sub)
    if not mask.any():
        return None
    z = sub.z[mask]
    ok = ~np.isnan(z)
    if not ok.any():
        return None
    slope = slope_degrees(sub)[mask][ok]
    b = dem.bounds
    inside = shapely.box(*b).buffer(1e-9 * max(abs(b[2]), abs(b[3]), 1.0)).covers(site)
    z = z[ok]
    return {
        "elevation_min_m": float(z.min()),
        "elevation_mean_m": float(z.mean(dtype=np.float64)),
        "elevation_max_m": float(z.max()),
        "slope_mean_deg": float(np.nanmean(slope, dtype=np.float64)),
        "slope_max_deg": float(np.nanmax(slope)),
        "cells": int(ok.sum()),
        "complete": bool(inside and ok.all()),
    }


# --- polygons out ------------------------------------------------------------------------------
def _polygonise(classes: np.ndarray, transform: Affine) -> dict[int, shapely.Geometry]:
    """Class raster (0 = none) → {class: MultiPolygon} in the raster's CRS. The GeoJSON rings
    from `shapes` become one ragged coordinate array (3× faster than shapely's `shape()`)."""
    coords, ring_end, poly_end, values = [], [0], [0], []
    for geom, value in rasterio.features.shapes(classes, mask=classes > 0, transform=transform, connectivity=4):
        for ring in geom["coordinates"]:
            xy = np.asarray(ring, dtype=float)
            coords.append(xy)
            ring_end.append(ring_end[-1] + len(xy))
        poly_end.append(len(ring_end) - 1)
        values.append(int(value))
    if not values:
        return {}
    polys = shapely.from_ragged_array(
        shapely.GeometryType.POLYGON, np.concatenate(coords), (np.asarray(ring_end), np.asarray(poly_end)),
    )
    values = np.asarray(values)
    return {int(v): shapely.multipolygons(polys[values == v]) for v in np.unique(values)}


def _frame(rows: list[dict], columns: list[str]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows or None, columns=[*columns, "geometry"], geometry="geometry", crs=WGS84)


# --- slope zones -------------------------------------------------------------------------------
def _slope_name(lo: float | None, hi: float | None) -> str:
    if hi is None:
        return f"坡度大于 {lo:g}°（由 DEM 派生）"
    if lo is None:
        return f"坡度不大于 {hi:g}°（由 DEM 派生）"
    return f"坡度 {lo:g}–{hi:g}°（由 DEM 派生）"


def slope_zones(dem: Dem, classes=SLOPE_CLASSES) -> gpd.GeoDataFrame:
    """Slope classes as polygons: one row per class with attributes `slope_class` and `name`.

    `classes` is a sequence of (lo, hi, code) with lo < slope ≤ hi (None = unbounded); a cell
    takes the first class it falls in."""
    slope = slope_degrees(dem)
    cls = np.zeros(slope.shape, dtype=np.uint8)
    for i, (lo, hi, _code) in enumerate(classes, start=1):
        m = ~np.isnan(slope)
        if lo is not None:
            m &= slope > lo
        if hi is not None:
            m &= slope <= hi
        cls[(cls == 0) & m] = i
    del slope
    polys = _polygonise(cls, dem.transform)
    rows = []
    for i, (lo, hi, code) in enumerate(classes, start=1):
        if i in polys:
            rows.append({"slope_class": code, "name": _slope_name(lo, hi), "geometry": _to_lonlat(polys[i], dem.crs)})
    return _frame(rows, ["slope_class", "name"])


# --- rivers ------------------------------------------------------------------------------------
def _river_geoms(rivers) -> tuple[np.ndarray, np.ndarray | None]:
    """(WGS84 geometries, half widths in metres or None) from a GeoDataFrame/GeoSeries/list."""
    if isinstance(rivers, gpd.GeoDataFrame):
        frame = rivers if rivers.crs is None or rivers.crs.to_epsg() == 4326 else rivers.to_crs(WGS84)
        half = None
        if "half_width_m" in frame.columns:
            half = np.nan_to_num(np.asarray(frame["half_width_m"], dtype=float), nan=0.0)
        return np.asarray(frame.geometry.values, dtype=object), half
    if isinstance(rivers, gpd.GeoSeries):
        series = rivers if rivers.crs is None or rivers.crs.to_epsg() == 4326 else rivers.to_crs(WGS84)
        return np.asarray(series.values, dtype=object), None
    if isinstance(rivers, shapely.Geometry):
        return np.array([rivers], dtype=object), None
    return np.asarray(list(rivers), dtype=object), None


def _seed_mask(dem: Dem, rivers, distance_m: float) -> np.ndarray:
    """Cells the river geometries touch or lie within distance_m of."""
    geoms, _ = _river_geoms(rivers)
    geoms = geoms[~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)]
    h, w = dem.z.shape
    if not len(geoms):
        return np.zeros((h, w), dtype=bool)
    crs = dem._crs()
    if crs.is_geographic:
        metric = _from_lonlat(geoms, METRIC_CRS)
        buffered = _transform(shapely.buffer(metric, distance_m), METRIC_CRS, dem.crs) if distance_m > 0 else None
        native = _from_lonlat(geoms, dem.crs)
    else:
        native = _from_lonlat(geoms, dem.crs)
        buffered = shapely.buffer(native, distance_m / _unit_m(crs)) if distance_m > 0 else None
    shapes = list(native) + (list(buffered) if buffered is not None else [])
    return rasterio.features.rasterize(
        shapes, (h, w), transform=dem.transform, all_touched=True, dtype=np.uint8,
    ).astype(bool)


# --- drawdown band -----------------------------------------------------------------------------
def drawdown_mask(dem: Dem, rivers_lonlat, low: float = 145.0, high: float = 175.0,
                  max_distance_m: float = 100.0) -> np.ndarray:
    """Cells with low ≤ z ≤ high in the 8-connected components of {z ≤ high} that hold a river
    seed cell (touched by a river geometry or within max_distance_m of one)."""
    z = dem.z
    with np.errstate(invalid="ignore"):
        wet = z <= high
    seed = _seed_mask(dem, rivers_lonlat, max_distance_m) & wet
    if not seed.any():
        return np.zeros(z.shape, dtype=bool)
    labels, n = ndimage.label(wet, structure=np.ones((3, 3), dtype=bool))
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(labels[seed])] = True
    keep[0] = False
    with np.errstate(invalid="ignore"):
        return keep[labels] & (z >= low)


def drawdown_zones(dem: Dem, rivers_lonlat, low: float = 145.0, high: float = 175.0,
                   max_distance_m: float = 100.0, *, name: str | None = None) -> gpd.GeoDataFrame:
    """The reservoir's drawdown band (消落带) as one dissolved polygon with attribute `name`;
    see `drawdown_mask`. max_distance_m absorbs misregistration between the river lines and
    the DEM's river bed."""
    mask = drawdown_mask(dem, rivers_lonlat, low, high, max_distance_m)
    if name is None:
        name = DRAWDOWN_NAME if (low, high) == (145.0, 175.0) else f"消落带（由 DEM 派生，{low:g}–{high:g} m）"
    polys = _polygonise(mask.astype(np.uint8), dem.transform)
    rows = [{"name": name, "geometry": _to_lonlat(polys[1], dem.crs)}] if 1 in polys else []
    return _frame(rows, ["name"])


# --- viewshed ----------------------------------------------------------------------------------
def shoreline_observers(dem: Dem, rivers_lonlat, spacing_m: float) -> np.ndarray:
    """Observer positions (N×2, in the projected DEM's CRS) every spacing_m along the shorelines:
    the river lines (offset to both banks by `half_width_m` when the frame has it) or the
    boundaries of river polygons. Points are evenly spaced, at most spacing_m apart, and each
    line keeps its end points."""
    crs = dem._crs()
    if crs.is_geographic:
        raise ValueError("shoreline_observers needs a projected DEM (see _metric_dem)")
    unit = _unit_m(crs)
    geoms, half = _river_geoms(rivers_lonlat)
    keep = ~shapely.is_empty(geoms) & ~shapely.is_missing(geoms)
    geoms = _from_lonlat(geoms[keep], dem.crs)
    half = half[keep] if half is not None else np.zeros(len(geoms))
    lines, widths = [], []
    for g, hw in zip(geoms, half):
        for part in shapely.get_parts(g):
            tid = shapely.get_type_id(part)
            if tid in (3, 6):  # polygons: the shoreline is the boundary
                rings = list(shapely.get_parts(shapely.boundary(part)))
                lines.extend(rings)
                widths.extend([0.0] * len(rings))
            elif tid in (0, 1, 2, 4, 5):
                lines.append(part)
                widths.append(hw / unit if tid in (1, 2) else 0.0)
    pts = []
    step = spacing_m / unit
    for line, hw in zip(lines, widths):
        length = line.length
        if shapely.get_type_id(line) == 0 or length == 0:
            pts.append(shapely.get_coordinates(line)[:1])
            continue
        d = np.linspace(0.0, length, max(1, math.ceil(length / step - 1e-9)) + 1)  # even, ≤ step apart
        xy = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
        if hw > 0:  # both banks: each point moved ±hw along the line's normal there
            eps = min(step, length) / 4.0
            ahead = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(d + eps, length)))
            behind = shapely.get_coordinates(shapely.line_interpolate_point(line, np.maximum(d - eps, 0.0)))
            tangent = ahead - behind
            tangent /= np.hypot(tangent[:, 0], tangent[:, 1])[:, None]
            normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
            xy = np.vstack([xy + hw * normal, xy - hw * normal])
        pts.append(xy)
    return np.vstack(pts) if pts else np.empty((0, 2))


def _bilinear(z: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """z at continuous pixel coordinates (cell (i, j) spans [i, i+1) × [j, j+1)); NaN off the grid,
    clamped to the edge cells' values within the outer half cell."""
    h, w = z.shape
    out = ndimage.map_coordinates(
        z, [rows.ravel() - 0.5, cols.ravel() - 0.5], order=1, mode="nearest", prefilter=False,
    ).reshape(rows.shape)
    off = (rows < 0) | (rows >= h) | (cols < 0) | (cols >= w)
    out[off] = np.nan
    return out


def viewshed(dem: Dem, observers_xy: np.ndarray, *, observer_height_m: float = 1.7,
             max_distance_m: float = 5000.0, first_ridge: bool = True, ridge_drop_m: float = 10.0,
             rays: int | None = None, earth_curvature: bool = True, close_gaps: bool = True,
             batch_samples: int = 1_000_000, chunk: int = 32) -> np.ndarray:
    """Boolean grid of the cells visible from any of the observers (projected DEM; observers in
    its CRS). See the module notes for the method and its error.

    The rays of a batch of observers advance together `chunk` samples at a time, carrying each
    ray's horizon (the running maximum elevation tangent), the terrain's running maximum and
    where it was reached; a ray is dropped once it has met its first ridge or left the grid, so
    the samples beyond the first ridge (often half of them in valleys) are never interpolated."""
    crs = dem._crs()
    if crs.is_geographic:
        raise ValueError("viewshed needs a projected DEM (viewshed_zones reprojects a geographic one)")
    unit = _unit_m(crs)
    z = dem.z if dem.z.dtype == np.float32 else dem.z.astype(np.float32)
    h, w = z.shape
    t = dem.transform
    ax, ey = t.a * unit, t.e * unit  # signed metres per column / row
    step = min(abs(ax), abs(ey))
    n = int(max_distance_m // step)
    visible = np.zeros(h * w, dtype=bool)
    obs = np.asarray(observers_xy, dtype=float).reshape(-1, 2)
    col0, row0 = ~t @ (obs[:, 0], obs[:, 1])
    col0, row0 = np.asarray(col0, dtype=float), np.asarray(row0, dtype=float)
    ground = _bilinear(z, row0, col0)
    ok = ~np.isnan(ground)
    col0, row0, ground = col0[ok], row0[ok], ground[ok].astype(np.float32)
    if not len(ground):
        return visible.reshape(h, w)
    visible[np.floor(row0).astype(int) * w + np.floor(col0).astype(int)] = True
    if n >= 1:
        r = int(rays) if rays else max(8, math.ceil(2.0 * math.pi * max_distance_m / step))
        theta = 2.0 * math.pi * np.arange(r) / r
        row_step = (np.sin(theta) * step / ey).astype(np.float32)  # pixels per sample, per ray
        col_step = (np.cos(theta) * step / ax).astype(np.float32)
        k_all = np.arange(1, n + 1, dtype=np.float32)  # sample k lies k·step from the observer
        dist = step * k_all
        drop = ((1.0 - _REFRACTION) * dist.astype(np.float64) ** 2 / (2.0 * _EARTH_RADIUS_M)).astype(np.float32) \
            if earth_curvature else np.zeros(n, dtype=np.float32)
        idx_all = np.arange(n, dtype=np.int32)
        chunk = max(1, min(chunk, n))
        batch = max(1, batch_samples // (r * chunk))
        for b0 in range(0, len(ground), batch):
            nb = len(ground[b0: b0 + batch])
            # One entry per ray of the batch: origin, steps, eye and ground, and the carried state.
            r0 = np.repeat(row0[b0: b0 + nb].astype(np.float32), r)
            c0 = np.repeat(col0[b0: b0 + nb].astype(np.float32), r)
            rs, cs = np.tile(row_step, nb), np.tile(col_step, nb)
            gr = np.repeat(ground[b0: b0 + nb], r)
            eye = gr + np.float32(observer_height_m)
            horizon = np.full(nb * r, -np.inf, dtype=np.float32)
            top = np.full(nb * r, np.nan, dtype=np.float32)  # the terrain's running maximum
            last = np.full(nb * r, -1, dtype=np.int32)  # the sample where it was last reached
            for k0 in range(0, n, chunk):
                k1 = min(n, k0 + chunk)
                kk = k_all[k0:k1]
                rr = r0[:, None] + rs[:, None] * kk
                cc = c0[:, None] + cs[:, None] * kk
                zs = _bilinear(z, rr, cc)  # (rays, chunk), NaN off the grid
                tan = (zs - drop[k0:k1] - eye[:, None]) / dist[k0:k1]
                hz = np.maximum.accumulate(np.where(np.isnan(tan), -np.inf, tan), axis=1)
                np.maximum(hz, horizon[:, None], out=hz)
                vis = np.empty(tan.shape, dtype=bool)
                with np.errstate(invalid="ignore"):
                    vis[:, 0] = tan[:, 0] >= horizon
                    vis[:, 1:] = tan[:, 1:] >= hz[:, :-1]
                horizon = hz[:, -1]
                done = ~((rr[:, -1] >= 0) & (rr[:, -1] < h) & (cc[:, -1] >= 0) & (cc[:, -1] < w))  # left the grid
                if first_ridge:
                    gi = idx_all[k0:k1]
                    tops = np.fmax.accumulate(zs, axis=1)
                    np.fmax(tops, top[:, None], out=tops)
                    with np.errstate(invalid="ignore"):
                        dropped = (tops - zs > ridge_drop_m) & (tops - gr[:, None] > ridge_drop_m)
                        lasts = np.maximum.accumulate(np.where(zs >= tops, gi, -1), axis=1)
                    np.maximum(lasts, last[:, None], out=lasts)
                    cut = dropped.any(axis=1)
                    peak = np.take_along_axis(lasts, dropped.argmax(axis=1)[:, None], axis=1)[:, 0]
                    vis &= gi <= np.where(cut, peak, n)[:, None]
                    top, last = tops[:, -1], lasts[:, -1]
                    done |= cut
                ri = np.floor(rr[vis]).astype(np.int64)
                ci = np.floor(cc[vis]).astype(np.int64)
                inside = (ri >= 0) & (ri < h) & (ci >= 0) & (ci < w)
                visible[ri[inside] * w + ci[inside]] = True
                if done.any():  # drop finished rays
                    keep = ~done
                    r0, c0, rs, cs, gr, eye = r0[keep], c0[keep], rs[keep], cs[keep], gr[keep], eye[keep]
                    horizon, top, last = horizon[keep], top[keep], last[keep]
                    if not len(r0):
                        break
    visible = visible.reshape(h, w)
    if close_gaps:
        visible |= ndimage.binary_closing(visible, structure=np.ones((3, 3), dtype=bool))
    return visible


def viewshed_zones(dem: Dem, rivers_lonlat, observer_height_m: float = 1.7, max_distance_m: float = 5000.0,
                   observer_spacing_m: float | None = None, first_ridge: bool = True, *,
                   ridge_drop_m: float = 10.0, rays: int | None = None, earth_curvature: bool = True,
                   name: str = BARRIER_NAME) -> gpd.GeoDataFrame:
    """The area visible from the rivers' shorelines (up to the first ridge line when
    first_ridge) as one dissolved polygon with attribute `name`. observer_spacing_m defaults to
    twice the (metric) cell size."""
    mdem = _metric_dem(dem)
    unit = _unit_m(mdem._crs())
    cell = min(abs(mdem.transform.a), abs(mdem.transform.e)) * unit
    spacing = observer_spacing_m if observer_spacing_m else 2.0 * cell
    observers = shoreline_observers(mdem, rivers_lonlat, spacing)
    mask = viewshed(
        mdem, observers, observer_height_m=observer_height_m, max_distance_m=max_distance_m,
        first_ridge=first_ridge, ridge_drop_m=ridge_drop_m, rays=rays, earth_curvature=earth_curvature,
    )
    polys = _polygonise(mask.astype(np.uint8), mdem.transform)
    rows = [{"name": name, "geometry": _to_lonlat(polys[1], mdem.crs)}] if 1 in polys else []
    return _frame(rows, ["name"])


__all__ = [
    "Dem", "read_dem", "slope_degrees", "zonal_stats", "slope_zones", "drawdown_mask", "drawdown_zones",
    "shoreline_observers", "viewshed", "viewshed_zones", "SLOPE_CLASSES", "DRAWDOWN_NAME", "BARRIER_NAME",
]
