"""Distances and areas agree with geodesic values (pyproj.Geod on GRS80/CGCS2000) within 0.5 %
anywhere in Chongqing — for the metric CRS itself and for the engine's answers."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex
from ecozone.zoning.metric import to_metric
from geo import GEOD, geodesic_distance
# Chongqing's extent (statistical yearbook: 105°11′–110°11′E, 28°10′–32°13′N).
WEST, EAST, SOUTH, NORTH = 105.18, 110.19, 28.16, 32.21
TOL = 0.005


def _grid(n=9):
    lons, lats = np.meshgrid(np.linspace(WEST, EAST, n), np.linspace(SOUTH, NORTH, n))
    return lons.ravel(), lats.ravel()


@pytest.mark.parametrize("dist_m", [200.0, 1000.0, 5000.0, 30000.0])
def test_metric_distances_match_geodesic_across_chongqing(dist_m):
    lons, lats = _grid()
    rng = np.random.default_rng(7)
    az = rng.uniform(0, 360, lons.size)
    lon2, lat2, _ = GEOD.fwd(lons, lats, az, np.full(lons.size, dist_m))
    a = to_metric(shapely.points(lons, lats))
    b = to_metric(shapely.points(lon2, lat2))
    err = np.abs(shapely.distance(a, b) / dist_m - 1)
    assert err.max() < TOL, f"max relative error {err.max():.4%}"


def test_metric_areas_match_geodesic_across_chongqing():
    lons, lats = _grid()
    for lon, lat in zip(lons, lats):
        # a ~2 km × 2 km parcel, densified so the geodesic area is of the same shape
        ring = shapely.segmentize(shapely.box(lon, lat, lon + 0.02, lat + 0.02), 0.0005)
        geodesic_area, _ = GEOD.geometry_area_perimeter(ring)
        assert abs(to_metric(ring).area / abs(geodesic_area) - 1) < TOL


@pytest.mark.parametrize("lon0", [105.4, 107.0, 108.0, 109.9])
@pytest.mark.parametrize("offset_m, half_width_m", [(400.0, 0.0), (750.0, 150.0), (2900.0, 60.0), (4800.0, 400.0)])
def test_engine_shoreline_distance_matches_geodesic(catalog, lon0, offset_m, half_width_m):
    """A river and a district placed anywhere in Chongqing: the engine's distance_m to the
    shoreline equals the geodesic distance to the centreline less half_width_m."""
    lat0 = 29.5
    river = shapely.LineString([(lon0 - 0.15, lat0 - 0.1), (lon0, lat0), (lon0 + 0.12, lat0 + 0.15)])
    district = shapely.box(lon0 - 0.6, lat0 - 0.6, lon0 + 0.6, lat0 + 0.6)
    layers = [
        LayerFeatures("d", "d", "district", gpd.GeoDataFrame(
            {"feature_id": ["wl"], "code": ["500156"], "name": ["武隆区"]}, geometry=[district], crs=4326)),
        LayerFeatures("rivers", "r", "river", gpd.GeoDataFrame(
            {"feature_id": ["wu"], "name": ["乌江"], "river_class": ["major_tributary"],
             "half_width_m": [half_width_m], "reach": ["rural"]}, geometry=[river], crs=4326)),
    ]
    engine = Engine(ZoneIndex(catalog, layers))
    # walk away from the river's middle vertex, perpendicular to the river (north-west side)
    lon, lat, _ = GEOD.fwd(lon0, lat0, -55.0, offset_m + half_width_m)
    expected = geodesic_distance(lon, lat, river) - half_width_m
    ev = engine.evaluate(shapely.Point(lon, lat), "industrial_park")
    five_km = [f for f in ev.findings if f.rule.id == "wulong-wu-river-5km-industrial-park"]
    assert five_km, "site within 5 km must be in the 5 km zone"
    assert abs(five_km[0].distance_m - expected) <= max(TOL * expected, 0.1)


def test_engine_overlap_area_matches_geodesic(catalog):
    """Overlap of a parcel with a red line, against the geodesic area of the same overlap."""
    red = shapely.box(108.9, 31.0, 109.3, 31.3)
    parcel = shapely.segmentize(shapely.box(109.25, 31.1, 109.35, 31.16), 0.001)
    layers = [
        LayerFeatures("d", "d", "district", gpd.GeoDataFrame(
            {"feature_id": ["wx"], "code": ["500238"], "name": ["巫溪县"]},
            geometry=[shapely.box(108.5, 30.8, 110.3, 31.8)], crs=4326)),
        LayerFeatures("red_lines", "r", "red_line", gpd.GeoDataFrame(
            {"feature_id": ["r1"], "name": ["红线"]}, geometry=[shapely.segmentize(red, 0.001)], crs=4326)),
    ]
    engine = Engine(ZoneIndex(catalog, layers))
    ev = engine.evaluate(parcel, "construction")
    finding = next(f for f in ev.findings if f.rule.id == "wuxi-red-line")
    inside, _ = GEOD.geometry_area_perimeter(shapely.segmentize(parcel.intersection(red), 0.001))
    total, _ = GEOD.geometry_area_perimeter(parcel)
    assert abs(finding.overlap_area_m2 / abs(inside) - 1) < TOL
    assert abs(finding.overlap_ratio - abs(inside) / abs(total)) < TOL
    assert ev.verdict == "prohibited"


def test_the_metric_pipeline_is_epsg_4545():
    """zoning.metric writes EPSG:4545 out as a PROJ pipeline (fast to build); it must give what
    PROJ's own EPSG:4326 → EPSG:4545 operation gives, to the millimetre, across Chongqing."""
    from pyproj import Transformer

    from ecozone.zoning.metric import to_lonlat, to_metric

    lon, lat = np.meshgrid(np.linspace(105.2, 110.2, 21), np.linspace(28.1, 32.2, 17))
    pts = shapely.points(lon.ravel(), lat.ravel())
    ours = shapely.get_coordinates(to_metric(pts))
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True).transform(lon.ravel(), lat.ravel())
    assert np.abs(ours - np.column_stack([x, y])).max() < 1e-3
    back = shapely.get_coordinates(to_lonlat(shapely.points(ours)))
    assert np.abs(back - np.column_stack([lon.ravel(), lat.ravel()])).max() < 1e-9
