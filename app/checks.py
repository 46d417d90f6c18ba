"""One siting check, as the API and the CLI both answer it (no web framework imported here,
so the CLI starts fast)."""

from __future__ import annotations

import difflib
import weakref
from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ecozone.layers.crs import check_plausible, parse_crs, to_wgs84
from ecozone.layers.errors import GeometryTooLarge, InputError
from ecozone.layers.geojson import parse_site_geometry
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.terrain import terrain_at
from ecozone.views import evaluation_json
from ecozone.zoning.catalog import split_type_names
from ecozone.zoning.metric import to_metric


class SitingRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "geometry": {"type": "Point", "coordinates": [107.7655, 29.3311]},
                "crs": "EPSG:4326",
                "project_type": "heavy_chemical",
                "label": "拟选址A",
            }
        }
    )
    geometry: dict[str, Any] = Field(description="GeoJSON Point, LineString, Polygon or Multi- geometry")
    crs: str = Field("EPSG:4326", description="EPSG:4326, EPSG:4490, EPSG:4544/4545/4546, any EPSG code, GCJ02 or BD09")
    project_type: str | list[str] | None = Field(
        None,
        description="A code or Chinese name from GET /v1/project-types, or a list of them for a project with "
        "several characteristics (a rule binds when it binds any); omit for every rule",
    )
    label: str | None = Field(None, max_length=200)

    @model_validator(mode="before")
    @classmethod
    def _no_unknown_fields(cls, data: Any) -> Any:
        # A misspelt field (`project-type`) must not silently give the all-rules answer.
        if isinstance(data, dict):
            unknown = [k for k in data if k not in cls.model_fields]
            if unknown:
                field = str(unknown[0])
                close = difflib.get_close_matches(field.replace("-", "_").lower(), list(cls.model_fields), n=1)
                raise PydanticCustomError(
                    "unknown_field", "unknown field {field}", {
                        "field": field, "did_you_mean": close[0] if close else None,
                        "allowed": list(cls.model_fields),
                    },
                )
        return data


def split_project_types(values: list[str] | None, where: str = "project_type") -> str | list[str] | None:
    """Repeated or separated type names (`-t a -t b,c`, `?project_type=a,b`) → ["a", "b", "c"];
    one stays a string; none → None (every rule). Given but empty is refused, not read as all."""
    out = split_type_names(values)
    if not out:
        if values:
            raise InputError(f"{where} 为空；省略即检查全部规则。", f"{where} is empty; omit it to report every rule.",
                             field="project_type", where=where)
        return None
    return out[0] if len(out) == 1 else out


def plausible_extent(service: Service, settings: Settings) -> tuple[float, float, float, float] | None:
    bounds = service.snapshot.engine.index.loaded_bounds_lonlat
    if bounds is None:
        return None
    m = settings.plausible_margin_deg
    return (bounds[0] - m, bounds[1] - m, bounds[2] + m, bounds[3] + m)


def site_in_lonlat(
    geometry: Any, crs: str, settings: Settings, extent: tuple[float, float, float, float] | None = None,
) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Parse, range-check, plausibility-check and size-check a site; returns (WGS84 lon/lat,
    metric) geometries. `extent`: where sites in a projected CRS may land (see check_plausible)."""
    geom = parse_site_geometry(geometry)
    n = int(shapely.get_num_coordinates(geom))
    if n > settings.max_site_vertices:
        raise GeometryTooLarge(
            f"几何顶点过多：{n}（上限 {settings.max_site_vertices}）。大批量请使用批量筛查。",
            f"Too many vertices: {n} (limit {settings.max_site_vertices}). Use batch screening for bulk input.",
            field="geometry", where="geometry.coordinates", vertices=n, limit=settings.max_site_vertices,
        )
    incrs = parse_crs(crs)
    lonlat = to_wgs84(geom, incrs)
    check_plausible(geom, lonlat, incrs, extent)
    metric = to_metric(lonlat)
    xmin, ymin, xmax, ymax = metric.bounds
    extent = max(xmax - xmin, ymax - ymin)
    if extent > settings.max_site_extent_m:
        raise GeometryTooLarge(
            f"几何范围过大：{extent / 1000:.1f} 公里（上限 {settings.max_site_extent_m / 1000:.0f} 公里）。",
            f"Geometry too large: spans {extent / 1000:.1f} km (limit {settings.max_site_extent_m / 1000:.0f} km).",
            field="geometry", where="geometry", extent_m=round(extent, 1), limit_m=settings.max_site_extent_m,
        )
    return lonlat, metric


class _PerSnapshot:
    """What a check needs from a snapshot beyond its engine, worked out once per snapshot (a
    snapshot never changes; a publish swaps in a new object)."""

    __slots__ = ("snapshot", "layer_versions", "warm")

    def __init__(self, snapshot) -> None:
        self.snapshot = weakref.ref(snapshot)  # weak: an old snapshot's zones are not kept alive
        self.layer_versions = {i.id: i.version for i in snapshot.layers + list(snapshot.rasters)}
        self.warm = False  # a check has run to the end on it (its DEMs are read and cached)


_CURRENT: _PerSnapshot | None = None


def _per_snapshot(snapshot) -> _PerSnapshot:
    global _CURRENT
    current = _CURRENT
    if current is None or current.snapshot() is not snapshot:
        current = _CURRENT = _PerSnapshot(snapshot)  # one assignment; a race only builds it twice
    return current


def layer_versions(snapshot) -> dict[str, int]:
    """``{layer id: version}`` of the snapshot's layers and rasters (shared: do not mutate)."""
    return _per_snapshot(snapshot).layer_versions


def warm_for(snapshot) -> bool:
    """Whether a check has already run on this snapshot in this process (so the next one does
    no I/O: its DEMs are in the terrain cache)."""
    return _per_snapshot(snapshot).warm


def run_check(service: Service, settings: Settings, req: SitingRequest, with_geometry: bool = False) -> dict:
    """One siting check on the current data version, as the API answers it (the CLI shares it).
    ``with_geometry``: each finding also carries its zone, deciding boundary, reference feature
    and nearest line (for maps)."""
    snapshot = service.snapshot
    types = snapshot.engine.resolve_project_types(req.project_type)
    lonlat, metric = site_in_lonlat(req.geometry, req.crs, settings, plausible_extent(service, settings))
    ev = snapshot.engine.evaluate_metric(metric, types)
    answer = evaluation_json(ev, lonlat, snapshot.data_version, req.label, parse_crs(req.crs).label,
                             *((snapshot.engine.index, metric) if with_geometry else ()))
    per_snapshot = _per_snapshot(snapshot)
    answer["layer_versions"] = dict(per_snapshot.layer_versions)
    terrain = terrain_at(service, snapshot, lonlat)
    if terrain is not None:  # elevation and slope where a DEM covers the site
        answer["terrain"] = terrain
    per_snapshot.warm = True
    return answer
