"""Input CRS handling: every accepted CRS lands on the same WGS84 point; bad ones are 422s."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fast_geocn import coord as independent_gcj
from pyproj import Geod, Transformer

from ecozone.layers.crs import gcj02_to_wgs84, parse_crs, to_wgs84, wgs84_to_gcj02
from ecozone.layers.errors import CoordinatesOutOfRange, UnknownCRS

GEOD = Geod(ellps="GRS80")
SITES = [(107.7655, 29.3311), (106.63, 29.72), (109.63, 31.40), (105.6, 29.4), (106.93, 28.96)]


@pytest.mark.parametrize("epsg", ["EPSG:4490", "EPSG:4544", "EPSG:4545", "EPSG:4546", "EPSG:32648", "EPSG:3857"])
@pytest.mark.parametrize("lon, lat", SITES)
def test_projected_and_geographic_inputs_round_trip(epsg, lon, lat):
    x, y = Transformer.from_crs("EPSG:4326", epsg, always_xy=True).transform(lon, lat)
    got = to_wgs84(shapely.Point(x, y), parse_crs(epsg))
    _, _, d = GEOD.inv(lon, lat, got.x, got.y)
    assert d < 0.01


@pytest.mark.parametrize("lon, lat", SITES)
def test_gcj02_forward_agrees_with_an_independent_implementation(lon, lat):
    ours = wgs84_to_gcj02(lon, lat)
    theirs = independent_gcj.wgs84_to_gcj02(lon, lat)
    assert np.allclose(ours, theirs, atol=1e-9)


@pytest.mark.parametrize("lon, lat", SITES)
def test_gcj02_input_is_converted_back_to_wgs84(lon, lat):
    glon, glat = independent_gcj.wgs84_to_gcj02(lon, lat)
    _, _, offset = GEOD.inv(lon, lat, glon, glat)
    assert 400 < offset < 650  # the ~500 m shift that must not leak into a 1 km buffer
    got = to_wgs84(shapely.Point(glon, glat), parse_crs("GCJ02"))
    _, _, residual = GEOD.inv(lon, lat, got.x, got.y)
    assert residual < 0.01


def test_gcj02_is_identity_outside_china():
    lon, lat = gcj02_to_wgs84(2.35, 48.86)
    assert (float(lon), float(lat)) == (2.35, 48.86)


@pytest.mark.parametrize("text", ["EPSG:999999", "WGS84-ish", "", "EPSG:abc"])
def test_unknown_crs_is_rejected(text):
    if text == "":
        assert parse_crs(text).label == "EPSG:4326"  # empty means the default
        return
    with pytest.raises(UnknownCRS):
        parse_crs(text)


@pytest.mark.parametrize(
    "crs, xy",
    [
        ("EPSG:4326", (200.0, 29.0)),
        ("EPSG:4326", (107.0, 95.0)),
        ("EPSG:4326", (3500000.0, 3300000.0)),  # projected numbers sent as lon/lat
        ("EPSG:4545", (36500000.0, 3300000.0)),  # Gauss-Kruger easting with its zone prefix
        ("EPSG:4545", (500000.0, 9.9e7)),
    ],
)
def test_out_of_range_coordinates_are_rejected(crs, xy):
    with pytest.raises(CoordinatesOutOfRange) as e:
        to_wgs84(shapely.Point(*xy), parse_crs(crs))
    assert e.value.detail["where"] == "vertex 0"


_GRID = [(lon, lat) for lon in (105.3, 106.6, 107.8, 108.9, 110.1) for lat in (28.2, 29.4, 30.6, 31.6)]


@pytest.mark.parametrize("lon, lat", _GRID)
def test_bd09_input_is_converted_back_to_wgs84(lon, lat):
    """Baidu clicks across Chongqing: eviltransform (independent) makes the BD-09 numbers; ecozone
    must land on the WGS84 point within 0.5 m."""
    from eviltransform import wgs2bd

    blat, blon = wgs2bd(lat, lon)
    back = to_wgs84(shapely.Point(blon, blat), parse_crs("BD09"))
    assert Geod(ellps="WGS84").inv(lon, lat, back.x, back.y)[2] < 0.5
