"""Validation of uploaded layers against their kind: every rejection names the feature, the
attribute and the fix; coordinates land in WGS84 where the fixture put them. Fixtures are files
written by GDAL (pyogrio) and read back with read_upload, as an upload would be; expected values
are the ones written into them (and, for GCJ-02, eviltransform's independent formulas)."""

from __future__ import annotations

import warnings
from pathlib import Path

import eviltransform
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from pyproj import CRS, Geod, Transformer
from rasterio.transform import from_origin

from ecozone.layers.errors import (
    CRSConflict,
    EmptyGeometry,
    EmptyLayer,
    ImplausibleCoordinates,
    InvalidAttributeValue,
    InvalidGeometry,
    KindFormatMismatch,
    MissingAttribute,
    MissingCRS,
    TooManyFeatures,
    TooManyVertices,
    UnknownLayerKind,
    WrongGeometryType,
)
from ecozone.layers.formats import read_upload
from ecozone.layers.kinds import LAYER_KINDS
from ecozone.layers.validate import Limits, validate_layer, validate_raster

GEOD = Geod(ellps="WGS84")
TO_GK = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)
# Squares of ~1 km around three places in Chongqing (lon, lat of the south-west corner).
CORNERS = [(106.40, 29.82), (106.55, 29.56), (107.76, 29.33)]
SQUARES = [shapely.box(x, y, x + 0.01, y + 0.01) for x, y in CORNERS]
CHONGQING = (105.2, 28.1, 110.2, 32.3)


def upload(tmp_path: Path, data: dict, geometry, crs="EPSG:4326", driver="GPKG", stem="layer"):
    """Write a layer with GDAL and read it back as an upload."""
    frame = gpd.GeoDataFrame(data, geometry=list(geometry), crs=crs)
    path = tmp_path / (stem + {"GPKG": ".gpkg", "GeoJSON": ".geojson", "CSV": ".csv"}[driver])
    options = {"layer_options": {"GEOMETRY": "AS_WKT"}} if driver == "CSV" else {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # a file without CRS is the point
        pyogrio.write_dataframe(frame, path, driver=driver, **options)
    return read_upload(path, path.name)


def protected_areas(tmp_path, **overrides):
    data = {"name": ["缙云山", "中梁山", "歌乐山"], "category": ["nature_reserve", "forest_park", "scenic_area"],
            "level": ["national", "municipal", "county"]}
    data.update(overrides)
    return upload(tmp_path, data, SQUARES)


def assert_close_m(got: shapely.Geometry, expected: shapely.Geometry, metres: float):
    a, b = shapely.get_coordinates(got), shapely.get_coordinates(expected)
    assert a.shape == b.shape
    _, _, d = GEOD.inv(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert d.max() < metres


# --- a valid layer ---------------------------------------------------------------------------
def test_valid_layer_comes_back_wgs84_with_string_feature_ids(tmp_path):
    frame, report = validate_layer("protected_area", protected_areas(tmp_path))
    assert frame.crs.to_epsg() == 4326
    assert frame.columns[0] == "feature_id" and frame["feature_id"].tolist() == ["1", "2", "3"]
    assert frame["name"].tolist() == ["缙云山", "中梁山", "歌乐山"]
    assert all(shapely.equals_exact(np.asarray(frame.geometry.array), np.asarray(SQUARES), 1e-12))
    assert report.public() == {"feature_count": 3, "source_crs": "EPSG:4326", "repaired_count": 0,
                               "repaired": [], "warnings": []}


def test_gauss_kruger_layer_is_converted_to_where_it_was(tmp_path):
    gk = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1]))) for s in SQUARES]
    frame, report = validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, gk, crs="EPSG:4545"))
    assert report.source_crs == "EPSG:4545"
    for got, expected in zip(frame.geometry, SQUARES):
        assert_close_m(got, expected, 0.01)


def test_feature_ids_come_from_a_unique_id_column(tmp_path):
    frame, _ = validate_layer("red_line", upload(tmp_path, {"id": [101, 102, 205]}, SQUARES))
    assert frame["feature_id"].tolist() == ["101", "102", "205"]


def test_duplicate_ids_are_numbered_and_said(tmp_path):
    frame, report = validate_layer("red_line", upload(tmp_path, {"id": [7, 7, 8]}, SQUARES))
    assert frame["feature_id"].tolist() == ["1", "2", "3"]
    assert [w["code"] for w in report.warnings] == ["feature_ids_generated"]


# --- kind ------------------------------------------------------------------------------------
def test_unknown_kind_lists_the_kinds(tmp_path):
    with pytest.raises(UnknownLayerKind) as e:
        validate_layer("nature_reserve", protected_areas(tmp_path))
    assert e.value.code == "unknown_kind" and e.value.status == 422
    assert e.value.detail["allowed"] == list(LAYER_KINDS)
    assert "protected_area" in e.value.en


def test_raster_kind_with_a_vector_file_and_vector_kind_with_a_raster(tmp_path):
    with pytest.raises(KindFormatMismatch):
        validate_layer("raster", protected_areas(tmp_path))
    with rasterio.open(tmp_path / "dem.tif", "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8",
                       crs="EPSG:4545", transform=from_origin(355_000, 3_330_000, 30, 30)) as dst:
        dst.write(np.ones((8, 8), "uint8"), 1)
    raster = read_upload(tmp_path / "dem.tif", "dem.tif")
    with pytest.raises(KindFormatMismatch) as e:
        validate_layer("red_line", raster)
    assert e.value.code == "kind_format_mismatch" and "raster" in e.value.en
    with pytest.raises(KindFormatMismatch):
        validate_raster("red_line", raster)
    assert validate_raster("raster", raster) == "EPSG:4545"
    with pytest.raises(CRSConflict):
        validate_raster("raster", raster, crs="EPSG:4326")


def test_empty_layer(tmp_path):
    with pytest.raises(EmptyLayer) as e:
        validate_layer("red_line", upload(tmp_path, {"name": pd.Series([], dtype=str)}, []))
    assert e.value.code == "empty_layer"


# --- attributes ------------------------------------------------------------------------------
def test_missing_required_attribute_is_named(tmp_path):
    data = {"name": ["缙云山", "中梁山", "歌乐山"], "category": ["nature_reserve"] * 3}
    with pytest.raises(MissingAttribute) as e:
        validate_layer("protected_area", upload(tmp_path, data, SQUARES))
    assert e.value.code == "missing_attribute" and e.value.detail["attribute"] == "level"
    assert "level" in e.value.en and "level" in e.value.zh


def test_chinese_column_name_gets_a_did_you_mean_not_a_rename(tmp_path):
    data = {"名称": ["缙云山", "中梁山", "歌乐山"], "category": ["nature_reserve"] * 3, "level": ["national"] * 3}
    with pytest.raises(MissingAttribute) as e:
        validate_layer("protected_area", upload(tmp_path, data, SQUARES))
    assert e.value.detail["did_you_mean"] == "名称" and "名称" in e.value.en


def test_differently_cased_column_gets_a_did_you_mean(tmp_path):
    with pytest.raises(MissingAttribute) as e:
        validate_layer("industrial_park", upload(tmp_path, {"Name": ["a", "b", "c"]}, SQUARES))
    assert e.value.detail["did_you_mean"] == "Name"


def test_required_attribute_null_in_one_feature_names_it(tmp_path):
    with pytest.raises(MissingAttribute) as e:
        validate_layer("protected_area", protected_areas(tmp_path, name=["缙云山", None, "歌乐山"]))
    d = e.value.detail
    assert (d["where"], d["feature_index"], d["feature_id"], d["attribute"], d["count"]) == (
        "features[1]", 1, "2", "name", 1)


def test_bad_enum_value_lists_the_allowed_values(tmp_path):
    with pytest.raises(InvalidAttributeValue) as e:
        validate_layer("protected_area", protected_areas(tmp_path, level=["national", "national", "provincial"]))
    d = e.value.detail
    assert (d["feature_index"], d["attribute"], d["value"]) == (2, "level", "provincial")
    assert d["allowed"] == ["national", "municipal", "county"]
    for value in ("national", "municipal", "county", "provincial"):
        assert value in e.value.en and value in e.value.zh


def test_numeric_enum_values_are_stored_as_their_strings(tmp_path):
    noise = upload(tmp_path, {"noise_class": [2.0, 0.0, 3.0]}, SQUARES)
    assert noise.frame["noise_class"].dtype.kind == "f"  # the file holds floats
    frame, _ = validate_layer("noise_zone", noise)
    assert frame["noise_class"].tolist() == ["2", "0", "3"]
    forest = upload(tmp_path, {"protection_grade": [1, 4, None]}, SQUARES, stem="forest")
    frame, _ = validate_layer("forest_land", forest)
    assert frame["protection_grade"].tolist() == ["1", "4", None]


def test_enum_numbers_written_as_text_with_decimals_count_as_numbers(tmp_path):
    # Excel saves a typed 2 as "2.0"; the CSV carries it as text.
    csv = upload(tmp_path, {"noise_class": ["2.0", "0", "4a"]}, SQUARES, crs=None, driver="CSV")
    frame, _ = validate_layer("noise_zone", csv, crs="EPSG:4326")
    assert frame["noise_class"].tolist() == ["2", "0", "4a"]


def test_blank_optional_enum_is_no_value(tmp_path):
    frame, _ = validate_layer("protected_area", protected_areas(tmp_path, zone=["core", "", None]))
    assert frame["zone"].tolist() == ["core", None, None]


def test_a_number_outside_a_numeric_enum_is_refused(tmp_path):
    with pytest.raises(InvalidAttributeValue) as e:
        validate_layer("noise_zone", upload(tmp_path, {"noise_class": [2.0, 4.0, 2.5]}, SQUARES))
    assert (e.value.detail["feature_index"], e.value.detail["value"]) == (1, "4")
    assert "4a" in e.value.en


# --- geometry --------------------------------------------------------------------------------
def test_wrong_geometry_type_names_the_feature_and_types(tmp_path):
    geometries = [SQUARES[0], shapely.Point(106.5, 29.5), SQUARES[2]]
    with pytest.raises(WrongGeometryType) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, geometries, driver="GeoJSON"))
    d = e.value.detail
    assert (d["feature_index"], d["found"], d["allowed"]) == (1, "Point", ["Polygon", "MultiPolygon"])
    assert "Point" in e.value.en and "Polygon" in e.value.zh


def test_points_are_fine_where_the_kind_allows_them(tmp_path):
    geometries = [SQUARES[0], shapely.Point(106.5, 29.5), SQUARES[2]]
    layer = upload(tmp_path, {"name": ["a", "b", "c"]}, geometries, driver="GeoJSON")
    frame, _ = validate_layer("tailings_pond", layer)
    assert frame.geometry.iloc[1].equals(shapely.Point(106.5, 29.5))


def test_null_geometry_is_named(tmp_path):
    geometries = [SQUARES[0], None, SQUARES[2]]
    with pytest.raises(EmptyGeometry) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, geometries, driver="GeoJSON"))
    assert (e.value.code, e.value.detail["first_indexes"], e.value.detail["count"]) == ("empty_geometry", [1], 1)


def bowtie(x: float, y: float, d: float = 0.01) -> shapely.Polygon:
    """A self-intersecting 'polygon': two triangles of d²/4 each touching at the centre."""
    return shapely.Polygon([(x, y), (x + d, y + d), (x + d, y), (x, y + d), (x, y)])


def test_invalid_polygon_is_repaired_and_counted(tmp_path):
    geometries = [SQUARES[0], bowtie(106.55, 29.56), SQUARES[2]]
    assert not geometries[1].is_valid
    frame, report = validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, geometries))
    repaired = frame.geometry.iloc[1]
    assert repaired.is_valid and repaired.geom_type == "MultiPolygon" and len(repaired.geoms) == 2
    assert repaired.area == pytest.approx(2 * 0.01**2 / 4, rel=1e-9)
    assert report.repaired == [1]
    assert report.public()["repaired_count"] == 1
    assert [w["code"] for w in report.warnings] == ["geometry_repaired"]


def test_strict_rejects_invalid_polygon_with_the_reason(tmp_path):
    geometries = [SQUARES[0], bowtie(106.55, 29.56), SQUARES[2]]
    with pytest.raises(InvalidGeometry) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, geometries), strict=True)
    assert e.value.code == "invalid_geometry" and e.value.detail["feature_index"] == 1
    assert e.value.detail["reason"].startswith("Self-intersection")


# --- CRS -------------------------------------------------------------------------------------
def test_missing_crs_asks_for_one(tmp_path):
    csv = upload(tmp_path, {"name": ["a", "b", "c"]}, SQUARES, crs=None, driver="CSV")
    assert csv.file_crs is None
    with pytest.raises(MissingCRS) as e:
        validate_layer("red_line", csv)
    assert e.value.code == "missing_crs" and "crs=" in e.value.en
    frame, report = validate_layer("red_line", csv, crs="EPSG:4326")
    assert report.source_crs == "EPSG:4326"
    assert all(shapely.equals_exact(np.asarray(frame.geometry.array), np.asarray(SQUARES), 1e-9))


def test_crs_contradicting_the_file_is_refused(tmp_path):
    with pytest.raises(CRSConflict) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, SQUARES), crs="EPSG:4545")
    assert e.value.code == "crs_conflict"
    assert "EPSG:4326" in e.value.en and "EPSG:4545" in e.value.en


def test_geojson_without_crs_member_may_be_read_in_the_crs_sent(tmp_path):
    gk = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1]))) for s in SQUARES]
    geojson = upload(tmp_path, {"name": ["a", "b", "c"]}, gk, crs=None, driver="GeoJSON")
    assert (geojson.file_crs, geojson.crs_implied) == ("EPSG:4326", True)
    frame, report = validate_layer("red_line", geojson, crs="EPSG:4545")
    assert report.source_crs == "EPSG:4545" and [w["code"] for w in report.warnings] == ["crs_overridden"]
    assert_close_m(frame.geometry.iloc[0], SQUARES[0], 0.01)


def test_swapped_lat_lon_says_swap_axes(tmp_path):
    swapped = [shapely.transform(s, lambda xy: xy[:, ::-1]) for s in SQUARES]
    with pytest.raises(ImplausibleCoordinates) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, swapped))
    assert e.value.code == "coordinates_implausible_for_crs"
    assert e.value.detail["swap_axes"] is True and e.value.detail["feature_index"] == 0
    assert "swap" in e.value.en.lower()


def test_metres_declared_as_degrees_name_the_gauss_kruger_crs(tmp_path):
    gk = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1]))) for s in SQUARES]
    with pytest.raises(ImplausibleCoordinates) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, gk, crs="EPSG:4326"),
                       plausible_extent=CHONGQING)
    assert e.value.detail["likely_crs"] == "EPSG:4545" and "crs=EPSG:4545" in e.value.en


def test_zone_prefixed_eastings_name_the_zone_crs(tmp_path):
    # CGCS2000 3-degree zone 36 has its central meridian at 108E and writes eastings with the
    # zone number in front: 500 000 m becomes 36 500 000 m.
    zone36 = CRS.from_epsg(4524)
    assert zone36.name == "CGCS2000 / 3-degree Gauss-Kruger zone 36"
    params = {p.name: p.value for p in zone36.coordinate_operation.params}
    assert params["Longitude of natural origin"] == 108 and params["False easting"] == 36_500_000
    prefixed = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1])) + [36e6, 0])
                for s in SQUARES]
    with pytest.raises(ImplausibleCoordinates) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, prefixed, crs="EPSG:4545"))
    assert e.value.detail["likely_crs"] == "EPSG:4524"
    assert e.value.detail["crs"] == "EPSG:4545"


def test_layer_outside_the_plausible_extent_is_refused(tmp_path):
    beijing = [shapely.box(116.39, 39.90, 116.40, 39.91)]
    with pytest.raises(ImplausibleCoordinates) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["天安门"]}, beijing), plausible_extent=CHONGQING)
    assert e.value.detail["landed_at"] == [116.4, 39.9]


@pytest.mark.parametrize("how", [{"source_crs": "GCJ02"}, {"crs": "GCJ02"}])
def test_gcj02_digitised_points_land_within_half_a_metre_of_the_truth(tmp_path, how):
    truth = [(106.4371, 29.8255), (106.5516, 29.5630), (107.7655, 29.3311)]
    gcj = [eviltransform.wgs2gcj(lat, lon)[::-1] for lon, lat in truth]  # eviltransform is (lat, lon)
    _, _, offset = GEOD.inv(truth[0][0], truth[0][1], *gcj[0])
    assert 300 < offset < 700  # the shift that must not reach the stored layer
    csv = upload(tmp_path, {"name": ["a", "b", "c"]}, shapely.points(gcj), crs=None, driver="CSV")
    frame, report = validate_layer("tailings_pond", csv, **how)
    assert report.source_crs == "GCJ02"
    for got, expected in zip(frame.geometry, truth):
        assert_close_m(got, shapely.Point(expected), 0.5)


def test_gcj02_only_applies_to_lon_lat(tmp_path):
    gk = [shapely.transform(s, lambda xy: np.column_stack(TO_GK.transform(xy[:, 0], xy[:, 1]))) for s in SQUARES]
    with pytest.raises(CRSConflict):
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, gk, crs="EPSG:4545"), source_crs="GCJ02")


# --- limits ----------------------------------------------------------------------------------
def test_feature_limit(tmp_path):
    with pytest.raises(TooManyFeatures) as e:
        validate_layer("protected_area", protected_areas(tmp_path), limits=Limits(max_features=2))
    assert (e.value.code, e.value.detail["limit"], e.value.detail["count"]) == ("too_many_features", 2, 3)
    assert "2" in e.value.en


def test_per_feature_vertex_limit_names_the_feature(tmp_path):
    geometries = [SQUARES[0], SQUARES[1].buffer(0.001), SQUARES[2]]  # the buffered square has rounded corners
    with pytest.raises(TooManyVertices) as e:
        validate_layer("red_line", upload(tmp_path, {"name": ["a", "b", "c"]}, geometries),
                       limits=Limits(max_feature_vertices=5))
    d = e.value.detail
    assert (e.value.code, d["feature_index"], d["limit"], d["count"]) == (
        "too_many_vertices", 1, 5, len(shapely.get_coordinates(geometries[1])))


def test_total_vertex_limit(tmp_path):
    with pytest.raises(TooManyVertices) as e:
        validate_layer("protected_area", protected_areas(tmp_path), limits=Limits(max_vertices=14))
    assert (e.value.detail["count"], e.value.detail["limit"]) == (15, 14)  # three closed squares, 5 vertices each
