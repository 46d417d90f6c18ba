"""Terrain from a DEM (layers/terrain.py) on synthetic DEMs built here, against exact values:
planes of known slope (projected and geographic), zonal statistics over known cells, slope
classes of known extent, a reservoir profile whose 145–175 m band is a known strip, and a
valley, a wall and hills behind a ridge whose visible areas follow from the geometry."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

from ecozone.layers.formats import read_upload
from ecozone.layers.terrain import (
    BARRIER_NAME, DRAWDOWN_NAME, Dem, drawdown_mask, drawdown_zones, read_dem, shoreline_observers, slope_degrees,
    slope_zones, viewshed, viewshed_zones, zonal_stats,
)
from ecozone.zoning.metric import to_lonlat, to_metric

CELL = 30.0
X0, Y_TOP = 470_000.0, 3_268_000.0  # EPSG:4545, near 107.7E 29.5N
TO_4545 = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True)


def grid(fn, rows: int, cols: int, *, cell: float = CELL, x0: float = X0, y_top: float = Y_TOP) -> Dem:
    """A DEM in EPSG:4545 with z = fn(x, y) at the cell centres."""
    x = x0 + cell * (np.arange(cols) + 0.5)
    y = y_top - cell * (np.arange(rows) + 0.5)
    xx, yy = np.meshgrid(x, y)
    return Dem(fn(xx, yy).astype(np.float32), Affine(cell, 0, x0, 0, -cell, y_top), "EPSG:4545")


def geographic(fn, rows: int, cols: int, *, lon0: float = 107.9, lat_top: float = 29.6, arcsec: float = 1.0) -> Dem:
    """A DEM in EPSG:4490 (CGCS2000 lon/lat) with z = fn(E, N), E/N the EPSG:4545 coordinates of
    each cell centre — a surface defined in metres, sampled on a degree grid."""
    d = arcsec / 3600.0
    lon = lon0 + d * (np.arange(cols) + 0.5)
    lat = lat_top - d * (np.arange(rows) + 0.5)
    ll, pp = np.meshgrid(lon, lat)
    e, n = TO_4545.transform(ll, pp)
    return Dem(fn(e, n), Affine(d, 0, lon0, 0, -d, lat_top), "EPSG:4490")


def plane(theta_deg: float, aspect_deg: float, z0: float = 500.0, x0: float = X0, y0: float = Y_TOP):
    g = math.tan(math.radians(theta_deg))
    a = math.radians(aspect_deg)
    return lambda x, y: z0 + g * ((x - x0) * math.cos(a) + (y - y0) * math.sin(a))


def lonlat_frame(*lines_metric) -> gpd.GeoDataFrame:
    """River lines drawn in EPSG:4545 (densified so they stay straight there) as a WGS84 frame."""
    geoms = [to_lonlat(shapely.segmentize(g, CELL)) for g in lines_metric]
    return gpd.GeoDataFrame({"name": [f"河{i}" for i in range(len(geoms))]}, geometry=geoms, crs=4326)


def metric_area(frame: gpd.GeoDataFrame) -> float:
    return float(sum(to_metric(g).area for g in frame.geometry)) if len(frame) else 0.0


# --- reading ----------------------------------------------------------------------------------
def test_read_dem_from_an_uploaded_cog_path_and_bytes(tmp_path):
    z = (np.arange(20 * 30, dtype=np.int16).reshape(20, 30) % 400) + 100
    z[3:5, 7:9] = -9999
    transform = Affine(CELL, 0, X0, 0, -CELL, Y_TOP)
    src = tmp_path / "dem.tif"
    with rasterio.open(src, "w", driver="GTiff", width=30, height=20, count=1, dtype="int16",
                       crs="EPSG:4545", transform=transform, nodata=-9999) as dst:
        dst.write(z, 1)
    upload = read_upload(src, "dem.tif")  # the path a raster upload takes: a COG written by us
    for dem in (read_dem(upload.cog_path), read_dem(upload.cog_path.read_bytes())):
        assert dem.z.dtype == np.float32 and dem.z.shape == (20, 30)
        assert dem.transform == transform and dem.crs.to_epsg() == 4545 and dem.nodata == -9999
        assert np.isnan(dem.z[3:5, 7:9]).all()
        good = z != -9999
        np.testing.assert_array_equal(dem.z[good], z[good].astype(np.float32))


# --- slope ------------------------------------------------------------------------------------
@pytest.mark.parametrize("theta", [10.0, 25.0, 40.0])
@pytest.mark.parametrize("aspect", [0.0, 30.0, 135.0])
def test_slope_of_projected_planes_everywhere_including_edges_and_holes(theta, aspect):
    dem = grid(plane(theta, aspect), 40, 50)
    s = slope_degrees(dem)
    assert s.dtype == np.float32 and s.shape == (40, 50)
    np.testing.assert_allclose(s, theta, atol=0.01)  # interior and the four edges
    dem.z[10:14, 20:26] = np.nan  # a no-data hole: its neighbours keep the plane's slope
    s = slope_degrees(dem)
    assert np.isnan(s[10:14, 20:26]).all()
    assert np.isnan(s).sum() == 24
    np.testing.assert_allclose(s[~np.isnan(s)], theta, atol=0.01)


def test_slope_blocks_join_seamlessly():
    """Slope is computed in blocks of rows: blocks of 8 rows give the one-block answer bit for bit."""
    rng = np.random.default_rng(4)
    dem = grid(lambda x, y: 300 + 40 * np.sin(x / 170.0) * np.cos(y / 230.0) + rng.normal(0, 3, x.shape), 61, 50)
    dem.z[20:23, 10:30] = np.nan
    one = slope_degrees(dem)
    np.testing.assert_array_equal(slope_degrees(dem, block_cells=8 * 50), one)
    np.testing.assert_array_equal(slope_degrees(dem, block_cells=1), one)  # at least 8 rows a block


@pytest.mark.parametrize("theta", [10.0, 25.0, 40.0])
def test_slope_of_a_plane_on_a_geographic_dem(theta):
    """1" cells are 26.9 m east–west and 30.8 m north–south at 29.6N: each row's own metres."""
    dem = geographic(plane(theta, 30.0, x0=480_000.0, y0=3_275_000.0), 60, 80)
    s = slope_degrees(dem)
    np.testing.assert_allclose(s, theta, atol=0.01)


def test_slope_of_a_slanted_roof_is_the_mix_only_at_the_ridge():
    """z = tan θ·|x − xr| (ridge on a cell boundary): every cell is θ except the two columns
    beside the ridge, where Horn's 3×3 sees both sides and the x-gradients partly cancel
    (tan θ / 2 inside; the edge rows' reflected neighbours differ there)."""
    g = math.tan(math.radians(30.0))
    xr = X0 + 25 * CELL
    dem = grid(lambda x, y: 200 + g * np.abs(x - xr), 10, 50)
    s = slope_degrees(dem)
    np.testing.assert_allclose(np.delete(s, [24, 25], axis=1), 30.0, atol=0.01)
    np.testing.assert_allclose(s[1:-1, [24, 25]], math.degrees(math.atan(g / 2)), atol=0.01)


# --- zonal statistics -------------------------------------------------------------------------
def test_zonal_stats_of_a_polygon_a_line_and_a_point_on_a_plane():
    theta = 25.0
    g = math.tan(math.radians(theta))
    dem = grid(plane(theta, 0.0, z0=200.0), 60, 60)  # z = 200 + g·(x − X0), constant along y
    centre_x = lambda col: (col + 0.5) * CELL  # noqa: E731 — x − X0 of a column's centres

    # Polygon: edges 7 m inside columns 10..19 and rows 5..14 → exactly those 100 centres.
    box = shapely.box(X0 + 10 * CELL + 7, Y_TOP - 15 * CELL + 7, X0 + 20 * CELL - 7, Y_TOP - 5 * CELL - 7)
    st = zonal_stats(dem, to_lonlat(box))
    assert st["cells"] == 100 and st["complete"] is True
    assert st["elevation_min_m"] == pytest.approx(200 + g * centre_x(10), abs=1e-3)
    assert st["elevation_max_m"] == pytest.approx(200 + g * centre_x(19), abs=1e-3)
    assert st["elevation_mean_m"] == pytest.approx(200 + g * np.mean([centre_x(c) for c in range(10, 20)]), abs=1e-3)
    assert st["slope_mean_deg"] == pytest.approx(theta, abs=0.01)
    assert st["slope_max_deg"] == pytest.approx(theta, abs=0.01)

    # Line along the centre of row 30 from inside column 40 to inside column 52 → 13 cells.
    y = Y_TOP - 30.5 * CELL
    line = shapely.LineString([(X0 + 40 * CELL + 5, y), (X0 + 53 * CELL - 5, y)])
    st = zonal_stats(dem, to_lonlat(line))
    assert st["cells"] == 13
    assert st["elevation_min_m"] == pytest.approx(200 + g * centre_x(40), abs=1e-3)
    assert st["elevation_max_m"] == pytest.approx(200 + g * centre_x(52), abs=1e-3)
    assert st["slope_mean_deg"] == pytest.approx(theta, abs=0.01)

    # Point: the value of the cell containing it (row 7, column 33), not interpolated.
    st = zonal_stats(dem, to_lonlat(shapely.Point(X0 + 33 * CELL + 3, Y_TOP - 7 * CELL - 26)))
    assert st["cells"] == 1
    assert st["elevation_min_m"] == st["elevation_mean_m"] == st["elevation_max_m"]
    assert st["elevation_mean_m"] == pytest.approx(200 + g * centre_x(33), abs=1e-3)
    assert st["slope_max_deg"] == pytest.approx(theta, abs=0.01)

    # A polygon smaller than a cell, holding no centre: the cells it touches.
    tiny = shapely.box(X0 + 5 * CELL + 2, Y_TOP - 6 * CELL + 2, X0 + 5 * CELL + 9, Y_TOP - 6 * CELL + 9)
    st = zonal_stats(dem, to_lonlat(tiny))
    assert st["cells"] == 1 and st["elevation_mean_m"] == pytest.approx(200 + g * centre_x(5), abs=1e-3)


def test_zonal_stats_on_a_geographic_dem():
    theta = 15.0
    f = plane(theta, 0.0, z0=300.0, x0=480_000.0)
    dem = geographic(f, 60, 80)
    site = shapely.box(107.905, 29.590, 107.915, 29.598)
    st = zonal_stats(dem, site)
    e, n = TO_4545.transform([107.905, 107.915], [29.594, 29.594])
    assert st["slope_mean_deg"] == pytest.approx(theta, abs=0.01)
    assert f(e[0], 0) < st["elevation_min_m"] < st["elevation_max_m"] < f(e[1], 0)
    assert st["elevation_mean_m"] == pytest.approx((f(e[0], 0) + f(e[1], 0)) / 2, abs=0.02 * (f(e[1], 0) - f(e[0], 0)))
    # 0.01° × 0.008° in 1" cells: 36 × 28.8 → 36 columns × 29 rows of centres (edges off the centres).
    assert st["cells"] == 36 * 29


def test_zonal_stats_off_the_dem_on_no_data_and_partly_covered():
    dem = grid(plane(20.0, 0.0), 30, 30)
    far = to_lonlat(shapely.box(X0 - 5000, Y_TOP + 1000, X0 - 4000, Y_TOP + 2000))
    assert zonal_stats(dem, far) is None
    assert zonal_stats(dem, to_lonlat(shapely.Point(X0 + 10_000, Y_TOP - 100))) is None
    assert zonal_stats(dem, shapely.Point(0.0, 0.0)) is None
    dem.z[:10, :10] = np.nan
    assert zonal_stats(dem, to_lonlat(shapely.box(X0 + 35, Y_TOP - 265, X0 + 265, Y_TOP - 35))) is None
    half_off = to_lonlat(shapely.box(X0 - 600 + 7, Y_TOP - 20 * CELL + 7, X0 + 5 * CELL - 7, Y_TOP - 10 * CELL - 7))
    st = zonal_stats(dem, half_off)
    assert st["cells"] == 5 * 10 and st["complete"] is False
    assert st["slope_mean_deg"] == pytest.approx(20.0, abs=0.01)


# --- slope zones ------------------------------------------------------------------------------
def test_slope_zones_cover_the_30_and_20_degree_regions():
    """Flat for 20 columns, then 20° for 30 columns, then 30° for 30 columns (kinks on cell
    edges, continuous surface): "gt25" is the 30° strip and "15_25" the 20° strip, each within
    one column of cells (Horn's mixing beside a kink stays on the right side of 15° and 25° here)."""
    t20, t30 = math.tan(math.radians(20)), math.tan(math.radians(30))
    x1, x2 = X0 + 20 * CELL, X0 + 50 * CELL

    def z(x, y):
        return 300 + np.where(x < x1, 0.0, np.where(x < x2, t20 * (x - x1), t20 * (x2 - x1) + t30 * (x - x2)))

    rows = 40
    dem = grid(z, rows, 80)
    zones = slope_zones(dem)
    assert zones.crs.to_epsg() == 4326
    assert list(zones["slope_class"]) == ["gt25", "15_25"]
    assert all(shapely.is_valid(zones.geometry)) and "25" in zones["name"].iloc[0]
    column = rows * CELL * CELL
    area = {c: to_metric(g).area for c, g in zip(zones["slope_class"], zones.geometry)}
    assert area["gt25"] == pytest.approx(30 * column, abs=column)
    assert area["15_25"] == pytest.approx(30 * column, abs=column)
    gt25 = zones.geometry.iloc[0]
    assert gt25.contains(to_lonlat(shapely.Point(X0 + 65 * CELL, Y_TOP - 20 * CELL)))
    assert not gt25.intersects(to_lonlat(shapely.Point(X0 + 35 * CELL, Y_TOP - 20 * CELL)))


def test_slope_zones_of_flat_ground_are_empty():
    zones = slope_zones(grid(lambda x, y: np.full_like(x, 250.0), 20, 20))
    assert zones.empty and list(zones.columns) == ["slope_class", "name", "geometry"] and zones.crs.to_epsg() == 4326


# --- the drawdown band ------------------------------------------------------------------------
G_BANK = 0.1  # z = 100 + 0.1·|y − yr|: the 145–175 m band is 450 ≤ |y − yr| ≤ 750 m
ROWS, COLS = 70, 60
Y_RIVER = Y_TOP - 35 * CELL  # on a cell edge: the band's edges fall on cell edges too


def reservoir(hollow: bool = True) -> Dem:
    def z(x, y):
        out = 100 + G_BANK * np.abs(y - Y_RIVER)
        if hollow:  # an isolated 150 m hollow behind ground above 175 m
            out = np.where(np.hypot(x - (X0 + 30 * CELL), y - (Y_RIVER + 840)) <= 60, 150.0, out)
        return out

    return grid(z, ROWS, COLS)


def test_drawdown_band_is_the_analytic_strip_and_skips_the_isolated_hollow():
    dem = reservoir()
    river = lonlat_frame(shapely.LineString([(X0, Y_RIVER), (X0 + COLS * CELL, Y_RIVER)]))
    band = drawdown_zones(dem, river)
    assert list(band.columns) == ["name", "geometry"]
    assert band["name"].iloc[0] == DRAWDOWN_NAME == "消落带（由 DEM 派生，145–175 m）"
    assert band.crs.to_epsg() == 4326 and shapely.is_valid(band.geometry.iloc[0])
    length = COLS * CELL
    strip = 2 * (75 / G_BANK - 45 / G_BANK) * length  # 2 × 300 m × 1,800 m
    assert metric_area(band) == pytest.approx(strip, rel=1e-5)
    geom = band.geometry.iloc[0]
    assert not geom.intersects(to_lonlat(shapely.Point(X0 + 30 * CELL, Y_RIVER + 840)))  # the hollow
    # The band is reached only through ground below 145 m (the river bed at 100 m, 450 m away):
    # the reservoir at 175 m floods it; the seed buffer (100 m) alone would not.
    mask = drawdown_mask(dem, river)
    u = np.abs(Y_TOP - CELL * (np.arange(ROWS) + 0.5) - Y_RIVER)
    np.testing.assert_array_equal(mask.all(axis=1), (u >= 450) & (u <= 750))
    np.testing.assert_array_equal(mask.any(axis=1), (u >= 450) & (u <= 750))


def test_drawdown_band_needs_the_river():
    dem = reservoir()
    elsewhere = lonlat_frame(shapely.LineString([(X0 + 50_000, Y_RIVER), (X0 + 52_000, Y_RIVER)]))
    assert drawdown_zones(dem, elsewhere).empty
    # A river on the hollow only: the hollow is its own band and nothing else is.
    xc, yc = X0 + 30 * CELL, Y_RIVER + 840
    on_hollow = lonlat_frame(shapely.LineString([(xc - 20, yc), (xc + 20, yc)]))
    hollow = drawdown_mask(dem, on_hollow, max_distance_m=0)
    x, y = np.meshgrid(X0 + (np.arange(COLS) + 0.5) * CELL, Y_TOP - (np.arange(ROWS) + 0.5) * CELL)
    np.testing.assert_array_equal(hollow, np.hypot(x - xc, y - yc) <= 60)


def test_drawdown_band_on_a_geographic_dem():
    n_river = 3_275_000.0 - 1000.0
    dem = geographic(lambda e, n: 100 + G_BANK * np.abs(n - n_river), 80, 60)
    river = gpd.GeoDataFrame(geometry=[to_lonlat(shapely.LineString([(470_000, n_river), (500_000, n_river)]))],
                             crs=4326)
    band = drawdown_zones(dem, river)
    footprint = to_metric(shapely.box(*dem.bounds))  # 4490 ≡ 4326 to centimetres
    strips = shapely.union(shapely.box(0, n_river + 450, 1e6, n_river + 750),
                           shapely.box(0, n_river - 750, 1e6, n_river - 450))
    expected = footprint.intersection(strips).area
    width = footprint.bounds[2] - footprint.bounds[0]
    assert metric_area(band) == pytest.approx(expected, abs=4 * 31 * width)  # one row per strip edge


# --- viewshed ---------------------------------------------------------------------------------
G_SIDE = math.tan(math.radians(20.0))
D_RIDGE = 600.0  # valley sides rise from the river (z = 100) to ridges at |y| = 600 m
Z_RIDGE = 100 + G_SIDE * D_RIDGE
Z_TROUGH = Z_RIDGE - 100  # behind the ridge: down 100 m by 800 m …
HILL_RISE = 0.6  # … then a higher hill rising 0.6 to its top at 2,500 m
V_ROWS, V_COLS = 201, 200
Y_VALLEY = Y_TOP - 100.5 * CELL  # the river on the centres of row 100


def valley_u(u):
    return np.where(u <= D_RIDGE, 100 + G_SIDE * u,
                    np.where(u <= 800, Z_RIDGE - 0.5 * (u - D_RIDGE),
                             np.where(u <= 2500, Z_TROUGH + HILL_RISE * (u - 800),
                                      Z_TROUGH + HILL_RISE * 1700 - 0.3 * (u - 2500))))


def valley() -> tuple[Dem, gpd.GeoDataFrame]:
    dem = grid(lambda x, y: valley_u(np.abs(y - Y_VALLEY)), V_ROWS, V_COLS)
    river = lonlat_frame(shapely.LineString([(X0 + CELL / 2, Y_VALLEY), (X0 + V_COLS * CELL - CELL / 2, Y_VALLEY)]))
    return dem, river


def far_face_start(eye: float = 100 + 1.7) -> float:
    """Where the hill's face rises above the line of sight over the ridge. The terrain depends
    on |y| alone and every observer stands at y = 0, so this holds along every ray direction."""
    tan = (Z_RIDGE - eye) / D_RIDGE
    return (eye - Z_TROUGH + HILL_RISE * 800) / (HILL_RISE - tan)


def test_valley_viewshed_stops_at_the_first_ridge():
    dem, river = valley()
    zone = viewshed_zones(dem, river, max_distance_m=3200)
    assert list(zone.columns) == ["name", "geometry"] and zone["name"].iloc[0] == BARRIER_NAME
    assert zone.crs.to_epsg() == 4326 and shapely.is_valid(zone.geometry.iloc[0])
    length = V_COLS * CELL
    # 2·D·L: the sides up to both ridges, within a row of cells at each ridge; here exactly the
    # 41 rows of cells reaching |y| ≤ D (the ridge lines run along the centres of two rows).
    assert metric_area(zone) == pytest.approx(2 * D_RIDGE * length, abs=2 * CELL * length)
    assert metric_area(zone) == pytest.approx(41 * CELL * length, rel=1e-6)
    geom = zone.geometry.iloc[0]
    for x in (X0 + 100, X0 + 3000, X0 + 5900):
        for u in (0, 300, 580, -580):
            assert geom.contains(to_lonlat(shapely.Point(x, Y_VALLEY + u)))
        for u in (700, 2000, -2000, 2400):
            assert not geom.intersects(to_lonlat(shapely.Point(x, Y_VALLEY + u)))


def test_valley_viewshed_without_the_ridge_rule_sees_the_far_hills():
    dem, river = valley()
    obs = shoreline_observers(dem, river, 60.0)
    mask = viewshed(dem, obs, max_distance_m=3200, first_ridge=False)
    u = np.abs(Y_TOP - CELL * (np.arange(V_ROWS) + 0.5) - Y_VALLEY)
    u_face = far_face_start()
    assert 1500 < u_face < 1550
    # A cell is visible when any part of it is: row by row (each row is one u), exactly the
    # rows reaching u ≤ D, and those reaching past u_face up to the hill's top at 2,500 m.
    lo, hi = u - CELL / 2, u + CELL / 2
    expected = (lo <= D_RIDGE) | ((hi > u_face) & (lo <= 2500))
    np.testing.assert_array_equal(mask.all(axis=1), expected)
    np.testing.assert_array_equal(mask.any(axis=1), expected)
    zone = viewshed_zones(dem, river, max_distance_m=3200, first_ridge=False)
    expected = 2 * (D_RIDGE + 2500 - u_face) * V_COLS * CELL
    assert metric_area(zone) == pytest.approx(expected, abs=6 * CELL * V_COLS * CELL)
    ridge_only = viewshed(dem, obs, max_distance_m=3200, first_ridge=True)
    np.testing.assert_array_equal(ridge_only.all(axis=1), lo <= D_RIDGE)
    np.testing.assert_array_equal(ridge_only.any(axis=1), lo <= D_RIDGE)


def test_a_wall_hides_the_ground_behind_it():
    """Flat ground at 100 m, a 50 m wall 3 cells thick (y in [300, 390] m from the river,
    x in [500, 2500] m of a 3,000 m reach). A cell behind it is hidden iff the segment from every
    observer on the shore crosses the wall; the segments move monotonically with the observer,
    so the two end observers decide: hidden ⟺ the segment from the west end still reaches x ≥ 500
    and the one from the east end x ≤ 2500 within the wall's rows."""
    rows, cols = 50, 100
    y_river = Y_TOP - 45 * CELL  # a cell edge: ground from −150 m to 1,350 m
    y1, y2, a, b = 300.0, 390.0, 500.0, 2500.0

    def z(x, y):
        wall = (y - y_river >= y1) & (y - y_river <= y2) & (x - X0 >= a) & (x - X0 <= b)
        return np.where(wall, 150.0, 100.0)

    dem = grid(z, rows, cols)
    xs, xe = CELL / 2, cols * CELL - CELL / 2
    river = lonlat_frame(shapely.LineString([(X0 + xs, y_river), (X0 + xe, y_river)]))
    obs = shoreline_observers(dem, river, CELL)
    assert np.allclose(obs[[0, -1], 0] - X0, [xs, xe], atol=0.01)
    mask = viewshed(dem, obs, max_distance_m=3500, first_ridge=False)

    cx = (np.arange(cols) + 0.5) * CELL
    cy = Y_TOP - (np.arange(rows) + 0.5) * CELL - y_river
    x, y = np.meshgrid(cx, cy)
    behind = y > y2
    with np.errstate(divide="ignore", invalid="ignore"):
        west = np.maximum(xs + (x - xs) * y1 / y, xs + (x - xs) * y2 / y)
        east = np.minimum(xe + (x - xe) * y1 / y, xe + (x - xe) * y2 / y)
    hidden = behind & (west >= a) & (east <= b)
    assert hidden.sum() > 300  # a large shadow: up to ~1,000 m behind the wall
    # Compare every cell in front of and behind the wall, except a one-cell band along the
    # shadow's edge (a cell is visible when any part of it is).
    edge = np.zeros_like(hidden)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            edge |= np.roll(np.roll(hidden, dr, 0), dc, 1) != hidden
    check = ((y < y1 - CELL) | behind) & ~edge
    np.testing.assert_array_equal(mask[check], ~hidden[check])
    # And the same with the first-ridge rule: the wall is a ridge, nothing behind it is seen.
    ridge = viewshed(dem, obs, max_distance_m=3500, first_ridge=True)
    assert not ridge[hidden & ~edge].any() and ridge[y < y1 - CELL].all()


def test_viewshed_limits_and_observers():
    dem, river = valley()
    near = viewshed(dem, shoreline_observers(dem, river, 60.0), max_distance_m=300, first_ridge=False)
    u = np.abs(Y_TOP - CELL * (np.arange(V_ROWS) + 0.5) - Y_VALLEY)
    assert near[u <= 270].all() and not near[u >= 330].any()  # the maximum distance bounds it
    # Both banks of a river with a half width; a river polygon's boundary.
    wide = lonlat_frame(shapely.LineString([(X0 + 1000, Y_VALLEY), (X0 + 2000, Y_VALLEY)])).assign(half_width_m=45.0)
    banks = shoreline_observers(dem, wide, 100.0)
    assert np.allclose(np.unique(np.round(banks[:, 1] - Y_VALLEY, 3)), [-45.0, 45.0], atol=0.05)
    assert len(banks) == 2 * 11
    poly = gpd.GeoDataFrame(geometry=[to_lonlat(shapely.box(X0 + 1000, Y_VALLEY - 45, X0 + 2000, Y_VALLEY + 45))],
                            crs=4326)
    ring = shoreline_observers(dem, poly, 100.0)
    assert len(ring) == 23 and np.allclose(np.abs(ring[:, 1] - Y_VALLEY).max(), 45.0, atol=0.05)
    off = lonlat_frame(shapely.LineString([(X0 + 90_000, Y_VALLEY), (X0 + 91_000, Y_VALLEY)]))
    assert viewshed_zones(dem, off, max_distance_m=1000).empty


def test_valley_viewshed_on_a_geographic_dem():
    """The same valley sampled on 1" lon/lat cells (reprojected to EPSG:4545 for the rays)."""
    n_river = 3_275_000.0 - 1500.0
    dem = geographic(lambda e, n: valley_u(np.abs(n - n_river)), 110, 110)
    footprint = to_metric(shapely.box(*dem.bounds))
    x0, _, x1, _ = footprint.bounds
    river = gpd.GeoDataFrame(geometry=[to_lonlat(shapely.LineString([(x0, n_river), (x1, n_river)]))], crs=4326)
    zone = viewshed_zones(dem, river, max_distance_m=2000)
    band = footprint.intersection(shapely.box(0, n_river - D_RIDGE, 1e6, n_river + D_RIDGE))
    got = to_metric(zone.geometry.iloc[0])
    assert got.area == pytest.approx(band.area, abs=3 * CELL * (x1 - x0))
    assert got.symmetric_difference(band).area < 4 * CELL * (x1 - x0)
