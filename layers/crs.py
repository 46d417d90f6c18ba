"""Input coordinate reference systems: parse, range-check and convert to WGS84.

Accepted: any EPSG code pyproj knows (EPSG:4326 WGS84, EPSG:4490 CGCS2000, the CGCS2000
3-degree Gauss-Kruger zones EPSG:4544/4545/4546 that cover Chongqing, …), ``GCJ02``, the
obfuscated datum of Gaode/Tencent map clicks, which is ~500 m off WGS84 in Chongqing — half of
a 1 km buffer — and ``BD09``, Baidu's further offset of GCJ-02 (~1 km off in all); both are
undone before any geometry is used.

A projected CRS accepts almost any pair of numbers, so a range check alone cannot catch
lon/lat sent as EPSG:3857 or Gauss-Kruger metres sent in the wrong zone: `check_plausible`
compares the converted site with where the loaded jurisdictions are, and names the CRS under
which the numbers would make sense.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from ecozone.layers.errors import CoordinatesOutOfRange, ImplausibleCoordinates, UnknownCRS

GCJ02 = "GCJ02"
BD09 = "BD09"
WGS84 = "EPSG:4326"
# Slack around a projected CRS's published area of use: Gauss-Kruger coordinates remain
# meaningful well beyond their 3-degree zone (Chongqing straddles three zones, and a
# user may send all of it in one); a zone-prefixed or swapped coordinate is still far out.
_AREA_SLACK_DEG = 6.0


@dataclass(frozen=True)
class InputCRS:
    label: str
    crs: CRS | None  # None for GCJ02 and BD09, which no EPSG code describes

    @property
    def is_geographic(self) -> bool:
        return self.crs is None or self.crs.is_geographic


@lru_cache(maxsize=64)
def parse_crs(text: str | None) -> InputCRS:
    label = (text or WGS84).strip()
    compact = label.upper().replace("-", "").replace("_", "")
    if compact in ("GCJ02", "GCJ"):
        return InputCRS(GCJ02, None)
    if compact in ("BD09", "BD09LL", "BAIDU"):
        return InputCRS(BD09, None)
    try:
        crs = CRS.from_user_input(label)
    except CRSError:
        raise UnknownCRS(
            f"无法识别的坐标参考系：{label}。请使用 EPSG 代码（如 EPSG:4326、EPSG:4490、EPSG:4545）、GCJ02 或 BD09。",
            f"Unknown CRS {label!r}. Use an EPSG code (e.g. EPSG:4326, EPSG:4490, EPSG:4545), GCJ02 or BD09.",
            field="crs",
            value=label,
        ) from None
    if crs.to_epsg() is None and not label.upper().startswith("EPSG:"):
        # Free-form PROJ strings are accepted by pyproj but easy to get subtly wrong.
        raise UnknownCRS(
            f"坐标参考系须为 EPSG 代码、GCJ02 或 BD09：{label}",
            f"CRS must be an EPSG code, GCJ02 or BD09, got {label!r}",
            field="crs",
            value=label,
        )
    if not (crs.is_geographic or crs.is_projected):
        raise UnknownCRS(
            f"坐标参考系 {label} 既非地理坐标系也非投影坐标系。",
            f"CRS {label} is neither geographic nor projected.",
            field="crs",
            value=label,
        )
    return InputCRS(crs.to_string(), crs)


_TO_WGS84: dict[str, Transformer] = {}


def _to_wgs84(crs: CRS) -> Transformer:
    """The transformer to WGS84 lon/lat, kept per CRS — keyed on the CRS's source text, not the
    CRS: hashing a pyproj CRS writes its WKT (~30 µs, a tenth of a whole point check)."""
    got = _TO_WGS84.get(crs.srs)
    if got is None:
        got = Transformer.from_crs(crs, WGS84, always_xy=True)
        if len(_TO_WGS84) < 64:
            _TO_WGS84[crs.srs] = got
    return got


def _out_of_range(zh: str, en: str, where: str, **detail) -> CoordinatesOutOfRange:
    return CoordinatesOutOfRange(zh, en, field="geometry.coordinates", where=where, **detail)


def _first_bad(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def to_wgs84(geom: shapely.Geometry, incrs: InputCRS) -> shapely.Geometry:
    """Convert a geometry in the input CRS to WGS84 lon/lat, rejecting coordinates that
    are out of range for that CRS (with the index of the first offending vertex)."""
    xy = shapely.get_coordinates(geom)
    if incrs.is_geographic:
        bad = (np.abs(xy[:, 0]) > 180) | (np.abs(xy[:, 1]) > 90)
        if bad.any():
            i = _first_bad(bad)
            raise _out_of_range(
                f"经纬度超出范围（经度 −180…180，纬度 −90…90）：第 {i} 个顶点 {xy[i].tolist()}。"
                "若为投影坐标，请同时给出 crs（如 EPSG:4545）。",
                f"Longitude/latitude out of range (lon −180…180, lat −90…90) at vertex {i}: {xy[i].tolist()}. "
                "If these are projected coordinates, pass their crs (e.g. EPSG:4545).",
                where=f"vertex {i}",
                crs=incrs.label,
            )
    if incrs.label == WGS84 and np.isfinite(xy).all():  # already what we want: nothing to transform
        return geom
    if incrs.label == BD09:
        lon, lat = gcj02_to_wgs84(*bd09_to_gcj02(xy[:, 0], xy[:, 1]))
    elif incrs.label == GCJ02:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
    else:
        lon, lat = _to_wgs84(incrs.crs).transform(xy[:, 0], xy[:, 1])
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bad = ~np.isfinite(lon) | ~np.isfinite(lat)
    area = incrs.crs.area_of_use if incrs.crs is not None and incrs.crs.is_projected else None
    if area is not None:
        bad |= (lon < area.west - _AREA_SLACK_DEG) | (lon > area.east + _AREA_SLACK_DEG)
        bad |= (lat < area.south - _AREA_SLACK_DEG) | (lat > area.north + _AREA_SLACK_DEG)
    if bad.any():
        i = _first_bad(bad)
        bounds = (
            f"{area.west:.1f}…{area.east:.1f}E, {area.south:.1f}…{area.north:.1f}N" if area is not None else "—"
        )
        raise _out_of_range(
            f"坐标超出 {incrs.label} 的适用范围（{bounds}）：第 {i} 个顶点 {xy[i].tolist()}。"
            "高斯-克吕格坐标请勿带带号前缀（如 36500000），或改用 EPSG:4523–4525。",
            f"Coordinates outside the area of use of {incrs.label} ({bounds}) at vertex {i}: {xy[i].tolist()}. "
            "Gauss-Kruger eastings must not carry a zone prefix (e.g. 36500000); otherwise use EPSG:4523–4525.",
            where=f"vertex {i}",
            crs=incrs.label,
        )
    return shapely.transform(geom, lambda _: np.column_stack([lon, lat]))


# --- GCJ-02 --------------------------------------------------------------------------
# The published GCJ-02 forward formula (Krasovsky ellipsoid); the inverse is found by
# fixed-point iteration, which converges to well under a millimetre in a few steps.
_A = 6378245.0
_EE = 0.00669342162296594323


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271)


def _gcj_offset(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    dlat += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    dlon += (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    dlon, dlat = _gcj_offset(lon, lat)
    inside = _in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    glon, glat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(6):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        wlon, wlat = wlon - (flon - glon), wlat - (flat - glat)
    return wlon, wlat


# --- BD-09 ---------------------------------------------------------------------------
# Baidu's published GCJ-02 → BD-09 formula; the inverse is found by fixed-point iteration on
# it (the commonly copied closed-form inverse is only good to ~1e-6 degree).
_X_PI = np.pi * 3000.0 / 180.0


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    blon, blat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    glon, glat = blon - 0.0065, blat - 0.006
    for _ in range(6):
        flon, flat = gcj02_to_bd09(glon, glat)
        glon, glat = glon - (flon - blon), glat - (flat - blat)
    return glon, glat


# --- plausibility ----------------------------------------------------------------------
# CRSs a Chongqing site is commonly sent in, tried in this order to name the likely fix.
_LIKELY_CRS = ("EPSG:4326", "EPSG:4545", "EPSG:4544", "EPSG:4546", "EPSG:3857", "EPSG:4547", "EPSG:4543")


def _inside(lon: np.ndarray, lat: np.ndarray, extent: tuple[float, float, float, float]) -> bool:
    w, s, e, n = extent
    return bool(np.all(np.isfinite(lon)) and np.all((lon >= w) & (lon <= e) & (lat >= s) & (lat <= n)))


def _as_lonlat(xy: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
    crs = CRS.from_user_input(label)
    if crs.is_geographic:
        return xy[:, 0], xy[:, 1]
    lon, lat = _to_wgs84(crs).transform(xy[:, 0], xy[:, 1], errcheck=False)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def check_plausible(
    raw: shapely.Geometry, lonlat: shapely.Geometry, incrs: InputCRS,
    extent: tuple[float, float, float, float] | None,
) -> None:
    """Refuse a site in a projected CRS that lands far from every loaded jurisdiction.

    `extent` is (west, south, east, north) in degrees: the loaded jurisdictions' bounds with
    the configured margin. Geographic input is not refused here — a lon/lat point in Beijing
    is a real place, answered `not_covered` — but projected numbers that land nowhere near
    the data are almost always a wrong `crs`, and the error names the one that fits."""
    if extent is None or incrs.crs is None or not incrs.crs.is_projected:
        return
    out = shapely.get_coordinates(lonlat)
    if _inside(out[:, 0], out[:, 1], extent):
        return
    xy = shapely.get_coordinates(raw)
    likely = None
    for label in _LIKELY_CRS:
        if label == incrs.label:
            continue
        with np.errstate(all="ignore"):
            lon, lat = _as_lonlat(xy, label)
        if _inside(lon, lat, extent):
            likely = label
            break
    w, s, e, n = extent
    where = f"{w:.1f}…{e:.1f}E, {s:.1f}…{n:.1f}N"
    landed = f"{out[0, 0]:.4f}, {out[0, 1]:.4f}"
    fix_zh = f"这些数值按 {likely} 解读恰好落在范围内，请改用 crs={likely}。" if likely else "请检查 crs 是否与坐标一致。"
    fix_en = f"Read as {likely} they fall inside it: send crs={likely}." if likely else "Check that crs matches the coordinates."
    raise ImplausibleCoordinates(
        f"按 {incrs.label} 转换后，该位置（经纬度 {landed}）远离已载入的辖区（{where}）。{fix_zh}",
        f"Read as {incrs.label}, the site lands at lon/lat {landed}, far from the loaded jurisdictions ({where}). {fix_en}",
        field="crs", where="crs", crs=incrs.label, likely_crs=likely, landed_at=[round(float(v), 6) for v in out[0]],
    )
