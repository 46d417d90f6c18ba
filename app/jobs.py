"""Batch screening: many sites from one file, evaluated in chunks with zoning.batch, and the
persistent job queue behind POST /v1/siting/batch.

One path for every caller. A file is read with layers.formats (CSV lon/lat or WKT, GeoJSON,
GeoPackage, zipped Shapefile, KML) and its CRS resolved once (`open_input`, which refuses a
file it cannot screen with a 4xx before any job exists); each chunk of rows is then converted
to WGS84 and to the metric CRS with array operations (`prepare`: no per-row Python transform),
grouped by project type and evaluated with `evaluate_many` (`evaluate_prepared`). A row whose
geometry a single check would refuse (missing, empty, invalid, out of range for its CRS) gets
the verdict ``invalid`` and a reason instead of failing the job. `ecozone screen` runs the same
chunks in-process or maps `screen_part` over a dask-geopandas frame (ecozone.cli_screen).

Jobs live in ``<data_dir>/jobs.sqlite`` (WAL) and ``<data_dir>/jobs/<id>/``. A JobRunner thread
per process takes queued jobs in order, one at a time; a job is claimed with one atomic
``UPDATE … WHERE status='queued'``, so several workers never run the same job. A job runs on
the Snapshot current when it starts, held for its whole run (a publish mid-job changes none of
its answers), and records that data version. The runner beats a heartbeat while it works;
every runner looks for jobs left ``running`` by a dead one (no heartbeat for ``job_stale_s``,
or its process gone on this host) and puts them back in the queue when the data version is
unchanged — they resume from their last finished chunk — or marks them failed, saying the data
changed. Nothing is dropped silently.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from ecozone.layers.crs import (
    _AREA_SLACK_DEG,
    BD09,
    GCJ02,
    InputCRS,
    _to_wgs84,
    bd09_to_gcj02,
    gcj02_to_wgs84,
    parse_crs,
)
from ecozone.layers.errors import (
    CRSConflict,
    EmptyLayer,
    ImplausibleCoordinates,
    InputError,
    MissingCRS,
    NotFound,
    TooManyFeatures,
    UnknownCRS,
    UnsupportedFormat,
)
from ecozone.settings import Settings
from ecozone.zoning.batch import evaluate_many
from ecozone.zoning.catalog import split_type_names
from ecozone.zoning.metric import to_metric

log = logging.getLogger("ecozone.jobs")

INVALID = "invalid"
RESULT_COLUMNS = ("site_id", "verdict", "rule_ids", "min_distance_m", "covered_ratio", "reason")
VERDICTS = ("prohibited", "restricted", "notice", "permitted", "not_covered", INVALID)
TYPE_COLUMNS = ("project_type", "项目类型")
RESULT_FORMATS = {
    "gpkg": ("application/geopackage+sqlite3", ".gpkg"),
    "geojson": ("application/geo+json", ".geojson"),
    "csv": ("text/csv; charset=utf-8", ".csv"),
}
RESULT_LAYER = "screening"
_SITE_TYPE_IDS = (0, 1, 3, 4, 5, 6)  # Point, LineString, Polygon and their Multi- types
_TYPE_NAMES = {2: "LinearRing", 7: "GeometryCollection"}


class NoGeometry(InputError):
    code = "no_geometry"


class JobNotDone(InputError):
    code = "job_not_done"
    status = 409


def _reason(zh: str, en: str) -> str:
    return f"{zh} / {en}"


# --- input --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScreenSpec:
    """How to read one file's rows: picklable, so that Dask workers get it with each partition."""

    crs: str  # what the coordinates are: EPSG:…, GCJ02 or BD09
    extent: tuple[float, float, float, float] | None  # where projected sites may land (lon/lat)
    project_type: tuple[str, ...] | None  # the request's (None: every rule)
    type_column: str | None  # a per-row project_type column, overriding the request's where set


@dataclass
class ScreenInput:
    frame: Any  # GeoDataFrame as read, in the file's CRS, with a 0-based RangeIndex
    format: str
    spec: ScreenSpec
    crs_source: str  # "file" or "request"

    @property
    def total(self) -> int:
        return len(self.frame)


def extent_of(engine, margin_deg: float) -> tuple[float, float, float, float] | None:
    """The loaded jurisdictions' lon/lat bounds widened by the margin (as checks.plausible_extent)."""
    bounds = engine.index.loaded_bounds_lonlat
    if bounds is None:
        return None
    return (bounds[0] - margin_deg, bounds[1] - margin_deg, bounds[2] + margin_deg, bounds[3] + margin_deg)


def _resolve_crs(file_crs: str | None, crs_implied: bool, crs: str | None, format: str,
                 sample_xy: np.ndarray) -> tuple[InputCRS, str]:
    given = parse_crs(crs) if crs else None
    in_file = None
    if file_crs is not None:
        try:
            in_file = parse_crs(file_crs)
        except UnknownCRS:
            if given is None:
                raise MissingCRS(
                    f"文件的坐标系（{file_crs}）不是 EPSG 坐标系，无法确定；"
                    "请给出 crs（上传时的表单字段 crs，命令行 --crs），如 EPSG:4545。",
                    f"The file's CRS ({file_crs}) is not an EPSG one; "
                    "give crs (the upload's crs field, --crs on the command line), e.g. EPSG:4545.",
                    field="crs", where="crs", file_crs=file_crs,
                ) from None
    if in_file is None:
        if given is None:
            likely = _likely_crs(sample_xy)
            suggest = likely or "EPSG:4326"
            raise MissingCRS(
                f"文件没有坐标参考系信息，请给出 crs（上传时的表单字段 crs，命令行 --crs），例如 {suggest}"
                f"{'（按坐标数值判断最可能）' if likely else ''}；经纬度用 EPSG:4326 或 EPSG:4490，"
                "高斯-克吕格米制坐标用 EPSG:4544/4545/4546，高德/百度坐标用 GCJ02/BD09。",
                "The file carries no CRS: give crs (the upload's crs field, --crs on the command line), "
                f"e.g. {suggest}"
                f"{' (what the coordinates suggest)' if likely else ''}; lon/lat is EPSG:4326 or EPSG:4490, "
                "Gauss-Kruger metres EPSG:4544/4545/4546, Gaode/Baidu clicks GCJ02/BD09.",
                field="crs", where="crs", likely_crs=likely, format=format,
            )
        return given, "request"
    if given is None:
        return in_file, "file"
    if given.crs is None:  # GCJ02/BD09: lon/lat read off a Gaode/Baidu basemap
        if in_file.is_geographic:
            return given, "request"
    elif crs_implied or given.crs.equals(in_file.crs):
        return given, "request" if crs_implied and not given.crs.equals(in_file.crs) else "file"
    raise CRSConflict(
        f"文件声明的坐标系为 {file_crs}，与请求的 crs={given.label} 不同。以文件为准时请不要传 crs。",
        f"The file declares {file_crs}, but crs={given.label} was sent. Omit crs to use the file's.",
        field="crs", where="crs", file_crs=file_crs, crs=given.label,
    )


def _likely_crs(xy: np.ndarray) -> str | None:
    """Which common CRS the numbers look like (for the missing-CRS message only)."""
    if not len(xy):
        return None
    x, y = xy[:, 0], xy[:, 1]
    if np.all((x >= 72) & (x <= 138) & (y >= 0) & (y <= 56)):
        return "EPSG:4326"
    for label, (lo, hi) in (("EPSG:4545", (106.5, 109.5)), ("EPSG:4544", (103.5, 106.5)), ("EPSG:4546", (109.5, 112.5))):
        with np.errstate(all="ignore"):
            lon, lat = _to_wgs84(parse_crs(label).crs).transform(x, y, errcheck=False)
        lon, lat = np.asarray(lon), np.asarray(lat)
        if np.all(np.isfinite(lon)) and np.median(lon) >= lo and np.median(lon) < hi and np.all((lat > 20) & (lat < 40)):
            return label
    return None


def open_input(path: Path, filename: str, engine, settings: Settings, *, crs: str | None = None,
               project_type: str | list[str] | None = None, table: str | None = None) -> ScreenInput:
    """Read a site file and decide how to screen it, refusing (InputError, 4xx) what cannot be:
    unreadable, a raster, no rows or no geometry, no CRS, an unknown project type, or
    coordinates that are nowhere near the loaded jurisdictions in the CRS they were read in."""
    from ecozone.layers.formats import RasterUpload, read_upload

    upload = read_upload(Path(path), filename, table=table)
    if isinstance(upload, RasterUpload):
        upload.cog_path.unlink(missing_ok=True)
        raise UnsupportedFormat(
            f"{filename} 是栅格文件；批量筛查需要矢量选址（CSV 经纬度或 WKT、GeoJSON、GeoPackage、Shapefile 压缩包、KML）。",
            f"{filename} is a raster; batch screening takes vector sites (CSV lon/lat or WKT, GeoJSON, GeoPackage, "
            "zipped Shapefile, KML).",
            field="file", where="file", filename=filename,
        )
    frame = upload.frame.reset_index(drop=True)
    if len(frame) == 0:
        raise EmptyLayer(f"{filename} 中没有要素。", f"{filename} holds no features.", field="file", where="file")
    if len(frame) > settings.max_batch_features:
        raise TooManyFeatures(
            f"{filename} 含 {len(frame)} 个要素，超过批量筛查上限 {settings.max_batch_features}"
            "（设置 ECOZONE_MAX_BATCH_FEATURES），请分批提交。",
            f"{filename} holds {len(frame)} features, over the batch limit of {settings.max_batch_features} "
            "(setting ECOZONE_MAX_BATCH_FEATURES); split it.",
            field="file", where="file", features=len(frame), limit=settings.max_batch_features,
        )
    geoms = np.asarray(frame.geometry.array, dtype=object)
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not present.any():
        raise NoGeometry(
            f"{filename} 的 {len(frame)} 个要素都没有几何（坐标列为空或几何为 null）。",
            f"None of the {len(frame)} features in {filename} has a geometry (empty coordinates or null geometries).",
            field="file", where="file", features=len(frame),
        )
    sample = np.flatnonzero(present)
    sample = sample[np.linspace(0, sample.size - 1, min(sample.size, 2000)).astype(int)]
    incrs, source = _resolve_crs(upload.file_crs, upload.crs_implied, crs, upload.format,
                                 shapely.get_coordinates(geoms[sample[:200]]))
    types = engine.resolve_project_types(split_type_names(project_type) or None)
    type_column = next((c for c in frame.columns if str(c).strip().casefold() in TYPE_COLUMNS
                        and c != frame.geometry.name), None)
    spec = ScreenSpec(incrs.label, extent_of(engine, settings.plausible_margin_deg), types, type_column)
    # The CRS must make sense for the file as a whole: when no sampled site converts to a
    # usable place, it is the CRS that is wrong, not every row — refuse now, naming the fix.
    prep = prepare(geoms[sample], spec)
    if not prep.ok.any():
        first = prep.reason[np.flatnonzero(prep.reason != "")[0]]
        likely = _likely_crs(shapely.get_coordinates(geoms[sample[:200]]))
        likely = likely if likely != incrs.label else None
        raise ImplausibleCoordinates(
            f"按 {incrs.label} 读取，{filename} 中的选址都不可用（首个原因：{first}）。请检查 crs 是否与坐标一致"
            f"{f'，这些数值看起来是 {likely}' if likely else ''}。",
            f"Read as {incrs.label}, none of the sites in {filename} is usable (first reason: {first}). "
            f"Check that crs matches the coordinates{f'; the numbers look like {likely}' if likely else ''}.",
            field="crs", where="crs", crs=incrs.label, likely_crs=likely,
        )
    return ScreenInput(frame, upload.format, spec, source)


# --- one chunk of rows --------------------------------------------------------------------
@dataclass
class Prepared:
    lonlat: np.ndarray  # WGS84 geometry per row (None where it could not be converted)
    metric: np.ndarray  # EPSG:4545 geometry per usable row (None elsewhere)
    ok: np.ndarray  # bool: the row can be evaluated
    reason: np.ndarray  # str per row ("" when ok)


def _lonlat_coords(x: np.ndarray, y: np.ndarray, incrs: InputCRS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coordinates → WGS84, as layers.crs.to_wgs84 converts one site, on whole arrays; also
    which coordinates are out of range for the CRS (the reasons single checks refuse them)."""
    out = np.zeros(x.size, dtype=bool)
    if incrs.is_geographic:
        out = (np.abs(x) > 180) | (np.abs(y) > 90)
    if incrs.label == BD09:
        lon, lat = gcj02_to_wgs84(*bd09_to_gcj02(x, y))
    elif incrs.label == GCJ02:
        lon, lat = gcj02_to_wgs84(x, y)
    else:
        with np.errstate(all="ignore"):
            lon, lat = _to_wgs84(incrs.crs).transform(x, y, errcheck=False)
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    out |= ~np.isfinite(lon) | ~np.isfinite(lat)
    area = incrs.crs.area_of_use if incrs.crs is not None and incrs.crs.is_projected else None
    if area is not None:
        out |= (lon < area.west - _AREA_SLACK_DEG) | (lon > area.east + _AREA_SLACK_DEG)
        out |= (lat < area.south - _AREA_SLACK_DEG) | (lat > area.north + _AREA_SLACK_DEG)
    return lon, lat, out


def prepare(geoms: np.ndarray, spec: ScreenSpec) -> Prepared:
    """Rows' geometries (file CRS) → WGS84 and metric geometries, with array operations only.
    A row a single check would refuse gets a reason instead (the vertex and extent limits of
    single checks do not apply: large sites are what batch screening is for)."""
    incrs = parse_crs(spec.crs)
    geoms = np.asarray(geoms, dtype=object)
    n = geoms.size
    reason = np.full(n, "", dtype=object)
    lonlat = np.full(n, None, dtype=object)
    metric = np.full(n, None, dtype=object)
    ok = np.zeros(n, dtype=bool)

    rows = np.flatnonzero(~shapely.is_missing(geoms))
    reason[shapely.is_missing(geoms)] = _reason("无几何", "no geometry")
    g = geoms[rows]
    empty = shapely.is_empty(g)
    reason[rows[empty]] = _reason("几何为空", "empty geometry")
    rows, g = rows[~empty], g[~empty]
    type_id = shapely.get_type_id(g)
    bad = ~np.isin(type_id, _SITE_TYPE_IDS)
    for i in np.flatnonzero(bad):
        name = _TYPE_NAMES.get(int(type_id[i]), str(type_id[i]))
        reason[rows[i]] = _reason(f"不支持的几何类型 {name}", f"unsupported geometry type {name}")
    rows, g = rows[~bad], shapely.force_2d(g[~bad])

    coords, owner = shapely.get_coordinates(g, return_index=True)
    nonfinite = np.zeros(g.size, dtype=bool)
    nonfinite[owner[~np.isfinite(coords).all(axis=1)]] = True
    reason[rows[nonfinite]] = _reason("坐标须为有限数值", "coordinates must be finite numbers")
    valid = np.ones(g.size, dtype=bool)
    check = np.flatnonzero(~nonfinite)
    valid[check] = shapely.is_valid(g[check])
    invalid = np.flatnonzero(~valid)
    if invalid.size:
        why = shapely.is_valid_reason(g[invalid])
        reason[rows[invalid]] = [_reason(f"几何无效：{w}", f"invalid geometry: {w}") for w in why]
    keep = ~nonfinite & valid
    rows, g = rows[keep], g[keep]
    coords = coords[keep[owner]]
    owner = np.cumsum(keep)[owner[keep[owner]]] - 1  # renumbered to the kept geometries

    lon, lat, out = _lonlat_coords(coords[:, 0], coords[:, 1], incrs)
    if g.size:
        converted = shapely.set_coordinates(g.copy(), np.column_stack([np.nan_to_num(lon), np.nan_to_num(lat)]))
    else:
        converted = g
    out_of_range = np.bincount(owner[out], minlength=g.size) > 0
    where = (f"{incrs.label} 的适用范围", f"the range of {incrs.label}")
    reason[rows[out_of_range]] = _reason(f"坐标超出{where[0]}", f"coordinates outside {where[1]}")
    implausible = np.zeros(g.size, dtype=bool)
    if spec.extent is not None and incrs.crs is not None and incrs.crs.is_projected:
        w, s, e, nn = spec.extent
        outside = ~((lon >= w) & (lon <= e) & (lat >= s) & (lat <= nn))
        implausible = (np.bincount(owner[outside], minlength=g.size) > 0) & ~out_of_range
        reason[rows[implausible]] = _reason(
            f"按 {incrs.label} 转换后远离已载入的辖区，请检查 crs",
            f"read as {incrs.label} it lands far from the loaded jurisdictions; check crs",
        )
    lonlat[rows[~out_of_range]] = converted[~out_of_range]
    good = ~out_of_range & ~implausible
    rows = rows[good]
    ok[rows] = True
    if rows.size:
        metric[rows] = to_metric(converted[good])
    return Prepared(lonlat, metric, ok, reason)


def _row_types(engine, values, default: tuple[str, ...] | None) -> tuple[np.ndarray, list, np.ndarray]:
    """A per-row project_type column → (group per row, the groups' type tuples, reason per row).
    Empty cells take the request's type; an unknown name makes the row invalid (group -1)."""
    import pandas as pd

    if values is None:
        return None, [default], None
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).map(lambda v: None if v is None or (
        isinstance(v, float) and np.isnan(v)) else str(v).strip() or None), use_na_sentinel=True)
    groups: list = [default]
    group_of_unique = np.zeros(len(uniques), dtype=int)
    unique_reason = np.full(len(uniques), "", dtype=object)
    for u, text in enumerate(uniques):
        try:
            names = split_type_names(text) or None
            types = engine.resolve_project_types(names) if names else default
        except InputError:
            group_of_unique[u] = -1
            unique_reason[u] = _reason(f"未知的项目类型：{text}", f"unknown project type {text!r}")
            continue
        if types not in groups:
            groups.append(types)
        group_of_unique[u] = groups.index(types)
    group = np.where(codes >= 0, group_of_unique[np.maximum(codes, 0)] if len(uniques) else 0, 0)
    reason = np.where(codes >= 0, unique_reason[np.maximum(codes, 0)] if len(uniques) else "", "").astype(object)
    return group, groups, reason


@dataclass
class ChunkResult:
    verdict: np.ndarray  # str
    rule_ids: np.ndarray  # str, comma-separated, strictest first
    min_distance_m: np.ndarray  # float, NaN when no rule binds
    covered_ratio: np.ndarray  # float, NaN for invalid rows
    reason: np.ndarray  # str, "" for evaluated rows

    def save(self, path: Path) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp.npz")
        np.savez(tmp, verdict=self.verdict.astype(str), rule_ids=self.rule_ids.astype(str),
                 min_distance_m=self.min_distance_m, covered_ratio=self.covered_ratio, reason=self.reason.astype(str))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, n: int) -> "ChunkResult | None":
        try:
            with np.load(path, allow_pickle=False) as z:
                out = cls(*(z[k].astype(object) if z[k].dtype.kind == "U" else z[k] for k in
                            ("verdict", "rule_ids", "min_distance_m", "covered_ratio", "reason")))
        except Exception as e:  # torn or foreign: evaluate the chunk again
            log.warning("ignoring unreadable chunk checkpoint %s (%s)", path, e)
            return None
        return out if out.verdict.size == n else None

    @classmethod
    def concat(cls, parts: list["ChunkResult"]) -> "ChunkResult":
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) if parts else np.empty(0) for k in
                     ("verdict", "rule_ids", "min_distance_m", "covered_ratio", "reason")))


def evaluate_prepared(engine, prep: Prepared, type_values, spec: ScreenSpec, threads: int = 1) -> ChunkResult:
    """Evaluate a prepared chunk: its usable rows grouped by project type, one evaluate_many
    call per group (never a loop of single checks), on up to ``threads`` threads."""
    n = prep.ok.size
    verdict = np.full(n, INVALID, dtype=object)
    rule_ids = np.full(n, "", dtype=object)
    min_dist = np.full(n, np.nan)
    covered = np.full(n, np.nan)
    reason = prep.reason.copy()
    group, groups, type_reason = _row_types(engine, type_values, spec.project_type)
    if group is None:
        group = np.zeros(n, dtype=int)
    else:
        bad_type = (group < 0) & prep.ok
        reason[bad_type] = type_reason[bad_type]
    for g in range(len(groups)):
        rows = np.flatnonzero(prep.ok & (group == g))
        if not rows.size:
            continue
        r = evaluate_many(engine, prep.metric[rows], groups[g], threads=threads)
        verdict[rows] = r.verdict
        rule_ids[rows] = r.rule_ids_joined
        min_dist[rows] = r.min_distance_m
        covered[rows] = r.covered_ratio
    return ChunkResult(verdict, rule_ids, min_dist, covered, reason)


def _type_values(part, spec: ScreenSpec):
    return None if spec.type_column is None else part[spec.type_column].to_numpy(dtype=object)


def result_frame(part, lonlat: np.ndarray, res: ChunkResult, first_site_id: int | None = None):
    """The output rows: site_id (1-based row number), the input attributes as read, the answer,
    geometry in WGS84. An input column named like an output one is kept as input_<name>."""
    import geopandas as gpd
    import pandas as pd

    attrs = pd.DataFrame(part.drop(columns=part.geometry.name))
    attrs = attrs.rename(columns={c: f"input_{c}" for c in attrs.columns if c in RESULT_COLUMNS})
    site_id = (np.arange(len(part)) + first_site_id) if first_site_id is not None else part.index.to_numpy() + 1
    out = pd.concat([
        pd.DataFrame({"site_id": site_id.astype(np.int64)}, index=part.index), attrs,
        pd.DataFrame({
            "verdict": res.verdict, "rule_ids": res.rule_ids,
            "min_distance_m": res.min_distance_m.astype(float), "covered_ratio": res.covered_ratio.astype(float),
            "reason": res.reason,
        }, index=part.index),
    ], axis=1)
    return gpd.GeoDataFrame(out, geometry=gpd.GeoSeries(lonlat, index=part.index, crs="EPSG:4326"), crs="EPSG:4326")


def screen_part(part, engine, spec: ScreenSpec):
    """One partition's output rows (the function Dask maps over partitions; the in-process
    runner does the same per chunk, with checkpoints)."""
    if not hasattr(engine.index, "catalog"):  # a pickled ZoneIndex leaves its catalog out
        engine.index.catalog = engine.catalog
    prep = prepare(np.asarray(part.geometry.array, dtype=object), spec)
    res = evaluate_prepared(engine, prep, _type_values(part, spec), spec)
    return result_frame(part, prep.lonlat, res)


def run_chunks(engine, inp: ScreenInput, chunk_size: int, on_chunk: Callable[[int], None] | None = None,
               checkpoints: Path | None = None, threads: int = 1):
    """Screen the whole input chunk by chunk; `on_chunk(done_rows)` after each. With
    `checkpoints`, each chunk's answers are saved there and a rerun reuses them (a resumed job
    recomputes only the geometry conversion of finished chunks, never their evaluation).
    ``threads``: for evaluate_many (the service's job runner keeps 1: its cores also answer
    interactive checks; `ecozone screen` takes them all)."""
    frame, spec = inp.frame, inp.spec
    n = len(frame)
    lonlat_parts, results = [], []
    for k, start in enumerate(range(0, n, chunk_size)):
        part = frame.iloc[start:start + chunk_size]
        prep = prepare(np.asarray(part.geometry.array, dtype=object), spec)
        path = checkpoints / f"chunk-{k:05d}.npz" if checkpoints is not None else None
        res = ChunkResult.load(path, len(part)) if path is not None and path.exists() else None
        if res is None:
            res = evaluate_prepared(engine, prep, _type_values(part, spec), spec, threads)
            if path is not None:
                res.save(path)
        lonlat_parts.append(prep.lonlat)
        results.append(res)
        if on_chunk is not None:
            on_chunk(min(start + chunk_size, n))
    lonlat = np.concatenate(lonlat_parts) if lonlat_parts else np.empty(0, dtype=object)
    return result_frame(frame, lonlat, ChunkResult.concat(results))


def summary(out) -> dict[str, int]:
    counts = out["verdict"].value_counts()
    return {v: int(counts.get(v, 0)) for v in VERDICTS if counts.get(v, 0)}


# --- writing results ----------------------------------------------------------------------
def write_result(out, path: Path, fmt: str) -> None:
    """Write output rows as gpkg, geojson or csv, atomically (temporary name, then os.replace)."""
    import pyogrio

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp{path.suffix}")
    try:
        # Through Arrow when pyarrow is there (the dask extra brings it): 1 M rows write in a
        # third of the time; the file is the same.
        arrow = _has_pyarrow()
        if fmt == "gpkg":
            pyogrio.write_dataframe(out, tmp, driver="GPKG", layer=RESULT_LAYER, use_arrow=arrow)
        elif fmt == "geojson":
            pyogrio.write_dataframe(out, tmp, driver="GeoJSON", layer=RESULT_LAYER, layer_options={"RFC7946": "YES"},
                                    use_arrow=arrow)
        elif fmt == "csv":
            _write_csv(out, tmp)
        else:
            raise ValueError(fmt)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _has_pyarrow() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def _write_csv(out, path: Path) -> None:
    """CSV for Excel and for uploading again: UTF-8 with BOM; points as lon/lat columns (WGS84),
    other geometries as WKT."""
    import pandas as pd

    geom = np.asarray(out.geometry.array, dtype=object)
    table = pd.DataFrame(out.drop(columns=out.geometry.name))
    present = ~shapely.is_missing(geom)
    points = bool(np.all(shapely.get_type_id(geom[present]) == 0))
    if points and "lon" not in table.columns and "lat" not in table.columns:
        xy = np.full((geom.size, 2), np.nan)
        xy[present] = shapely.get_coordinates(geom[present])
        table["lon"], table["lat"] = xy[:, 0], xy[:, 1]
    else:
        name = next(c for c in ("wkt", "geometry_wkt", "result_wkt") if c not in table.columns)
        table[name] = shapely.to_wkt(geom, rounding_precision=9, trim=True)
    table.to_csv(path, index=False, encoding="utf-8-sig")


def read_result(path: Path):
    import pyogrio

    return pyogrio.read_dataframe(path, layer=RESULT_LAYER, use_arrow=_has_pyarrow())


# --- the job store ------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    progress REAL NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    done INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat REAL,
    runner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL,
    input_path TEXT NOT NULL,
    data_version TEXT,
    error TEXT,
    result_path TEXT,
    summary TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, seq);
"""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _error(code: str, zh: str, en: str, **detail) -> dict:
    return {"code": code, "message": {"zh": zh, "en": en}, "detail": detail}


def data_changed_error(started: str | None, current: str) -> dict:
    return _error("data_changed", "作业开始后数据已更新；请重新提交", "data changed since the job started; submit it again",
                  job_data_version=started, current_data_version=current)


class JobStore:
    """jobs.sqlite: one row per job. Every call opens its own connection (threads and worker
    processes share the file; WAL lets readers run beside the one writer)."""

    def __init__(self, data_dir: str | os.PathLike):
        self.data_dir = Path(data_dir).expanduser()
        self.path = self.data_dir / "jobs.sqlite"
        self.root = self.data_dir / "jobs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.wake = threading.Event()  # set on submit: this process's runner looks at once
        # Workers starting together all set up the new file. Switching it to WAL can fail with
        # "database is locked" at once, without waiting out busy_timeout, while another process
        # does the same; the set-up is idempotent, so it is simply tried again.
        deadline = time.monotonic() + 30
        while True:
            try:
                with self._db() as db:
                    db.execute("PRAGMA journal_mode=WAL")
                    db.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=NORMAL")
        return _Closing(db)

    def job_dir(self, job_id: str) -> Path:
        return self.root / job_id

    def new_id(self) -> str:
        return uuid.uuid4().hex

    def create(self, job_id: str, params: dict, input_path: Path, total: int) -> dict:
        with self._db() as db:
            db.execute("INSERT INTO jobs (id, status, total, created_at, params, input_path) VALUES (?, 'queued', ?, ?, ?, ?)",
                       (job_id, total, _now(), json.dumps(params, ensure_ascii=False), str(input_path)))
        job = self.get(job_id)  # as accepted: queued (a runner may take it the next moment)
        self.wake.set()
        return job

    def get(self, job_id: str) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row is not None else None

    def claim_next(self, runner: str) -> dict | None:
        """Take the oldest queued job: one atomic UPDATE … WHERE status='queued', so of several
        runners (threads or worker processes) exactly one gets it."""
        with self._db() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM jobs WHERE status = 'queued' ORDER BY seq LIMIT 8")]
            for job_id in ids:
                cur = db.execute(
                    "UPDATE jobs SET status = 'running', runner = ?, heartbeat = ?, attempts = attempts + 1, "
                    "started_at = COALESCE(started_at, ?) WHERE id = ? AND status = 'queued'",
                    (runner, time.time(), _now(), job_id))
                if cur.rowcount == 1:
                    return dict(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())
        return None

    def _update(self, job_id: str, runner: str | None, sets: str, args: tuple) -> bool:
        where = "id = ? AND status = 'running'" + (" AND runner = ?" if runner is not None else "")
        with self._db() as db:
            cur = db.execute(f"UPDATE jobs SET {sets} WHERE {where}", (*args, job_id, *((runner,) if runner else ())))
            return cur.rowcount == 1

    def set_data_version(self, job_id: str, runner: str, version: str) -> bool:
        return self._update(job_id, runner, "data_version = ?, heartbeat = ?", (version, time.time()))

    def beat(self, job_id: str, runner: str) -> bool:
        """False when the job is no longer this runner's (taken back as stale): stop working on it."""
        return self._update(job_id, runner, "heartbeat = ?", (time.time(),))

    def progress(self, job_id: str, runner: str, done: int, total: int) -> bool:
        return self._update(job_id, runner, "done = ?, progress = ?, heartbeat = ?",
                            (done, done / total if total else 1.0, time.time()))

    def finish(self, job_id: str, runner: str, result_path: Path, counts: dict, total: int) -> bool:
        return self._update(
            job_id, runner, "status = 'done', done = ?, total = ?, progress = 1, finished_at = ?, result_path = ?, "
            "summary = ?, heartbeat = NULL", (total, total, _now(), str(result_path), json.dumps(counts)))

    def fail(self, job_id: str, runner: str | None, error: dict) -> bool:
        return self._update(job_id, runner, "status = 'failed', finished_at = ?, error = ?, heartbeat = NULL",
                            (_now(), json.dumps(error, ensure_ascii=False)))

    def release(self, job_id: str, runner: str) -> bool:
        """Put a job this runner was working on back in the queue (a graceful shutdown)."""
        return self._update(job_id, runner, "status = 'queued', runner = NULL, heartbeat = NULL", ())

    def recover(self, current_version: str, stale_s: float) -> tuple[list[str], list[str]]:
        """Jobs left `running` by a runner that is gone (no heartbeat for stale_s, or its process
        no longer exists on this host): back to the queue when the data version they started
        on is still current (or they had not started evaluating), else failed, saying why."""
        now = time.time()
        requeued, failed = [], []
        with self._db() as db:
            rows = db.execute("SELECT id, runner, heartbeat, data_version FROM jobs WHERE status = 'running'").fetchall()
        for row in rows:
            if not (row["heartbeat"] is None or now - row["heartbeat"] > stale_s or not _runner_alive(row["runner"])):
                continue
            with self._db() as db:
                if row["data_version"] is None or row["data_version"] == current_version:
                    cur = db.execute("UPDATE jobs SET status = 'queued', runner = NULL, heartbeat = NULL "
                                     "WHERE id = ? AND status = 'running' AND runner IS ?", (row["id"], row["runner"]))
                    (requeued if cur.rowcount else []).append(row["id"])
                else:
                    err = json.dumps(data_changed_error(row["data_version"], current_version), ensure_ascii=False)
                    cur = db.execute("UPDATE jobs SET status = 'failed', finished_at = ?, error = ?, heartbeat = NULL "
                                     "WHERE id = ? AND status = 'running' AND runner IS ?",
                                     (_now(), err, row["id"], row["runner"]))
                    (failed if cur.rowcount else []).append(row["id"])
        for job_id in requeued:
            log.warning("job %s was left running by a runner that is gone; queued again", job_id)
        for job_id in failed:
            log.warning("job %s was left running by a runner that is gone and the data changed since; failed", job_id)
        if requeued:
            self.wake.set()
        return requeued, failed


class _Closing:
    """A connection that closes on leaving `with` (sqlite3's own context manager only commits)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()


_HOST = socket.gethostname()


def runner_name() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _runner_alive(runner: str | None) -> bool:
    """Whether a runner may still be working: its process exists, when it ran on this host
    (elsewhere only its heartbeat tells)."""
    if not runner:
        return False
    parts = runner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _HOST:
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


_stores: dict[Path, JobStore] = {}
_stores_lock = threading.Lock()


def job_store(settings: Settings) -> JobStore:
    """The process's JobStore for the settings' data directory (shared by routes and runner)."""
    key = Path(settings.data_dir).expanduser().resolve()
    with _stores_lock:
        if key not in _stores:
            _stores[key] = JobStore(key)
        return _stores[key]


def public(job: dict) -> dict:
    """A job as GET /v1/jobs/{id} shows it."""
    params = json.loads(job["params"])
    out = {
        "job_id": job["id"], "status": job["status"], "progress": round(float(job["progress"]), 6),
        "total": job["total"], "done": job["done"], "data_version": job["data_version"],
        "error": json.loads(job["error"]) if job["error"] else None,
        "created_at": job["created_at"], "started_at": job["started_at"], "finished_at": job["finished_at"],
        "attempts": job["attempts"],
        "params": {k: params.get(k) for k in ("filename", "format", "project_type", "crs", "crs_source", "type_column")},
        "summary": json.loads(job["summary"]) if job["summary"] else None,
        "links": links(job["id"]),
    }
    return out


def links(job_id: str) -> dict:
    base = f"/v1/jobs/{job_id}"
    return {"self": base, **{f"result_{f}": f"{base}/result?format={f}" for f in RESULT_FORMATS}}


# --- submitting ---------------------------------------------------------------------------
def submit(store: JobStore, service, settings: Settings, upload_path: Path, filename: str, *,
           project_type: str | None, crs: str | None, table: str | None = None) -> dict:
    """Validate an uploaded site file (moved into the job's directory) and queue it; an
    InputError leaves nothing behind."""
    import shutil

    job_id = store.new_id()
    folder = store.job_dir(job_id)
    folder.mkdir(parents=True)
    try:
        suffix = Path(filename).suffix.lower()[:16] if Path(filename).suffix else ""
        input_path = folder / f"input{suffix}"
        shutil.move(str(upload_path), input_path)
        engine = service.snapshot.engine
        inp = open_input(input_path, filename, engine, settings, crs=crs, project_type=project_type, table=table)
        params = {
            "filename": filename, "format": inp.format, "project_type": list(inp.spec.project_type or []) or None,
            "request_project_type": project_type, "crs": inp.spec.crs, "request_crs": crs,
            "crs_source": inp.crs_source, "table": table, "type_column": inp.spec.type_column,
            "chunk_size": settings.batch_chunk_size,
        }
        return store.create(job_id, params, input_path, inp.total)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def get_job(store: JobStore, job_id: str) -> dict:
    job = store.get(job_id) if len(job_id) <= 64 else None
    if job is None:
        raise NotFound(f"没有作业 {job_id}", f"No job {job_id!r}", where="job_id", job_id=job_id)
    return job


_convert_locks: dict[str, threading.Lock] = {}
_convert_guard = threading.Lock()


def result_file(store: JobStore, job_id: str, fmt: str) -> tuple[Path, str, str]:
    """A done job's result in `fmt`: (path, media type, download filename). The GeoPackage is
    written once by the runner; CSV and GeoJSON are converted from it on first request and kept."""
    job = get_job(store, job_id)
    if job["status"] != "done":
        error = json.loads(job["error"]) if job["error"] else None
        raise JobNotDone(
            f"作业 {job_id} 尚未完成（状态：{job['status']}），暂无结果。" if job["status"] != "failed"
            else f"作业 {job_id} 已失败，没有结果。",
            f"Job {job_id} has no result: it is {job['status']}.",
            where="job_id", job_id=job_id, status=job["status"], progress=job["progress"], error=error,
        )
    media, ext = RESULT_FORMATS[fmt]
    gpkg = Path(job["result_path"])
    name = f"screening-{job_id[:12]}{ext}"
    if fmt == "gpkg":
        return gpkg, media, name
    path = gpkg.with_name(f"result{ext}")
    if not path.exists():
        with _convert_guard:
            lock = _convert_locks.setdefault(f"{job_id}:{fmt}", threading.Lock())
        with lock:
            if not path.exists():
                write_result(read_result(gpkg), path, fmt)
    return path, media, name


# --- the runner ---------------------------------------------------------------------------
class _Interrupted(Exception):
    pass


class JobRunner:
    """A thread that runs queued jobs one at a time on the service's snapshot of the moment."""

    def __init__(self, service, settings: Settings, store: JobStore | None = None):
        self.service = service
        self.settings = settings
        self.store = store or job_store(settings)
        self.name = runner_name()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Test hook: called as on_chunk(job_id, done) after each chunk's progress is recorded.
        self.on_chunk: Callable[[str, int], None] | None = None
        self.poll_s = 1.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="ecozone-job-runner", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.store.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _recover(self) -> None:
        try:
            self.store.recover(self.service.snapshot.data_version, self.settings.job_stale_s)
        except Exception:
            log.exception("could not look for abandoned jobs")

    def _loop(self) -> None:
        self._recover()
        next_recover = time.monotonic() + self.settings.job_heartbeat_s
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_recover:
                    self._recover()
                    next_recover = time.monotonic() + self.settings.job_heartbeat_s
                job = self.store.claim_next(self.name)
            except Exception:
                log.exception("job queue unavailable")
                job = None
            if job is None:
                self.store.wake.wait(self.poll_s)
                self.store.wake.clear()
                continue
            self.run(job)

    def run(self, job: dict) -> None:
        job_id = job["id"]
        snapshot = self.service.snapshot  # held for the whole job: a publish mid-job changes nothing here
        if job["data_version"] is not None and job["data_version"] != snapshot.data_version:
            self.store.fail(job_id, self.name, data_changed_error(job["data_version"], snapshot.data_version))
            return
        self.store.set_data_version(job_id, self.name, snapshot.data_version)
        lost = threading.Event()
        beating = threading.Event()

        def beat() -> None:
            while not beating.wait(self.settings.job_heartbeat_s):
                try:
                    if not self.store.beat(job_id, self.name):
                        lost.set()
                        return
                except Exception:
                    log.exception("heartbeat failed for job %s", job_id)

        heart = threading.Thread(target=beat, name=f"ecozone-job-heartbeat-{job_id[:8]}", daemon=True)
        heart.start()
        try:
            self._execute(job, snapshot, lost)
        except _Interrupted:
            if self._stop.is_set() and not lost.is_set():
                self.store.release(job_id, self.name)
                log.info("job %s put back in the queue at shutdown", job_id)
        except InputError as e:
            self.store.fail(job_id, self.name, _error(e.code, e.zh, e.en, **e.detail))
        except Exception as e:
            log.exception("job %s failed", job_id)
            self.store.fail(job_id, self.name, _error("internal_error", "作业意外失败", "The job failed unexpectedly",
                                                       reason=f"{type(e).__name__}: {e}"))
        finally:
            beating.set()
            heart.join(timeout=5)

    def _execute(self, job: dict, snapshot, lost: threading.Event) -> None:
        job_id = job["id"]
        params = json.loads(job["params"])
        engine = snapshot.engine
        inp = open_input(Path(job["input_path"]), params["filename"], engine, self.settings,
                         crs=params.get("request_crs"), project_type=params.get("request_project_type"),
                         table=params.get("table"))
        total = inp.total
        folder = self.store.job_dir(job_id)

        def on_chunk(done: int) -> None:
            if not self.store.progress(job_id, self.name, done, total):
                lost.set()
            if self.on_chunk is not None:
                self.on_chunk(job_id, done)
            if self._stop.is_set() or lost.is_set():
                raise _Interrupted

        out = run_chunks(engine, inp, int(params.get("chunk_size") or self.settings.batch_chunk_size), on_chunk,
                         checkpoints=folder)
        if lost.is_set():
            raise _Interrupted
        result = folder / "result.gpkg"
        write_result(out, result, "gpkg")
        if self.store.finish(job_id, self.name, result, summary(out), total):
            for ck in folder.glob("chunk-*.npz"):
                ck.unlink(missing_ok=True)
