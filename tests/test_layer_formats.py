"""Reading uploads and writing downloads, on files written by GDAL (pyogrio / rasterio) the way
GIS tools write them: GBK shapefiles without .cpg, GeoPackages with several tables, KMZ with
Chinese <Data> names, CSV in GB18030. Expected values are the ones written into each fixture."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from pyproj import Transformer
from rasterio.transform import from_origin

from ecozone.layers.errors import (
    AmbiguousTable,
    CsvWithoutGeometry,
    EmptyLayer,
    InvalidGeometry,
    ShapefileIncomplete,
    ShapefileMissing,
    UndecodableAttributes,
    UnknownTable,
    UnsupportedFormat,
)
from ecozone.layers.formats import RasterUpload, VectorUpload, read_upload, write_download

RED_LINE_NAMES = ["缙云山生态保护红线", "中梁山国家森林公园红线"]
# Two red-line squares near Beibei in CGCS2000 / 3-degree GK CM 108E (EPSG:4545) metres.
GK_SQUARES = [shapely.box(355_000, 3_300_000, 356_000, 3_301_000), shapely.box(360_000, 3_305_000, 361_500, 3_306_000)]


def red_line_frame(crs="EPSG:4545") -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": RED_LINE_NAMES, "area_ha": [100.0, 150.0]}, geometry=GK_SQUARES, crs=crs)


def zip_files(files: list[Path], target: Path, folder: str = "") -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in files:
            zf.write(f, folder + f.name)
    return target


def write_shapefile(directory: Path, stem: str, frame: gpd.GeoDataFrame, encoding: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    pyogrio.write_dataframe(frame, directory / f"{stem}.shp", encoding=encoding)
    return sorted(directory.glob(f"{stem}.*"))


def assert_same_geometries(got, expected, tolerance=1e-6):
    """Same shapes and vertices; ring orientation and start vertex may differ (shapefiles store
    outer rings clockwise, GeoJSON RFC 7946 counter-clockwise)."""
    got, expected = shapely.normalize(np.asarray(got)), shapely.normalize(np.asarray(expected))
    assert len(got) == len(expected)
    assert all(shapely.equals_exact(got, expected, tolerance))


# --- shapefiles ----------------------------------------------------------------------------
def test_gbk_shapefile_without_cpg_is_read_as_gb18030_with_exact_chinese(tmp_path):
    files = write_shapefile(tmp_path / "shp", "红线", red_line_frame(), "GBK")
    cpg = tmp_path / "shp" / "红线.cpg"
    cpg.unlink()
    files.remove(cpg)
    dbf = (tmp_path / "shp" / "红线.dbf").read_bytes()
    assert RED_LINE_NAMES[0].encode("gbk") in dbf  # the fixture really is GBK, not UTF-8
    upload = read_upload(zip_files(files, tmp_path / "red.zip", folder="红线数据/"), "red.zip")
    assert isinstance(upload, VectorUpload)
    assert (upload.format, upload.encoding, upload.file_crs) == ("shapefile", "GB18030", "EPSG:4545")
    assert upload.frame["name"].tolist() == RED_LINE_NAMES
    assert upload.frame["area_ha"].tolist() == [100.0, 150.0]
    assert_same_geometries(upload.frame.geometry, GK_SQUARES)


def test_utf8_shapefile_with_cpg(tmp_path):
    files = write_shapefile(tmp_path / "shp", "red", red_line_frame(), "UTF-8")
    assert (tmp_path / "shp" / "red.cpg").read_text().strip() == "UTF-8"
    upload = read_upload(zip_files(files, tmp_path / "red.zip"), "red.zip")
    assert (upload.encoding, upload.file_crs) == ("UTF-8", "EPSG:4545")
    assert upload.frame["name"].tolist() == RED_LINE_NAMES


def test_cpg_naming_gbk_is_honoured(tmp_path):
    files = write_shapefile(tmp_path / "shp", "red", red_line_frame(), "GBK")
    assert (tmp_path / "shp" / "red.cpg").read_text().strip() == "GBK"
    upload = read_upload(zip_files(files, tmp_path / "red.zip"), "red.zip")
    assert upload.encoding == "GBK"
    assert upload.frame["name"].tolist() == RED_LINE_NAMES


def test_attributes_in_neither_utf8_nor_gb18030_are_refused_not_garbled(tmp_path):
    frame = gpd.GeoDataFrame({"name": ["L'Haÿ-les-Roses"]}, geometry=[GK_SQUARES[0]], crs="EPSG:4545")
    files = write_shapefile(tmp_path / "shp", "fr", frame, "ISO-8859-1")
    (tmp_path / "shp" / "fr.cpg").unlink()
    files = [f for f in files if f.suffix != ".cpg"]
    assert b"Ha\xff-les" in (tmp_path / "shp" / "fr.dbf").read_bytes()
    with pytest.raises(UndecodableAttributes) as e:
        read_upload(zip_files(files, tmp_path / "fr.zip"), "fr.zip")
    assert e.value.code == "undecodable_attributes" and e.value.status == 422
    assert "UTF-8" in e.value.en and "GB18030" in e.value.en


def test_cpg_contradicted_by_the_attributes_names_the_encoding_that_fits(tmp_path):
    gbk = write_shapefile(tmp_path / "gbk", "red", red_line_frame(), "GBK")
    utf8 = write_shapefile(tmp_path / "utf8", "red", red_line_frame(), "UTF-8")
    files = [f for f in gbk if f.suffix != ".cpg"] + [f for f in utf8 if f.suffix == ".cpg"]
    with pytest.raises(UndecodableAttributes) as e:
        read_upload(zip_files(files, tmp_path / "red.zip"), "red.zip")
    assert e.value.detail["declared"] == "UTF-8"
    assert e.value.detail["decodes_as"] == "GB18030"


def test_zip_without_a_shapefile_is_a_clear_422(tmp_path):
    pyogrio.write_dataframe(red_line_frame(), tmp_path / "red.geojson", driver="GeoJSON")
    with pytest.raises(ShapefileMissing) as e:
        read_upload(zip_files([tmp_path / "red.geojson"], tmp_path / "red.zip"), "red.zip")
    assert e.value.code == "shapefile_missing" and e.value.status == 422
    assert "red.geojson" in e.value.en and ".shp" in e.value.zh


def test_zip_with_several_shapefiles_lists_them_and_table_chooses(tmp_path):
    files = write_shapefile(tmp_path / "a", "缙云山", red_line_frame().iloc[:1], "UTF-8")
    files += write_shapefile(tmp_path / "b", "中梁山", red_line_frame().iloc[1:], "UTF-8")
    archive = zip_files(files, tmp_path / "two.zip")
    with pytest.raises(AmbiguousTable) as e:
        read_upload(archive, "two.zip")
    assert e.value.code == "ambiguous_table"
    assert sorted(e.value.detail["tables"]) == ["中梁山", "缙云山"]
    assert "中梁山" in e.value.zh and "缙云山" in e.value.en
    upload = read_upload(archive, "two.zip", table="中梁山")
    assert upload.frame["name"].tolist() == [RED_LINE_NAMES[1]] and upload.table == "中梁山"


class GbkNamedEntry(zipfile.ZipInfo):
    """A zip entry named in GBK without the UTF-8 flag, as Windows' built-in zip names Chinese files."""

    def _encodeFilenameFlags(self):
        return self.filename.encode("gbk"), self.flag_bits


def test_zip_entries_named_in_gbk_are_listed_readably(tmp_path):
    files = write_shapefile(tmp_path / "a", "缙云山", red_line_frame().iloc[:1], "GBK")
    files += write_shapefile(tmp_path / "b", "中梁山", red_line_frame().iloc[1:], "GBK")
    archive = tmp_path / "windows.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in files:
            zf.writestr(GbkNamedEntry("红线/" + f.name), f.read_bytes())
    assert "红线/缙云山.shp".encode("gbk") in archive.read_bytes()  # raw GBK names, no UTF-8 flag
    with pytest.raises(AmbiguousTable) as e:
        read_upload(archive, "windows.zip")
    assert sorted(e.value.detail["tables"]) == ["中梁山", "缙云山"]
    assert read_upload(archive, "windows.zip", table="缙云山").frame["name"].tolist() == [RED_LINE_NAMES[0]]


def test_shapefile_without_its_dbf_is_named(tmp_path):
    files = [f for f in write_shapefile(tmp_path / "shp", "red", red_line_frame(), "UTF-8") if f.suffix != ".dbf"]
    with pytest.raises(ShapefileIncomplete) as e:
        read_upload(zip_files(files, tmp_path / "red.zip"), "red.zip")
    assert e.value.detail["missing"] == [".dbf"]


# --- GeoPackage ------------------------------------------------------------------------------
@pytest.fixture
def two_table_gpkg(tmp_path) -> Path:
    path = tmp_path / "zones.gpkg"
    pyogrio.write_dataframe(red_line_frame(), path, layer="生态保护红线", driver="GPKG")
    other = gpd.GeoDataFrame({"name": ["北碚区"]}, geometry=[GK_SQUARES[1].buffer(500)], crs="EPSG:4545")
    pyogrio.write_dataframe(other, path, layer="district", driver="GPKG", append=True)
    return path


def test_geopackage_with_two_tables_is_ambiguous_and_lists_both(two_table_gpkg):
    with pytest.raises(AmbiguousTable) as e:
        read_upload(two_table_gpkg, "zones.gpkg")
    assert e.value.status == 422 and e.value.code == "ambiguous_table"
    assert sorted(e.value.detail["tables"]) == ["district", "生态保护红线"]
    for table in ("district", "生态保护红线"):
        assert table in e.value.en and table in e.value.zh


def test_geopackage_table_is_chosen_with_its_crs(two_table_gpkg):
    upload = read_upload(two_table_gpkg, "zones.gpkg", table="生态保护红线")
    assert (upload.format, upload.table, upload.file_crs) == ("gpkg", "生态保护红线", "EPSG:4545")
    assert upload.frame["name"].tolist() == RED_LINE_NAMES
    assert_same_geometries(upload.frame.geometry, GK_SQUARES)


def test_unknown_geopackage_table_lists_the_tables(two_table_gpkg):
    with pytest.raises(UnknownTable) as e:
        read_upload(two_table_gpkg, "zones.gpkg", table="red_line")
    assert e.value.code == "unknown_table"
    assert sorted(e.value.detail["tables"]) == ["district", "生态保护红线"]


def test_geopackage_is_recognised_by_content_not_name(two_table_gpkg, tmp_path):
    renamed = tmp_path / "upload.bin"
    renamed.write_bytes(two_table_gpkg.read_bytes())
    assert read_upload(renamed, "zones", table="district").frame["name"].tolist() == ["北碚区"]


# --- KML / KMZ -------------------------------------------------------------------------------
KML_SITES = gpd.GeoDataFrame(
    {"name": ["缙云山", "中梁山"], "保护级别": ["国家级", "市级"], "面积 公顷": ["7600", "1520"]},
    geometry=[shapely.box(106.30, 29.80, 106.40, 29.90), shapely.box(106.40, 29.50, 106.45, 29.60)],
    crs="EPSG:4326",
)


@pytest.fixture
def untyped_data_kml(tmp_path) -> Path:
    """KML with untyped <Data name="保护级别"> elements, as Google Earth writes them."""
    assert "LIBKML" in pyogrio.list_drivers()
    path = tmp_path / "doc.kml"
    pyogrio.set_gdal_config_options({"LIBKML_USE_SIMPLEFIELD": "NO"})
    try:
        pyogrio.write_dataframe(KML_SITES, path, driver="LIBKML")
    finally:
        pyogrio.set_gdal_config_options({"LIBKML_USE_SIMPLEFIELD": None})
    assert '<Data name="保护级别">' in path.read_text(encoding="utf-8")
    return path


def test_gdal_launders_chinese_kml_data_names_by_default(untyped_data_kml):
    # Why the reader overrides the default: without it 保护级别 arrives as underscores.
    pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "YES"})
    try:
        columns = pyogrio.read_dataframe(untyped_data_kml).columns
    finally:
        pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": None})
    assert "保护级别" not in columns


def test_kmz_keeps_chinese_extended_data_names(untyped_data_kml, tmp_path):
    kmz = tmp_path / "sites.kmz"
    with zipfile.ZipFile(kmz, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(untyped_data_kml, "doc.kml")
    upload = read_upload(kmz, "sites.kmz")
    assert (upload.format, upload.file_crs, upload.crs_implied) == ("kmz", "EPSG:4326", True)
    frame = upload.frame
    assert frame["name"].tolist() == ["缙云山", "中梁山"]  # the placemark <name>
    assert frame["保护级别"].tolist() == ["国家级", "市级"]
    assert frame["面积 公顷"].tolist() == ["7600", "1520"]
    assert not {"tessellate", "extrude", "visibility", "drawOrder", "timestamp"} & set(frame.columns)
    assert_same_geometries(shapely.force_2d(frame.geometry.array), KML_SITES.geometry)


def test_kml_with_schema_data_keeps_names(tmp_path):
    path = tmp_path / "sites.kml"
    pyogrio.write_dataframe(KML_SITES, path, driver="LIBKML")
    assert '<SimpleField name="保护级别"' in path.read_text(encoding="utf-8")
    upload = read_upload(path, "sites.kml")
    assert upload.format == "kml"
    assert upload.frame["保护级别"].tolist() == ["国家级", "市级"]


def test_kml_without_placemarks_is_an_empty_layer(tmp_path):
    path = tmp_path / "empty.kml"
    pyogrio.write_dataframe(KML_SITES.iloc[:0], path, driver="LIBKML")
    with pytest.raises(EmptyLayer) as e:
        read_upload(path, "empty.kml")
    assert e.value.code == "empty_layer"


# --- GeoJSON ---------------------------------------------------------------------------------
def test_rfc7946_geojson_is_wgs84_by_default(tmp_path):
    path = tmp_path / "red.geojson"
    frame = red_line_frame().to_crs("EPSG:4326")
    pyogrio.write_dataframe(frame, path, driver="GeoJSON", layer_options={"RFC7946": "YES"})
    assert '"crs"' not in path.read_text(encoding="utf-8")
    upload = read_upload(path, "red.geojson")
    assert (upload.format, upload.file_crs, upload.crs_implied) == ("geojson", "EPSG:4326", True)
    assert upload.frame["name"].tolist() == RED_LINE_NAMES


def test_legacy_geojson_crs_member_is_honoured(tmp_path):
    path = tmp_path / "red.geojson"
    pyogrio.write_dataframe(red_line_frame(), path, driver="GeoJSON")
    assert "EPSG::4545" in path.read_text(encoding="utf-8")
    upload = read_upload(path, "red.geojson")
    assert (upload.file_crs, upload.crs_implied) == ("EPSG:4545", False)
    assert_same_geometries(upload.frame.geometry, GK_SQUARES)


# --- CSV -------------------------------------------------------------------------------------
SITES = pd.DataFrame({"name": ["北碚区第一中学", "缙云山管理局"], "code": ["0101", "500109"],
                      "lon": [106.4371, 106.3822], "lat": [29.8255, 29.8376]})


@pytest.mark.parametrize("options, encoding, expected", [
    ({"layer_options": {"WRITE_BOM": "YES"}}, None, "UTF-8"),
    ({}, None, "UTF-8"),
    ({}, "GB18030", "GB18030"),
])
def test_csv_lon_lat_in_utf8_with_or_without_bom_or_gb18030(tmp_path, options, encoding, expected):
    path = tmp_path / "sites.csv"
    pyogrio.write_dataframe(SITES, path, driver="CSV", encoding=encoding, **options)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") == ("WRITE_BOM" in str(options))
    upload = read_upload(path, "sites.csv")
    assert (upload.format, upload.file_crs, upload.encoding) == ("csv", None, expected)
    assert upload.frame["name"].tolist() == SITES["name"].tolist()
    assert upload.frame["code"].tolist() == ["0101", "500109"]  # text, not numbers
    assert_same_geometries(upload.frame.geometry, shapely.points(SITES[["lon", "lat"]].to_numpy()), 0)


def test_csv_with_wkt(tmp_path):
    path = tmp_path / "red.csv"
    frame = red_line_frame().to_crs("EPSG:4326")
    pyogrio.write_dataframe(frame, path, driver="CSV", layer_options={"GEOMETRY": "AS_WKT"})
    upload = read_upload(path, "red.csv")
    assert upload.file_crs is None
    assert upload.frame["name"].tolist() == RED_LINE_NAMES
    assert_same_geometries(upload.frame.geometry, frame.geometry, 1e-9)


def test_csv_coordinate_that_is_not_a_number_names_its_row(tmp_path):
    path = tmp_path / "sites.csv"
    pyogrio.write_dataframe(SITES.assign(lon=["106.4371", "106°22′56″E"]), path, driver="CSV")
    with pytest.raises(InvalidGeometry) as e:
        read_upload(path, "sites.csv")
    assert (e.value.detail["row"], e.value.detail["feature_index"], e.value.detail["attribute"]) == (3, 1, "lon")
    assert "106°22′56″E" in e.value.en


def test_csv_without_coordinates_names_what_it_needs(tmp_path):
    path = tmp_path / "names.csv"
    pyogrio.write_dataframe(SITES[["name", "code"]], path, driver="CSV")
    with pytest.raises(CsvWithoutGeometry) as e:
        read_upload(path, "names.csv")
    assert e.value.detail["columns"] == ["name", "code"] and "lon" in e.value.en


# --- GeoTIFF ---------------------------------------------------------------------------------
def write_dem(path: Path, crs: str | None = "EPSG:4545") -> np.ndarray:
    """A striped (not tiled, not COG) 1024×1024 GeoTIFF: big enough for the COG to get overviews."""
    elevation = (200 + np.add.outer(np.arange(1024), np.arange(1024)) % 700).astype("int16")
    with rasterio.open(
        path, "w", driver="GTiff", width=1024, height=1024, count=1, dtype="int16", crs=crs,
        transform=from_origin(355_000, 3_330_000, 30, 30), nodata=-9999,
    ) as dst:
        dst.write(elevation, 1)
        dst.set_band_description(1, "高程")
        dst.set_band_unit(1, "m")
    return elevation


def test_geotiff_becomes_a_cog_with_its_metadata(tmp_path):
    elevation = write_dem(tmp_path / "dem.tif")
    with rasterio.open(tmp_path / "dem.tif") as src:
        assert not src.profile.get("tiled") and not src.overviews(1)
    upload = read_upload(tmp_path / "dem.tif", "dem.tif")
    assert isinstance(upload, RasterUpload)
    assert upload.cog_path.parent == tmp_path and upload.cog_path.exists()
    assert (upload.crs, upload.width, upload.height, upload.count, upload.dtype, upload.nodata) == (
        "EPSG:4545", 1024, 1024, 1, "int16", -9999.0)
    assert (upload.descriptions, upload.units) == (["高程"], ["m"])
    with rasterio.open(upload.cog_path) as cog:
        assert cog.profile["tiled"] and cog.overviews(1)
        assert cog.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert np.array_equal(cog.read(1), elevation)
    to_lonlat = Transformer.from_crs("EPSG:4545", "EPSG:4326", always_xy=True)
    west, south = to_lonlat.transform(355_000, 3_330_000 - 1024 * 30)
    east, north = to_lonlat.transform(355_000 + 1024 * 30, 3_330_000)
    w, s, e, n = upload.bounds_lonlat
    assert w <= west + 1e-9 and s <= south + 1e-9 and e >= east - 1e-9 and n >= north - 1e-9
    assert max(west - w, south - s, e - east, n - north) < 0.01


def test_geotiff_without_crs_has_none(tmp_path):
    write_dem(tmp_path / "dem.tif", crs=None)
    upload = read_upload(tmp_path / "dem.tif", "dem.tif")
    assert upload.crs is None and upload.bounds_lonlat is None


# --- files that are not layers ---------------------------------------------------------------
def test_not_a_geo_file_names_the_accepted_formats(tmp_path):
    path = tmp_path / "notes.docx"
    pyogrio.write_dataframe(SITES, tmp_path / "notes.xlsx", driver="XLSX")  # a zip, but no layer in it
    path.write_bytes((tmp_path / "notes.xlsx").read_bytes())
    with pytest.raises(ShapefileMissing):
        read_upload(path, "notes.docx")
    with pytest.raises(UnsupportedFormat) as e:
        read_upload(Path(__file__), "notes.pdf")  # any file that is no layer: this test's source
    assert e.value.code == "unsupported_format" and e.value.status == 422
    for name in ("GeoJSON", "Shapefile", "GeoPackage", "KML", "CSV", "GeoTIFF"):
        assert name in e.value.en and name in e.value.zh


@pytest.mark.parametrize("name", ["zones.gpkg", "red.zip", "dem.tif", "red.geojson"])
def test_truncated_files_are_422_not_500(tmp_path, two_table_gpkg, name):
    if name == "red.zip":
        zip_files(write_shapefile(tmp_path / "shp", "red", red_line_frame(), "UTF-8"), tmp_path / name)
    elif name == "dem.tif":
        write_dem(tmp_path / name)
    elif name == "red.geojson":
        pyogrio.write_dataframe(red_line_frame(), tmp_path / name, driver="GeoJSON")
    whole = (tmp_path / name).read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UnsupportedFormat) as e:
        read_upload(cut, name, table="district")
    assert e.value.status == 422 and str(tmp_path) not in e.value.en  # the user's file name, not our paths
    assert not list(tmp_path.glob(".ecozone-*"))  # no half-written COG or work folder left behind


def test_tiff_without_georeferencing_is_refused(tmp_path):
    with rasterio.open(tmp_path / "photo.tif", "w", driver="GTiff", width=8, height=8, count=1, dtype="uint8") as dst:
        dst.write(np.zeros((8, 8), "uint8"), 1)
    with pytest.raises(UnsupportedFormat) as e:
        read_upload(tmp_path / "photo.tif", "photo.tif")
    assert "georeferenc" in e.value.en


# --- downloads -------------------------------------------------------------------------------
DOWNLOAD = gpd.GeoDataFrame(
    {"feature_id": ["1", "2"], "name": RED_LINE_NAMES, "zone": ["核心区", "缓冲区"], "area_ha": [100.5, 150.0]},
    geometry=[
        shapely.box(106.30, 29.80, 106.40, 29.90),
        shapely.MultiPolygon([shapely.box(106.41, 29.50, 106.45, 29.60), shapely.box(106.46, 29.50, 106.50, 29.60)]),
    ],
    crs="EPSG:4326",
)


def read_back(body: bytes, fmt: str, tmp_path: Path) -> gpd.GeoDataFrame:
    if fmt == "shp":
        with zipfile.ZipFile(io.BytesIO(body)) as zf:
            names = sorted(zf.namelist())
            assert names == sorted(f"red-line{ext}" for ext in (".cpg", ".dbf", ".prj", ".shp", ".shx"))
            assert zf.read("red-line.cpg").decode().strip() == "UTF-8"
            zf.extractall(tmp_path)
        return pyogrio.read_dataframe(tmp_path / "red-line.shp")
    path = tmp_path / f"download.{fmt}"
    path.write_bytes(body)
    return pyogrio.read_dataframe(path)


@pytest.mark.parametrize("fmt, media_type, filename", [
    ("geojson", "application/geo+json", "red-line.geojson"),
    ("gpkg", "application/geopackage+sqlite3", "red-line.gpkg"),
    ("shp", "application/zip", "red-line.zip"),
])
def test_download_round_trips(tmp_path, fmt, media_type, filename):
    body, got_media_type, got_filename = write_download(DOWNLOAD, fmt, "red-line")
    assert (got_media_type, got_filename) == (media_type, filename)
    back = read_back(body, fmt, tmp_path)
    assert back.crs.to_epsg() == 4326
    assert len(back) == 2
    assert back["feature_id"].tolist() == ["1", "2"]
    assert back["name"].tolist() == RED_LINE_NAMES
    assert back["zone"].tolist() == ["核心区", "缓冲区"]
    assert back["area_ha"].tolist() == [100.5, 150.0]
    expected = np.array(DOWNLOAD.geometry.array, dtype=object)  # a copy: DOWNLOAD is shared
    if fmt == "gpkg":  # one geometry type per table: a layer mixing Polygon and MultiPolygon is all multi
        expected[0] = shapely.MultiPolygon([expected[0]])
    assert_same_geometries(back.geometry.array, expected, 1e-7)


def test_geojson_download_is_rfc7946_utf8(tmp_path):
    body, _, _ = write_download(DOWNLOAD.to_crs("EPSG:4545"), "geojson", "red-line")
    assert b'"crs"' not in body
    assert "缙云山生态保护红线".encode("utf-8") in body
    back = read_back(body, "geojson", tmp_path)
    assert_same_geometries(back.geometry.array, DOWNLOAD.geometry.array, 1e-6)


def test_shapefile_download_refuses_mixed_geometry_types():
    mixed = DOWNLOAD.copy()
    mixed.loc[1, "geometry"] = shapely.Point(106.4, 29.5)
    with pytest.raises(UnsupportedFormat) as e:
        write_download(mixed, "shp", "mixed")
    assert e.value.detail["accepted"] == ["geojson", "gpkg"]


def test_unknown_download_format():
    with pytest.raises(UnsupportedFormat) as e:
        write_download(DOWNLOAD, "dxf", "red-line")
    assert e.value.detail["accepted"] == ["geojson", "gpkg", "shp"]
