"""Validate an uploaded layer against its kind, and bring it to WGS84.

Rules find features by kind and attribute values, so a layer with a misspelt attribute, an
enumeration value outside the contract, the wrong geometry type or coordinates in the wrong
CRS would silently make rules miss — a site "clear" of a protected area that was never
matched. Every such problem is refused here with a 422 that names the feature (index and id),
the attribute, what was found and what is allowed, and — for coordinates — the likely fix
(swap the axes, use EPSG:4545, drop the zone prefix). Only invalid polygons are repaired
(make_valid), and each repair is reported.

Checks are vectorised (shapely 2 array functions, numpy, pandas): a 100,000-polygon layer
validates in seconds, so nothing here loops over features in Python.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from pyproj.database import query_crs_info

from ecozone.layers.crs import (
    BD09,
    GCJ02,
    WGS84,
    _LIKELY_CRS,
    InputCRS,
    _as_lonlat,
    _to_wgs84,
    bd09_to_gcj02,
    gcj02_to_wgs84,
    parse_crs,
)
from ecozone.layers.errors import (
    CoordinatesOutOfRange,
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
    UnknownCRS,
    UnknownLayerKind,
    WrongGeometryType,
)
from ecozone.layers.formats import RasterUpload, VectorUpload
from ecozone.layers.kinds import LAYER_KINDS, LayerKind

CHINA_EXTENT = (73.0, 17.0, 136.0, 54.0)  # w, s, e, n degrees: where any layer may land by default
_FIRST = 10  # feature indexes listed in an error
_REPORTED_REPAIRS = 100

_TYPE_NAMES = ("Point", "LineString", "LinearRing", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon",
               "GeometryCollection")
_TYPE_IDS = {"point": (0, 4), "line": (1, 2, 5), "polygon": (3, 6)}

# Chinese column names GIS staff commonly use for contract attributes: suggested, never applied.
_ALIASES = {
    "名称": "name", "名字": "name", "代码": "code", "编码": "code", "行政区划代码": "code", "类别": "category",
    "类型": "category", "级别": "level", "分区": "zone", "状态": "status", "河流等级": "river_class",
    "灾害类型": "hazard", "声环境功能区类别": "noise_class", "保护等级": "protection_grade", "管控类别": "unit_class",
}


@dataclass(frozen=True)
class Limits:
    max_features: int = 1_000_000
    max_vertices: int = 50_000_000  # total
    max_feature_vertices: int = 1_000_000


@dataclass
class ValidationReport:
    feature_count: int
    source_crs: str  # the CRS the data was read in: EPSG:xxxx, GCJ02 or BD09
    repaired: list[int] = field(default_factory=list)  # indexes of features repaired with make_valid
    warnings: list[dict] = field(default_factory=list)  # {"code", "message": {"zh", "en"}, "detail"}

    def public(self) -> dict:
        return {
            "feature_count": self.feature_count,
            "source_crs": self.source_crs,
            "repaired_count": len(self.repaired),
            "repaired": self.repaired[:_REPORTED_REPAIRS],
            "warnings": self.warnings,
        }


def _warning(code: str, zh: str, en: str, **detail) -> dict:
    return {"code": code, "message": {"zh": zh, "en": en}, "detail": detail}


def _firsts(indexes: np.ndarray) -> list[int]:
    return [int(i) for i in indexes[:_FIRST]]


# --- kind ------------------------------------------------------------------------------------
def _kind(code: str) -> LayerKind:
    if code not in LAYER_KINDS:
        kinds = list(LAYER_KINDS)
        raise UnknownLayerKind(
            f"未知的图层类型：{code}；可用：{'、'.join(kinds)}。",
            f"Unknown layer kind {code!r}; use one of: {', '.join(kinds)}.",
            field="kind", where="kind", value=code, allowed=kinds,
        )
    return LAYER_KINDS[code]


def _mismatch(kind: LayerKind, fmt: str) -> KindFormatMismatch:
    if kind.code == "raster":
        return KindFormatMismatch(
            f"图层类型 raster（栅格）需要上传 GeoTIFF，收到的是矢量文件（{fmt}）。",
            f"Layer kind 'raster' takes a GeoTIFF, but a vector file ({fmt}) was sent.",
            field="kind", where="file", kind=kind.code, format=fmt,
        )
    return KindFormatMismatch(
        f"图层类型 {kind.code}（{kind.zh}）需要矢量数据，收到的是 GeoTIFF 栅格；栅格请使用类型 raster。",
        f"Layer kind {kind.code!r} takes vector data, but a GeoTIFF raster was sent; upload rasters as kind 'raster'.",
        field="kind", where="file", kind=kind.code, format=fmt,
    )


# --- attributes ------------------------------------------------------------------------------
def _as_text(values: pd.Series) -> pd.Series:
    """Values as the strings the contract lists (2 and 2.0 → "2", 2.5 → "2.5", text kept); null → None."""
    out = values.astype(object).where(values.notna(), None)
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numeric = values.notna()
    elif values.dtype == object:  # mixed properties (e.g. a frame built from JSON): numbers among text
        numeric = values.map(type).isin((int, float, np.int32, np.int64, np.float32, np.float64))
    else:
        numeric = pd.Series(False, index=values.index)
    if numeric.any():
        number = pd.to_numeric(values[numeric]).astype(float)
        whole = (number == np.trunc(number)) & (number.abs() < 2**53)
        out[numeric] = number.astype(str)
        out[whole[whole].index] = number[whole].astype("int64").astype(str)
    return out.where(out.isna(), out.astype(str))


def _blank(values: pd.Series) -> np.ndarray:
    text = values.astype("string")
    return (values.isna() | text.str.strip().eq("").fillna(False)).to_numpy(bool)


def _folded(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", str(name)).casefold()


def _did_you_mean(attribute: str, columns: list[str]) -> str | None:
    for column in columns:
        if _folded(column) == _folded(attribute) or _ALIASES.get(str(column).strip()) == attribute:
            return column
    close = difflib.get_close_matches(attribute, [str(c) for c in columns], n=1, cutoff=0.8)
    return close[0] if close else None


def _where(i: int, fids: np.ndarray) -> dict:
    return {"where": f"features[{i}]", "feature_index": i, "feature_id": str(fids[i])}


def _check_required(frame: gpd.GeoDataFrame, kind: LayerKind, fids: np.ndarray) -> None:
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    for attribute in kind.required:
        if attribute not in frame.columns:
            close = _did_you_mean(attribute, columns)
            hint_zh = f"是否应为列 {close}？请将其改名为 {attribute}。" if close else ""
            hint_en = f" Did you mean column {close!r}? Rename it to {attribute!r}." if close else ""
            raise MissingAttribute(
                f"{kind.code}（{kind.zh}）图层缺少必填属性 {attribute}。{hint_zh}必填属性：{'、'.join(kind.required)}；"
                f"文件中的列：{'、'.join(columns) or '无'}。",
                f"A {kind.code} layer needs the attribute {attribute!r}, which the file lacks.{hint_en} "
                f"Required: {', '.join(kind.required)}; the file's columns: {', '.join(columns) or 'none'}.",
                field="file", where=f"attributes.{attribute}", attribute=attribute, did_you_mean=close,
                required=list(kind.required), columns=columns,
            )
        missing = np.flatnonzero(_blank(frame[attribute]))
        if missing.size:
            i = int(missing[0])
            raise MissingAttribute(
                f"要素 {i}（feature_id {fids[i]}）的必填属性 {attribute} 为空（共 {missing.size} 个要素为空）。",
                f"Feature {i} (feature_id {fids[i]}) has no value for the required attribute {attribute!r} "
                f"(features lacking it: {missing.size}).",
                field="file", attribute=attribute, count=int(missing.size), first_indexes=_firsts(missing),
                **_where(i, fids),
            )


def _check_enums(frame: gpd.GeoDataFrame, kind: LayerKind, fids: np.ndarray) -> dict[str, pd.Series]:
    """The kind's enumeration attributes present in the frame, as strings; bad values refused."""
    texts = {}
    for attribute, allowed in kind.enums.items():
        if attribute not in frame.columns:
            continue
        # "2.0" as text: GDAL turns a property mixing numbers and text into text, and Excel writes 2 as 2.0.
        text = _as_text(frame[attribute]).str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
        text[_blank(text)] = None  # a blank .dbf cell is no value, not a wrong one
        bad = np.flatnonzero((text.notna() & ~text.isin(allowed)).to_numpy(bool))
        if bad.size:
            i = int(bad[0])
            value = text.iloc[i]
            raise InvalidAttributeValue(
                f"要素 {i}（feature_id {fids[i]}）的属性 {attribute} 取值 {value!r} 不在允许值中：{'、'.join(allowed)}"
                f"（共 {bad.size} 个要素取值有误）。",
                f"Feature {i} (feature_id {fids[i]}): {attribute} = {value!r} is not one of {', '.join(allowed)} "
                f"(features with a value not allowed: {bad.size}).",
                field="file", attribute=attribute, value=value, allowed=list(allowed), count=int(bad.size),
                first_indexes=_firsts(bad), **_where(i, fids),
            )
        texts[attribute] = text
    return texts


def _attribute_warnings(frame: gpd.GeoDataFrame, kind: LayerKind) -> list[dict]:
    """Optional attributes that are probably present under another name (not renamed: said)."""
    columns = [str(c) for c in frame.columns if c != frame.geometry.name]
    warnings = []
    for attribute in kind.optional:
        close = None if attribute in frame.columns else _did_you_mean(attribute, columns)
        if close:
            warnings.append(_warning(
                "attribute_name_mismatch",
                f"列 {close} 是否为可选属性 {attribute}？未改名，规则不会把它当作 {attribute} 使用。",
                f"Is column {close!r} the optional attribute {attribute!r}? It was not renamed, "
                f"so rules will not use it as {attribute!r}.",
                attribute=attribute, column=close,
            ))
    return warnings


def _feature_ids(frame: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Ids from feature_id, id or fid when unique and non-null there, else "1".."n"."""
    for column in ("feature_id", "id", "fid"):
        if column in frame.columns:
            text = _as_text(frame[column])
            if text.notna().all() and text.is_unique:
                return text.to_numpy(object), column
    return np.arange(1, len(frame) + 1).astype(str).astype(object), None


# --- geometry --------------------------------------------------------------------------------
def _check_geometries(geoms: np.ndarray, kind: LayerKind, fids: np.ndarray) -> None:
    empty = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if empty.size:
        i = int(empty[0])
        raise EmptyGeometry(
            f"{empty.size} 个要素没有几何（空或缺失），首个为要素 {i}（feature_id {fids[i]}）；"
            f"序号：{_firsts(empty)}。",
            f"Features without geometry (null or empty): {empty.size}, the first being feature {i} "
            f"(feature_id {fids[i]}); indexes: {_firsts(empty)}.",
            field="file", count=int(empty.size), first_indexes=_firsts(empty), **_where(i, fids),
        )
    allowed_ids = [t for g in kind.geometry for t in _TYPE_IDS[g]]
    type_ids = shapely.get_type_id(geoms)
    wrong = np.flatnonzero(~np.isin(type_ids, allowed_ids))
    if wrong.size:
        i = int(wrong[0])
        found = _TYPE_NAMES[type_ids[i]]
        allowed = [_TYPE_NAMES[t] for t in allowed_ids if t != 2]
        raise WrongGeometryType(
            f"要素 {i}（feature_id {fids[i]}）的几何类型为 {found}，{kind.code}（{kind.zh}）图层只接受 "
            f"{'、'.join(allowed)}（共 {wrong.size} 个要素类型不符）。",
            f"Feature {i} (feature_id {fids[i]}) is a {found}; a {kind.code} layer takes {', '.join(allowed)} "
            f"(features of another type: {wrong.size}).",
            field="file", found=found, allowed=allowed, count=int(wrong.size), first_indexes=_firsts(wrong),
            **_where(i, fids),
        )


def _check_feature_count(n_features: int, limits: Limits) -> None:
    if n_features > limits.max_features:
        raise TooManyFeatures(
            f"图层含 {n_features} 个要素，超过上限 {limits.max_features}。请拆分后分别上传。",
            f"The layer has {n_features} features, more than the limit of {limits.max_features}. Split it.",
            field="file", where="file", count=n_features, limit=limits.max_features,
        )


def _check_vertices(geoms: np.ndarray, limits: Limits, fids: np.ndarray) -> None:
    vertices = shapely.get_num_coordinates(geoms)
    over = np.flatnonzero(vertices > limits.max_feature_vertices)
    if over.size:
        i = int(over[0])
        raise TooManyVertices(
            f"要素 {i}（feature_id {fids[i]}）有 {vertices[i]} 个顶点，超过单要素上限 {limits.max_feature_vertices}。"
            "请简化或拆分该要素。",
            f"Feature {i} (feature_id {fids[i]}) has {vertices[i]} vertices, more than the per-feature limit of "
            f"{limits.max_feature_vertices}. Simplify or split it.",
            field="file", count=int(vertices[i]), limit=limits.max_feature_vertices, **_where(i, fids),
        )
    total = int(vertices.sum())
    if total > limits.max_vertices:
        raise TooManyVertices(
            f"图层共有 {total} 个顶点，超过上限 {limits.max_vertices}。请简化或拆分后上传。",
            f"The layer has {total} vertices in all, more than the limit of {limits.max_vertices}. "
            "Simplify or split it.",
            field="file", where="file", count=total, limit=limits.max_vertices,
        )


def _repair(geoms: np.ndarray) -> np.ndarray:
    """make_valid, keeping only the parts of each geometry's own dimension (a polygon's
    repair may also yield stray lines and points); None where nothing of it remains."""
    target = shapely.get_dimensions(geoms)
    fixed = shapely.make_valid(geoms)
    parts, owner = shapely.get_parts(fixed, return_index=True)
    parts, inner = shapely.get_parts(parts, return_index=True)  # members of a GeometryCollection may be multi
    owner = owner[inner]
    keep = shapely.get_dimensions(parts) == target[owner]
    parts, owner = parts[keep], owner[keep]
    out = np.full(len(geoms), None, dtype=object)
    for dim, build in ((0, shapely.multipoints), (1, shapely.multilinestrings), (2, shapely.multipolygons)):
        mine = target[owner] == dim
        if mine.any():
            owners, slot = np.unique(owner[mine], return_inverse=True)
            out[owners] = build(parts[mine], indices=slot)
    single = np.bincount(owner, minlength=len(geoms))[owner] == 1
    out[owner[single]] = parts[single]  # one part left: keep it a Polygon, not a one-part MultiPolygon
    return out


def _make_valid(geoms: np.ndarray, strict: bool, fids: np.ndarray) -> list[int]:
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if not invalid.size:
        return []
    i = int(invalid[0])
    if strict:
        reason = shapely.is_valid_reason(geoms[i])
        raise InvalidGeometry(
            f"要素 {i}（feature_id {fids[i]}）的几何无效：{reason}（共 {invalid.size} 个无效要素）。请修复后重新上传。",
            f"Feature {i} (feature_id {fids[i]}) has an invalid geometry: {reason} ({invalid.size} invalid features). "
            "Repair them and upload again.",
            field="file", reason=reason, count=int(invalid.size), first_indexes=_firsts(invalid), **_where(i, fids),
        )
    repaired = _repair(geoms[invalid])
    lost = invalid[shapely.is_missing(repaired) | ~shapely.is_valid(repaired)]
    if lost.size:
        j = int(lost[0])
        reason = shapely.is_valid_reason(geoms[j])
        raise InvalidGeometry(
            f"要素 {j}（feature_id {fids[j]}）的几何无效（{reason}），且无法自动修复（修复后退化为空或仍无效）。",
            f"Feature {j} (feature_id {fids[j]}) has an invalid geometry ({reason}) that cannot be repaired "
            "(repairing it leaves nothing of its type, or nothing valid).",
            field="file", reason=reason, count=int(lost.size), first_indexes=_firsts(lost), **_where(j, fids),
        )
    geoms[invalid] = repaired
    return [int(k) for k in invalid]


# --- CRS -------------------------------------------------------------------------------------
def _same_crs(a: CRS, b: CRS) -> bool:
    ea, eb = a.to_epsg(), b.to_epsg()
    return ea == eb if ea and eb else a.equals(b, ignore_axis_order=True)


@dataclass(frozen=True)
class _ReadAs:
    crs: InputCRS  # the coordinates' CRS (geographic for GCJ02/BD09 data)
    offset: str | None  # GCJ02 / BD09 when read off a Gaode / Baidu basemap
    label: str


def _resolve_crs(upload: VectorUpload, crs: str | None, source_crs: str | None, geoms: np.ndarray,
                 extent, warnings: list[dict]) -> _ReadAs:
    given = parse_crs(crs) if crs else None
    offset = None
    if source_crs:
        offset = parse_crs(source_crs).label
        if offset not in (GCJ02, BD09):
            raise UnknownCRS(
                f"source_crs 只能为 GCJ02（高德/腾讯底图）或 BD09（百度底图），收到 {source_crs}；其他坐标系请用 crs。",
                f"source_crs is GCJ02 (Gaode/Tencent basemap) or BD09 (Baidu basemap), not {source_crs!r}; "
                "send other CRSs as crs.",
                field="source_crs", where="source_crs", value=source_crs, allowed=[GCJ02, BD09],
            )
    if given is not None and given.crs is None:  # crs=GCJ02/BD09 means the same as source_crs
        if offset and offset != given.label:
            raise CRSConflict(
                f"crs={given.label} 与 source_crs={offset} 矛盾。", f"crs={given.label} contradicts source_crs={offset}.",
                field="crs", where="crs", crs=given.label, source_crs=offset,
            )
        offset, given = given.label, None
    if upload.file_crs is not None:
        in_file = InputCRS(upload.file_crs, CRS.from_user_input(upload.file_crs))
        if given is None or _same_crs(in_file.crs, given.crs):
            read_as = in_file
        elif upload.crs_implied:
            read_as = given
            warnings.append(_warning(
                "crs_overridden",
                f"文件未声明坐标系（{upload.format} 按规范默认为 {upload.file_crs}），已按请求的 crs={given.label} 读取。",
                f"The file names no CRS ({upload.format} defaults to {upload.file_crs}); "
                f"read as crs={given.label} as asked.",
                file_default=upload.file_crs, crs=given.label,
            ))
        else:
            raise CRSConflict(
                f"文件声明的坐标系为 {upload.file_crs}，与请求的 crs={given.label} 不同。以文件为准时请不要传 crs；"
                "若文件声明有误，请修正文件（如 .prj）。",
                f"The file declares {upload.file_crs}, but crs={given.label} was sent. Omit crs to use the file's; "
                "if the file's is wrong, fix the file (e.g. its .prj).",
                field="crs", where="crs", file_crs=upload.file_crs, crs=given.label,
            )
    elif given is not None:
        read_as = given
    elif offset:
        read_as = parse_crs(WGS84)  # lon/lat read off an offset basemap
    else:
        likely = _likely_crs(_sample(shapely.get_coordinates(geoms)), extent, exclude=None)
        suggest = likely or "EPSG:4545"
        raise MissingCRS(
            f"文件没有坐标参考系信息。请随上传传入 crs，例如 crs={suggest}"
            f"{'（按坐标数值判断最可能）' if likely else ''}；经纬度用 EPSG:4326 或 EPSG:4490，高德/百度坐标用 GCJ02/BD09。",
            f"The file carries no CRS. Send crs with the upload, e.g. crs={suggest}"
            f"{' (what the coordinates suggest)' if likely else ''}; lon/lat is EPSG:4326 or EPSG:4490, "
            "Gaode/Baidu clicks are GCJ02/BD09.",
            field="crs", where="crs", likely_crs=likely,
        )
    if offset and not read_as.is_geographic:
        raise CRSConflict(
            f"source_crs={offset} 只适用于经纬度数据，而数据坐标系为投影坐标系 {read_as.label}。",
            f"source_crs={offset} applies to lon/lat data, but the data is in the projected CRS {read_as.label}.",
            field="source_crs", where="source_crs", crs=read_as.label, source_crs=offset,
        )
    return _ReadAs(read_as, offset, offset or read_as.label)


@lru_cache(maxsize=1)
def _zone_prefixed_crs() -> dict[int, str]:
    """CGCS2000 Gauss-Kruger CRSs whose eastings carry the zone number (36 500 000 m is
    zone 36, CM 108E): zone → EPSG code, from the EPSG database rather than remembered."""
    found = {}
    for info in query_crs_info(auth_name="EPSG", pj_types="PROJECTED_CRS"):
        m = re.fullmatch(r"CGCS2000 / (?:3-degree )?Gauss-Kruger zone (\d+)", info.name)
        if m and not info.deprecated:
            found[int(m[1])] = f"EPSG:{info.code}"
    return found


def _is_wgs84(read_as: InputCRS, offset: str | None) -> bool:
    return offset is None and read_as.crs is not None and read_as.crs.to_epsg() == 4326


def _lonlat(xy: np.ndarray, read_as: InputCRS, offset: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates → WGS84 lon/lat; NaN where they cannot be in the CRS at all."""
    x, y = xy[:, 0], xy[:, 1]
    if read_as.is_geographic:
        outside = (np.abs(x) > 180) | (np.abs(y) > 90)
        x, y = np.where(outside, np.nan, x), np.where(outside, np.nan, y)
        if offset == BD09:
            x, y = bd09_to_gcj02(x, y)
        if offset in (GCJ02, BD09):
            return gcj02_to_wgs84(x, y)
        if _is_wgs84(read_as, offset):
            return x, y
    with np.errstate(all="ignore"):
        lon, lat = _to_wgs84(read_as.crs).transform(x, y, errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def _inside(lon: np.ndarray, lat: np.ndarray, extent) -> np.ndarray:
    w, s, e, n = extent
    with np.errstate(invalid="ignore"):
        return np.isfinite(lon) & np.isfinite(lat) & (lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)


def _likely_crs(xy: np.ndarray, extent, exclude: str | None) -> str | None:
    """The CRS under which these coordinates land inside the extent: a zone-prefixed
    Gauss-Kruger CRS when the eastings carry a zone number, else one commonly used here."""
    zones = np.unique(np.floor(xy[:, 0] / 1e6))
    candidates = []
    if len(zones) == 1 and int(zones[0]) in _zone_prefixed_crs():
        candidates.append(_zone_prefixed_crs()[int(zones[0])])
    candidates += [c for c in _LIKELY_CRS if c not in candidates]
    for label in candidates:
        if label == exclude:
            continue
        with np.errstate(all="ignore"):
            lon, lat = _as_lonlat(xy, label)
        if _inside(np.asarray(lon, float), np.asarray(lat, float), extent).all():
            return label
    return None


def _sample(xy: np.ndarray, n: int = 2000) -> np.ndarray:
    return xy[np.unique(np.linspace(0, len(xy) - 1, min(len(xy), n)).astype(int))]


def _implausible(xy: np.ndarray, owner: np.ndarray, ok: np.ndarray, lon, lat, read: _ReadAs, extent,
                 fids: np.ndarray) -> ImplausibleCoordinates:
    first = int(np.flatnonzero(~ok)[0])
    i = int(owner[first])
    sample = np.vstack([xy[first : first + 1], _sample(xy)])
    w, s, e, n = extent
    region = f"{w:g}…{e:g}E, {s:g}…{n:g}N"
    raw = [float(v) for v in xy[first]]
    swapped_lon, swapped_lat = _lonlat(np.ascontiguousarray(sample[:, ::-1]), read.crs, read.offset)
    detail = dict(field="file", crs=read.label, coordinate=raw, extent=list(extent), **_where(i, fids))
    if _inside(swapped_lon, swapped_lat, extent).all():
        return ImplausibleCoordinates(
            f"要素 {i}（feature_id {fids[i]}）的坐标 {raw} 按 {read.label} 不在预期范围（{region}）内，"
            "但交换 x、y 后落在范围内：坐标轴似乎颠倒了（纬度/北坐标在前）。请交换两轴后重新上传。",
            f"Feature {i} (feature_id {fids[i]}): coordinate {raw} read as {read.label} is not within the expected "
            f"region ({region}), but with x and y swapped it is: the axes look swapped (latitude/northing first). "
            "Swap the axes and upload again.",
            likely_crs=read.label, swap_axes=True, **detail,
        )
    likely = _likely_crs(sample, extent, exclude=read.crs.label)
    if np.isfinite(lon[first]) and np.isfinite(lat[first]):
        at = f"{lon[first]:.4f}, {lat[first]:.4f}"
        landed_zh, landed_en = f"转换后位于经纬度 {at}", f"lands at lon/lat {at}"
        detail["landed_at"] = [round(float(lon[first]), 6), round(float(lat[first]), 6)]
    else:
        landed_zh, landed_en = "在该坐标系中不可能存在", "cannot be a coordinate in that CRS"
    fix_zh = f"这些数值按 {likely} 解读恰好落在范围内，请改用 crs={likely}。" if likely else "请检查 crs 是否与坐标一致。"
    fix_en = (f"Read as {likely} they fall inside it: send crs={likely}." if likely
              else "Check that crs matches the coordinates.")
    return ImplausibleCoordinates(
        f"要素 {i}（feature_id {fids[i]}）的坐标 {raw} 按 {read.label} {landed_zh}，不在预期范围（{region}）内。{fix_zh}",
        f"Feature {i} (feature_id {fids[i]}): coordinate {raw} read as {read.label} {landed_en}, outside the expected "
        f"region ({region}). {fix_en}",
        likely_crs=likely, swap_axes=False, **detail,
    )


def _to_wgs84_checked(geoms: np.ndarray, read: _ReadAs, extent, fids: np.ndarray) -> np.ndarray:
    xy, owner = shapely.get_coordinates(geoms, return_index=True)
    finite = np.isfinite(xy).all(axis=1)
    if not finite.all():
        i = int(owner[np.flatnonzero(~finite)[0]])
        raise CoordinatesOutOfRange(
            f"要素 {i}（feature_id {fids[i]}）含非数值坐标（NaN 或无穷）。",
            f"Feature {i} (feature_id {fids[i]}) has a coordinate that is not a finite number (NaN or infinity).",
            field="file", crs=read.label, **_where(i, fids),
        )
    lon, lat = _lonlat(xy, read.crs, read.offset)
    ok = _inside(lon, lat, extent)
    if not ok.all():
        raise _implausible(xy, owner, ok, lon, lat, read, extent, fids)
    if _is_wgs84(read.crs, read.offset):
        return geoms.copy()
    return shapely.set_coordinates(geoms.copy(), np.column_stack([lon, lat]))


# --- entry points ----------------------------------------------------------------------------
def validate_layer(
    kind: str, upload: VectorUpload, *, crs: str | None = None, source_crs: str | None = None,
    strict: bool = False, limits: Limits = Limits(),
    plausible_extent: tuple[float, float, float, float] | None = None,
) -> tuple[gpd.GeoDataFrame, ValidationReport]:
    """Check an upload against its kind; return it as WGS84 with a string `feature_id` column
    (plus the attributes, enumeration values as strings) and a report of what was done.

    `crs` is required when the file carries none; `source_crs` GCJ02/BD09 says the lon/lat
    were digitised on a Gaode/Baidu basemap. `plausible_extent` (w, s, e, n degrees; default
    China) is where the converted data must land. Any problem raises an InputError (422)."""
    layer_kind = _kind(kind)
    if isinstance(upload, RasterUpload):
        if layer_kind.code == "raster":
            raise TypeError("raster uploads are checked with validate_raster")
        raise _mismatch(layer_kind, "geotiff")
    if layer_kind.code == "raster":
        raise _mismatch(layer_kind, upload.format)
    extent = plausible_extent or CHINA_EXTENT
    frame = upload.frame.reset_index(drop=True)
    n = len(frame)
    if n == 0:
        raise EmptyLayer("文件中没有要素。", "The file holds no features.", field="file", where="file")
    _check_feature_count(n, limits)
    fids, id_column = _feature_ids(frame)
    _check_required(frame, layer_kind, fids)
    texts = _check_enums(frame, layer_kind, fids)
    geoms = shapely.force_2d(np.asarray(frame.geometry.array, dtype=object))
    _check_geometries(geoms, layer_kind, fids)
    _check_vertices(geoms, limits, fids)

    warnings = _attribute_warnings(frame, layer_kind)
    read = _resolve_crs(upload, crs, source_crs, geoms, extent, warnings)
    geoms = _to_wgs84_checked(geoms, read, extent, fids)
    repaired = _make_valid(geoms, strict, fids)
    if repaired:
        warnings.append(_warning(
            "geometry_repaired",
            f"{len(repaired)} 个无效几何已用 make_valid 修复（如自相交的多边形），序号见 repaired。",
            f"{len(repaired)} invalid geometries were repaired with make_valid (e.g. self-intersecting polygons); "
            "their indexes are in `repaired`.",
            count=len(repaired),
        ))
    if id_column is None and any(c in frame.columns for c in ("feature_id", "id", "fid")):
        warnings.append(_warning(
            "feature_ids_generated",
            "feature_id/id/fid 列有空值或重复，要素已按 1…n 编号。",
            "The feature_id/id/fid column has nulls or duplicates, so features were numbered 1…n.",
        ))

    attributes = frame.drop(columns=[frame.geometry.name, "feature_id"], errors="ignore")
    for attribute, text in texts.items():
        attributes[attribute] = text
    attributes.insert(0, "feature_id", fids)
    out = gpd.GeoDataFrame(attributes, geometry=geoms, crs=WGS84)
    return out, ValidationReport(feature_count=n, source_crs=read.label, repaired=repaired, warnings=warnings)


def validate_raster(kind: str, upload: RasterUpload, *, crs: str | None = None) -> str:
    """Check a raster upload's kind and CRS; return the CRS label it is in (the file's, or
    `crs` when the file has none — the caller then assigns it to the COG)."""
    layer_kind = _kind(kind)
    if layer_kind.code != "raster":
        raise _mismatch(layer_kind, "geotiff")
    given = parse_crs(crs) if crs else None
    if given is not None and given.crs is None:
        raise UnknownCRS(
            f"栅格不能声明为 {given.label}；请使用 EPSG 代码。", f"A raster cannot be in {given.label}; use an EPSG code.",
            field="crs", where="crs", value=given.label,
        )
    if upload.crs is None:
        if given is None:
            raise MissingCRS(
                "GeoTIFF 没有坐标参考系信息。请随上传传入 crs，例如 crs=EPSG:4545。",
                "The GeoTIFF carries no CRS. Send crs with the upload, e.g. crs=EPSG:4545.",
                field="crs", where="crs", likely_crs=None,
            )
        return given.label
    if given is not None and not _same_crs(CRS.from_user_input(upload.crs), given.crs):
        raise CRSConflict(
            f"GeoTIFF 声明的坐标系为 {upload.crs}，与请求的 crs={given.label} 不同。",
            f"The GeoTIFF declares {upload.crs}, but crs={given.label} was sent.",
            field="crs", where="crs", file_crs=upload.crs, crs=given.label,
        )
    return upload.crs
