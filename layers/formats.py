"""Read uploaded layer files; write layer downloads.

GIS staff send what their tools export: zipped Shapefiles (from Chinese ArcGIS/MapGIS often GBK
attributes and no .cpg), GeoPackages, GeoJSON, KML/KMZ from Google Earth or 奥维, CSV from
Excel, GeoTIFF rasters. A file is recognised from its bytes (the filename is only a hint for
text formats) and read with GDAL (pyogrio, rasterio). GDAL's defaults quietly damage Chinese
data — an undeclared .dbf encoding is read as Latin-1 mojibake, LIBKML launders Chinese
<Data> names to underscores — so those defaults are overridden here and every decode is
strict: a file we cannot read exactly is refused with a 422 saying why, never stored wrong.

Nothing here judges data against a layer kind or converts coordinates; that is
`layers.validate`. Readers return the data as the file holds it, in the file's own CRS.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import rasterio
import rasterio.shutil
import shapely
from rasterio.errors import RasterioError
from rasterio.warp import transform_bounds

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

VECTOR_FORMATS = ("geojson", "shapefile", "gpkg", "kml", "kmz", "csv")
_ACCEPTED_ZH = "GeoJSON、Shapefile 压缩包（.zip，含 .shp/.shx/.dbf/.prj）、GeoPackage（.gpkg）、KML/KMZ、含经纬度或 WKT 列的 CSV、GeoTIFF"
_ACCEPTED_EN = (
    "GeoJSON, zipped Shapefile (.zip holding .shp/.shx/.dbf/.prj), GeoPackage (.gpkg), KML/KMZ, "
    "CSV with lon/lat or WKT columns, GeoTIFF"
)


@dataclass
class VectorUpload:
    frame: gpd.GeoDataFrame  # as read, in the file's own CRS (frame.crs None when the file declares none)
    format: str  # one of VECTOR_FORMATS
    file_crs: str | None  # "EPSG:4545" …; None when the file carries no CRS
    encoding: str | None = None  # shapefile / CSV: the encoding the text was decoded with
    table: str | None = None  # GeoPackage table, KML folder or shapefile (zip with several) read
    # True when the file itself names no CRS and file_crs is what its format's specification
    # prescribes (RFC 7946 GeoJSON without a `crs` member, KML): an explicit `crs` may override it.
    crs_implied: bool = False


@dataclass
class RasterUpload:
    cog_path: Path  # a Cloud-Optimised GeoTIFF written by us (temporary; the caller moves it)
    crs: str | None
    bounds_lonlat: tuple[float, float, float, float] | None  # None when the file has no CRS
    width: int
    height: int
    count: int
    dtype: str
    nodata: float | None
    descriptions: list[str | None]
    units: list[str | None]


# --- errors ----------------------------------------------------------------------------------
def _unsupported(filename: str, zh: str, en: str, **detail) -> UnsupportedFormat:
    return UnsupportedFormat(
        f"无法读取文件 {filename}：{zh}。可接受的格式：{_ACCEPTED_ZH}。",
        f"Cannot read {filename}: {en}. Accepted formats: {_ACCEPTED_EN}.",
        field="file", where="file", filename=filename, accepted=list(VECTOR_FORMATS) + ["geotiff"], **detail,
    )


_UNREADABLE = (
    pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, RasterioError, zipfile.BadZipFile,
    pd.errors.ParserError, pd.errors.EmptyDataError, EOFError,
)


# --- format detection ------------------------------------------------------------------------
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_SQLITE_MAGIC = b"SQLite format 3\x00"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_UTF8_BOM = b"\xef\xbb\xbf"


def _extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def _zip_members(zf: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Readable member name → entry, without folders and macOS resource forks. Names zipped on
    Chinese Windows are GBK without the UTF-8 flag; zipfile shows them as CP437 mojibake."""
    members = {}
    for info in zf.infolist():
        name = info.filename
        if not info.flag_bits & 0x800:
            raw = name.encode("cp437")
            for enc in ("utf-8", "gb18030"):
                try:
                    name = raw.decode(enc)
                    break
                except UnicodeDecodeError:
                    continue
        base = PurePosixPath(name).name
        if info.is_dir() or name.startswith("__MACOSX/") or base.startswith("._"):
            continue
        members[name] = info
    return members


def _sniff(path: Path, filename: str) -> str:
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(_ZIP_MAGIC):
        return _sniff_zip(path, filename)
    if head.startswith(_SQLITE_MAGIC):
        return "gpkg"
    if head.startswith(_TIFF_MAGIC):
        return "geotiff"
    text = head.removeprefix(_UTF8_BOM).lstrip()
    if text.startswith(b"{"):
        return "geojson"
    if text.startswith(b"<") and b"<kml" in head:
        return "kml"
    if _extension(filename) in (".csv", ".txt") and b"\x00" not in head:
        return "csv"
    raise _unsupported(filename, "无法识别的文件格式", "the file is none of the accepted formats")


def _sniff_zip(path: Path, filename: str) -> str:
    with zipfile.ZipFile(path) as zf:
        names = list(_zip_members(zf))
    has_kml = any(n.lower().endswith(".kml") for n in names)
    if _extension(filename) == ".kmz" and has_kml:
        return "kmz"
    if any(n.lower().endswith(".shp") for n in names):
        return "shapefile"
    if has_kml:
        return "kmz"
    shown = ", ".join(names[:20]) or "—"
    raise ShapefileMissing(
        f"压缩包 {filename} 中没有 .shp 文件（包含：{shown}）。Shapefile 请将 .shp、.shx、.dbf、.prj 一并压缩上传。",
        f"The zip {filename} holds no .shp file (it holds: {shown}). "
        "Zip a Shapefile's .shp, .shx, .dbf and .prj together.",
        field="file", where="file", filename=filename, members=names[:100],
    )


# --- choosing one table ----------------------------------------------------------------------
def _choose(tables: list[str], table: str | None, filename: str, what_zh: str, what_en: str) -> str:
    listed = "、".join(tables)
    if table is not None:
        if table in tables:
            return table
        raise UnknownTable(
            f"{filename} 中没有名为 {table} 的{what_zh}；可选：{listed}。",
            f"{filename} has no {what_en} named {table!r}; choose one of: {', '.join(tables)}.",
            field="layer", where="layer", value=table, tables=tables,
        )
    if not tables:
        raise EmptyLayer(
            f"{filename} 中没有含要素的{what_zh}。", f"{filename} has no {what_en} with features.",
            field="file", where="file", filename=filename,
        )
    if len(tables) > 1:
        raise AmbiguousTable(
            f"{filename} 含多个{what_zh}：{listed}。请用 layer 参数指定其中一个。",
            f"{filename} holds several {what_en}s: {', '.join(tables)}. Choose one with the `layer` parameter.",
            field="layer", where="layer", tables=tables,
        )
    return tables[0]


def _crs_label(crs) -> str | None:
    """'EPSG:n' when the CRS is an EPSG one (also from an ESRI .prj); otherwise its own text."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.to_string()


def _as_suffix(path: Path, work: Path, suffix: str) -> Path:
    """GDAL picks some drivers (LIBKML for .kmz) by extension; uploads are stored under any name."""
    if path.suffix.lower() == suffix:
        return path
    link = work / f"upload{suffix}"
    os.symlink(path.resolve(), link)
    return link


# --- shapefile ---------------------------------------------------------------------------
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_DBF_CHUNK = 65536  # records decoded at a time, to bound memory on large tables


def _codec_of_cpg(text: str) -> str | None:
    """A .cpg's code page as a Python codec name: 'UTF-8', 'GBK', '936', 'ANSI 936', '8859_1' …"""
    label = text.strip().upper()
    numeric = re.fullmatch(r"(?:ANSI|CP|WINDOWS-?)?\s*(\d{3,5})", label)
    if numeric:
        label = "UTF-8" if numeric[1] == "65001" else f"CP{numeric[1]}"
    elif re.fullmatch(r"8859[_-]\d+", label):
        label = "ISO8859-" + label[5:]
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _dbf_text_decodes(dbf: Path, codec: str) -> bool:
    """Whether every field name and text value in the .dbf decodes strictly as `codec`.

    Checked on the raw bytes: a codec-level decode cannot paper over a wrong guess the way a
    lenient reader can (Latin-1, for one, decodes any bytes into mojibake)."""
    size = dbf.stat().st_size
    with open(dbf, "rb") as f:
        head = f.read(32)
        n_records = int.from_bytes(head[4:8], "little")
        header_len = int.from_bytes(head[8:10], "little")
        record_len = int.from_bytes(head[10:12], "little")
        descriptors = f.read(max(header_len - 32, 0))
    if header_len < 33 or record_len < 1 or size < header_len + n_records * record_len:
        raise ValueError("truncated .dbf")
    names, text_columns, offset = [], [], 1  # byte 0 of a record is its deletion flag
    for i in range(0, len(descriptors) - 31, 32):  # one 32-byte descriptor per field
        d = descriptors[i : i + 32]
        if d[0] == 0x0D:
            break
        names.append(d[:11].split(b"\0", 1)[0])
        if d[11:12] == b"C":
            text_columns.append(np.arange(offset, offset + d[16]))
        offset += d[16]
    try:
        b"\n".join(names).decode(codec)
    except UnicodeDecodeError:
        return False
    if not text_columns or n_records == 0:
        return True
    columns = np.concatenate(text_columns)
    records = np.memmap(dbf, dtype=np.uint8, mode="r", offset=header_len, shape=(n_records, record_len))
    for start in range(0, n_records, _DBF_CHUNK):
        try:
            records[start : start + _DBF_CHUNK][:, columns].tobytes().decode(codec)
        except UnicodeDecodeError:
            return False
    return True


def _read_shapefile(path: Path, filename: str, work: Path, table: str | None) -> VectorUpload:
    with zipfile.ZipFile(path) as zf:
        members = _zip_members(zf)
        by_lower = {name.lower(): name for name in members}
        paths = [name[:-4] for name in members if name.lower().endswith(".shp")]
        # Offer shapefiles by file name; by path only when two folders hold the same name.
        stems = [PurePosixPath(p).name for p in paths]
        by_table = dict(zip(stems, paths)) if len(set(stems)) == len(stems) else dict(zip(paths, paths))
        key = _choose(list(by_table), table, filename, "Shapefile", "shapefile")
        chosen = by_table[key]
        found = {ext: by_lower.get(chosen.lower() + ext) for ext in _SHAPEFILE_PARTS}
        lacking = [ext for ext in (".shx", ".dbf") if found[ext] is None]
        if lacking:
            raise ShapefileIncomplete(
                f"压缩包中的 {chosen}.shp 缺少 {'、'.join(lacking)}（.shx 为索引，.dbf 为属性表）。请将它们一并压缩上传。",
                f"{chosen}.shp in the zip lacks {', '.join(lacking)} (.shx is its index, .dbf its attribute table). "
                "Zip them together with the .shp.",
                field="file", where=f"file:{chosen}.shp", missing=lacking,
            )
        for ext, name in found.items():
            if name is not None:
                with zf.open(members[name]) as src, open(work / f"layer{ext}", "wb") as dst:
                    shutil.copyfileobj(src, dst)
    cpg = (work / "layer.cpg").read_bytes().decode("ascii", "replace") if found[".cpg"] else None
    declared = _codec_of_cpg(cpg) if cpg else None
    candidates = [declared] if declared else ["utf-8", "gb18030"]
    dbf = work / "layer.dbf"
    try:
        codec = next((c for c in candidates if _dbf_text_decodes(dbf, c)), None)
    except ValueError:
        raise _unsupported(filename, f"{chosen}.dbf 已损坏（长度不足）", f"{chosen}.dbf is truncated") from None
    if codec is None:
        raise _undecodable_dbf(filename, chosen, cpg, declared, dbf)
    frame = pyogrio.read_dataframe(work / "layer.shp", encoding=codec)
    return VectorUpload(
        frame, "shapefile", _crs_label(frame.crs), encoding=codec.upper(),
        table=key if len(by_table) > 1 else None,
    )


def _undecodable_dbf(
    filename: str, stem: str, cpg: str | None, declared: str | None, dbf: Path,
) -> UndecodableAttributes:
    if declared:
        fits = next((c for c in ("utf-8", "gb18030") if c != declared and _dbf_text_decodes(dbf, c)), None)
        hint_zh = f"属性按 {fits.upper()} 可以正确解码：请把 .cpg 改为 {fits.upper()} 或删除它。" if fits else ""
        hint_en = f" They do decode as {fits.upper()}: set the .cpg to {fits.upper()} or delete it." if fits else ""
        return UndecodableAttributes(
            f"{stem}.cpg 声明编码为 {cpg.strip()}，但 {stem}.dbf 的属性不是有效的 {declared.upper()} 文本。{hint_zh}",
            f"{stem}.cpg declares {cpg.strip()!r}, but the attributes in {stem}.dbf are not valid "
            f"{declared.upper()} text.{hint_en}",
            field="file", where=f"file:{stem}.dbf", declared=cpg.strip(), decodes_as=fits.upper() if fits else None,
        )
    return UndecodableAttributes(
        f"{stem}.dbf 的属性既不是 UTF-8 也不是 GB18030/GBK 文本，且没有 .cpg 说明编码。请在 .cpg 中写明编码（如 UTF-8）后重新上传。",
        f"The attributes in {stem}.dbf are neither UTF-8 nor GB18030/GBK text and no .cpg names their encoding. "
        "Add a .cpg naming it (e.g. UTF-8) and upload again.",
        field="file", where=f"file:{stem}.dbf", tried=["UTF-8", "GB18030"],
    )


# --- GeoPackage, GeoJSON, KML ------------------------------------------------------------------
def _read_gpkg(path: Path, filename: str, work: Path, table: str | None) -> VectorUpload:
    src = _as_suffix(path, work, ".gpkg")
    tables = [str(name) for name, geometry_type in pyogrio.list_layers(src) if geometry_type is not None]
    chosen = _choose(tables, table, filename, "表", "table")
    frame = pyogrio.read_dataframe(src, layer=chosen)
    return VectorUpload(frame, "gpkg", _crs_label(frame.crs), table=chosen)


def _geojson_names_crs(path: Path) -> bool:
    """Whether the file has a legacy `crs` member. Writers put it before `features`, so the
    head of the file answers without parsing all of it."""
    with open(path, "rb") as f:
        head = f.read(65536)
    return re.search(rb'"crs"\s*:', head.split(b'"features"', 1)[0]) is not None


def _read_geojson(path: Path, filename: str, work: Path, table: str | None) -> VectorUpload:
    frame = pyogrio.read_dataframe(_as_suffix(path, work, ".geojson"))
    # RFC 7946: a GeoJSON without a `crs` member is WGS84 lon/lat (GDAL says so too).
    implied = not _geojson_names_crs(path)
    return VectorUpload(frame, "geojson", _crs_label(frame.crs) or "EPSG:4326", crs_implied=implied)


# Fields LIBKML (and the plain KML driver) add for every placemark, with the value meaning
# "not set"; they are noise in a layer unless some placemark sets them.
_KML_FIELD_DEFAULTS = {
    "id": None, "Name": None, "description": None, "Description": None, "timestamp": None, "begin": None,
    "end": None, "altitudeMode": None, "tessellate": -1, "extrude": 0, "visibility": -1, "drawOrder": None,
    "icon": None,
}


def _tidy_kml(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    unset = []
    for column, default in _KML_FIELD_DEFAULTS.items():
        if column in frame.columns:
            values = frame[column]
            blank = values.isna() | values.astype("string").eq("").fillna(False)
            if default is not None:
                blank |= values.eq(default).fillna(False)
            if blank.all():
                unset.append(column)
    frame = frame.drop(columns=unset)
    # A placemark's <name>/<description> is the feature's name/description attribute.
    renames = {k: v for k, v in (("Name", "name"), ("Description", "description")) if k in frame and v not in frame}
    return frame.rename(columns=renames)


def _read_kml(path: Path, filename: str, work: Path, table: str | None, fmt: str) -> VectorUpload:
    src = _as_suffix(path, work, f".{fmt}")
    # LIBKML turns every non-ASCII byte of an untyped <Data name="…"> into "_" unless told not
    # to: 保护级别 would arrive as ____________ (the option is global and we always want it).
    pyogrio.set_gdal_config_options({"LIBKML_LAUNDER_FIELD_NAMES": "NO"})
    layers = [str(name) for name, _ in pyogrio.list_layers(src)]
    tables = [name for name in layers if pyogrio.read_info(src, layer=name, force_feature_count=True)["features"]]
    chosen = _choose(tables, table, filename, "图层（文件夹）", "folder")
    frame = _tidy_kml(pyogrio.read_dataframe(src, layer=chosen))
    # KML coordinates are WGS84 lon/lat by its specification.
    return VectorUpload(frame, fmt, "EPSG:4326", table=chosen if len(tables) > 1 else None, crs_implied=True)


# --- CSV -------------------------------------------------------------------------------------
_CSV_LON = ("lon", "lng", "longitude", "x", "经度")
_CSV_LAT = ("lat", "latitude", "y", "纬度")
_CSV_WKT = ("wkt", "geometry")


def _decode_text(raw: bytes, filename: str) -> tuple[str, str]:
    if raw.startswith(_UTF8_BOM):
        candidates = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "gb18030")
    for codec in candidates:
        try:
            return raw.decode(codec), "UTF-8" if codec == "utf-8-sig" else codec.upper()
        except UnicodeDecodeError:
            continue
    raise UndecodableAttributes(
        f"{filename} 既不是 UTF-8 也不是 GB18030/GBK 文本。请另存为 UTF-8 编码的 CSV 后重新上传。",
        f"{filename} is neither UTF-8 nor GB18030/GBK text. Save it as UTF-8 CSV and upload again.",
        field="file", where="file", tried=["UTF-8", "GB18030"],
    )


def _find_column(columns: list[str], names: tuple[str, ...]) -> str | None:
    folded = {str(c).strip().casefold(): c for c in columns}
    return next((folded[n] for n in names if n in folded), None)


def _bad_csv_cell(filename: str, rows: np.ndarray, column: str, values: pd.Series, what_zh: str, what_en: str):
    i = int(rows[0])
    row = i + 2  # as Excel numbers it: row 1 is the header
    return InvalidGeometry(
        f"{filename} 第 {row} 行（要素 {i}）的 {column} 不是{what_zh}：{values.iloc[i]!r}（共 {len(rows)} 行有误）。",
        f"{filename} row {row} (feature {i}): {column} is not {what_en}: {values.iloc[i]!r} "
        f"(rows affected: {len(rows)}).",
        field="file", where=f"features[{i}]", feature_index=i, row=row, attribute=column, count=int(len(rows)),
    )


def _read_csv(path: Path, filename: str, work: Path, table: str | None) -> VectorUpload:
    text, encoding = _decode_text(path.read_bytes(), filename)
    # Read as text: codes such as 500156 or 0101 must not turn into numbers.
    rows = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])
    columns = list(rows.columns)
    lon_col, lat_col = _find_column(columns, _CSV_LON), _find_column(columns, _CSV_LAT)
    wkt_col = _find_column(columns, _CSV_WKT)
    if lon_col is not None and lat_col is not None:
        used = [lon_col, lat_col]
        lon, lat = pd.to_numeric(rows[lon_col], errors="coerce"), pd.to_numeric(rows[lat_col], errors="coerce")
        for column, parsed in ((lon_col, lon), (lat_col, lat)):
            bad = np.flatnonzero(parsed.isna() & rows[column].notna())
            if bad.size:
                raise _bad_csv_cell(filename, bad, column, rows[column], "数值", "a number")
        geometry = shapely.points(lon.to_numpy(float), lat.to_numpy(float))
        geometry[(lon.isna() | lat.isna()).to_numpy()] = None  # a row without coordinates has no geometry
    elif wkt_col is not None:
        used = [wkt_col]
        # An empty cell (NaN here) is a row without geometry, as for lon/lat.
        text = rows[wkt_col].to_numpy(object)
        geometry = shapely.from_wkt(np.where(rows[wkt_col].isna().to_numpy(), None, text), on_invalid="ignore")
        bad = np.flatnonzero(shapely.is_missing(geometry) & rows[wkt_col].notna().to_numpy())
        if bad.size:
            raise _bad_csv_cell(filename, bad, wkt_col, rows[wkt_col], "有效的 WKT", "valid WKT")
    else:
        raise CsvWithoutGeometry(
            f"{filename} 中找不到坐标列：需要 lon/lat（或 lng、longitude/latitude、x/y、经度/纬度）两列，"
            f"或一个 WKT 列（wkt 或 geometry）。文件中的列：{'、'.join(map(str, columns))}。",
            f"{filename} has no coordinate columns: it needs lon and lat (or lng, longitude/latitude, x/y) "
            f"or a WKT column (wkt or geometry). Its columns: {', '.join(map(str, columns))}.",
            field="file", where="file", columns=[str(c) for c in columns],
        )
    frame = gpd.GeoDataFrame(rows.drop(columns=used), geometry=geometry, crs=None)
    return VectorUpload(frame, "csv", None, encoding=encoding)


# --- GeoTIFF ---------------------------------------------------------------------------------
# Nearest-neighbour overviews: they never invent values, which matters for class rasters
# (land cover codes) and is harmless for a DEM's display overviews.
_COG_OPTIONS = {"COMPRESS": "DEFLATE", "PREDICTOR": "YES", "RESAMPLING": "NEAREST", "BIGTIFF": "IF_SAFER"}


def _read_geotiff(path: Path, filename: str) -> RasterUpload:
    fd, name = tempfile.mkstemp(prefix=".ecozone-", suffix=".cog.tif", dir=path.parent)
    os.close(fd)
    cog = Path(name)
    try:
        with rasterio.open(path) as src:
            if src.transform.is_identity:
                raise _unsupported(
                    filename, "TIFF 没有地理参考（无仿射变换），请先配准（如 gdalwarp）",
                    "the TIFF has no georeferencing (no geotransform); georeference it first (e.g. gdalwarp)",
                )
            rasterio.shutil.copy(src, cog, driver="COG", **_COG_OPTIONS)
            bounds = tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)) if src.crs else None
            return RasterUpload(
                cog_path=cog, crs=_crs_label(src.crs), bounds_lonlat=bounds,
                width=src.width, height=src.height, count=src.count, dtype=src.dtypes[0], nodata=src.nodata,
                descriptions=[d or None for d in src.descriptions], units=[u or None for u in src.units],
            )
    except BaseException:
        cog.unlink(missing_ok=True)
        raise


# --- entry points ----------------------------------------------------------------------------
def read_upload(path: Path, filename: str, *, table: str | None = None) -> VectorUpload | RasterUpload:
    """Read an uploaded file (format recognised from its content, the filename as a hint).

    `table` chooses a GeoPackage table, a KML folder, or a shapefile (by name, no .shp) in a
    zip holding several. Anything that cannot be read raises an InputError (422)."""
    path = Path(path)
    try:
        fmt = _sniff(path, filename)
        if fmt == "geotiff":
            return _read_geotiff(path, filename)
        with tempfile.TemporaryDirectory(prefix=".ecozone-read-", dir=path.parent) as work:
            if fmt in ("kml", "kmz"):
                return _read_kml(path, filename, Path(work), table, fmt)
            reader = {"geojson": _read_geojson, "shapefile": _read_shapefile, "gpkg": _read_gpkg, "csv": _read_csv}[fmt]
            return reader(path, filename, Path(work), table)
    except _UNREADABLE as e:
        # GDAL names the files it read (the upload and our work copies): say the user's filename instead.
        reason = re.sub(re.escape(str(path.parent)) + r"/[^\s'\"]*", filename, str(e))
        raise _unsupported(
            filename, f"文件已损坏或不完整（{reason}）", f"the file is corrupt or incomplete ({reason})", reason=reason,
        ) from None
    except UnicodeDecodeError as e:
        raise UndecodableAttributes(
            f"{filename} 中的文本不是有效的 {e.encoding.upper()}。", f"Text in {filename} is not valid {e.encoding.upper()}.",
            field="file", where="file", encoding=e.encoding.upper(),
        ) from None


# --- downloads -------------------------------------------------------------------------------
DOWNLOAD_FORMATS = {
    "geojson": ("GeoJSON", "application/geo+json", ".geojson"),
    "gpkg": ("GPKG", "application/geopackage+sqlite3", ".gpkg"),
    "shp": ("ESRI Shapefile", "application/zip", ".zip"),
}
RASTER_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"


def _shapefile_zip(frame: gpd.GeoDataFrame, layer_id: str, tmp: Path) -> bytes:
    dimensions = np.unique(shapely.get_dimensions(frame.geometry.array))
    if len(dimensions[dimensions >= 0]) > 1:
        raise UnsupportedFormat(
            f"图层 {layer_id} 同时含点、线或面，Shapefile 只能容纳一种几何类型；请下载 GeoJSON 或 GeoPackage。",
            f"Layer {layer_id} mixes points, lines or polygons, and a Shapefile holds one geometry type; "
            "download GeoJSON or GeoPackage instead.",
            field="format", where="format", value="shp", accepted=["geojson", "gpkg"],
        )
    # UTF-8 with a .cpg saying so: every current GIS reads Chinese attributes from it correctly.
    pyogrio.write_dataframe(frame, tmp / "layer.shp", driver="ESRI Shapefile", encoding="UTF-8")
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", zipfile.ZIP_DEFLATED) as zf:
        for ext in _SHAPEFILE_PARTS:
            if (tmp / f"layer{ext}").exists():
                zf.write(tmp / f"layer{ext}", f"{layer_id}{ext}")
    return body.getvalue()


def write_download(frame: gpd.GeoDataFrame, fmt: str, layer_id: str) -> tuple[bytes, str, str]:
    """A layer as a file: (body, media type, filename). WGS84, UTF-8, attributes as stored."""
    if fmt not in DOWNLOAD_FORMATS:
        raise UnsupportedFormat(
            f"不支持的下载格式：{fmt}；可用 {', '.join(DOWNLOAD_FORMATS)}。",
            f"Unsupported download format {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}.",
            field="format", where="format", value=fmt, accepted=list(DOWNLOAD_FORMATS),
        )
    driver, media_type, ext = DOWNLOAD_FORMATS[fmt]
    frame = frame.set_crs("EPSG:4326") if frame.crs is None else frame.to_crs("EPSG:4326")
    with tempfile.TemporaryDirectory(prefix="ecozone-download-") as work:
        tmp = Path(work)
        if fmt == "shp":
            body = _shapefile_zip(frame, layer_id, tmp)
        else:
            out = tmp / f"layer{ext}"
            # RFC7946=YES: WGS84 lon/lat, no `crs` member, right-hand rings, 7-decimal coordinates (~1 cm).
            options = {"RFC7946": "YES"} if fmt == "geojson" else {}
            pyogrio.write_dataframe(frame, out, driver=driver, layer=layer_id, layer_options=options)
            body = out.read_bytes()
    return body, media_type, f"{layer_id}{ext}"


def with_crs(upload: RasterUpload, crs: str) -> RasterUpload:
    """The same raster with a CRS assigned (for a GeoTIFF that carries none and an upload that
    names it): the CRS is written into a copy, which is then re-laid out as a COG."""
    from rasterio.crs import CRS as RasterCRS

    with rasterio.open(upload.cog_path, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:  # tags only; re-laid out below
        dst.crs = RasterCRS.from_user_input(crs)
    fd, name = tempfile.mkstemp(prefix=".ecozone-", suffix=".cog.tif", dir=upload.cog_path.parent)
    os.close(fd)
    cog = Path(name)
    try:
        with rasterio.open(upload.cog_path) as src:
            rasterio.shutil.copy(src, cog, driver="COG", **_COG_OPTIONS)
            bounds = tuple(transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21))
    except BaseException:
        cog.unlink(missing_ok=True)
        raise
    upload.cog_path.unlink(missing_ok=True)
    return dataclasses.replace(upload, cog_path=cog, crs=_crs_label(RasterCRS.from_user_input(crs)), bounds_lonlat=bounds)
