"""One siting check, as the API and the CLI both answer it (no web framework imported here,
so the CLI starts fast)."""

from __future__ import annotations

from typing import Any

import shapely
from pydantic import BaseModel, ConfigDict, Field

from ecozone.layers.crs import parse_crs, to_wgs84
from ecozone.layers.errors import GeometryTooLarge
from ecozone.layers.geojson import parse_site_geometry
from ecozone.service import Service
from ecozone.settings import Settings
from ecozone.views import evaluation_json
from ecozone.zoning.metric import to_metric


class SitingRequest(BaseModel):
    model_config = ConfigDict(
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
    crs: str = Field("EPSG:4326", description="EPSG:4326, EPSG:4490, EPSG:4544/4545/4546, any EPSG code, or GCJ02")
    project_type: str | None = Field(None, description="A code from GET /v1/project-types; omit for every rule")
    label: str | None = Field(None, max_length=200)


def site_in_lonlat(geometry: Any, crs: str, settings: Settings) -> tuple[shapely.Geometry, shapely.Geometry]:
    """Parse, range-check and size-check a site; returns (WGS84 lon/lat, metric) geometries."""
    geom = parse_site_geometry(geometry)
    n = int(shapely.get_num_coordinates(geom))
    if n > settings.max_site_vertices:
        raise GeometryTooLarge(
            f"几何顶点过多：{n}（上限 {settings.max_site_vertices}）。大批量请使用批量筛查。",
            f"Too many vertices: {n} (limit {settings.max_site_vertices}). Use batch screening for bulk input.",
            field="geometry", where="geometry.coordinates", vertices=n, limit=settings.max_site_vertices,
        )
    lonlat = to_wgs84(geom, parse_crs(crs))
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


def run_check(service: Service, settings: Settings, req: SitingRequest) -> dict:
    """One siting check on the current data version, as the API answers it (the CLI shares it)."""
    snapshot = service.snapshot
    snapshot.engine.check_project_type(req.project_type)
    lonlat, metric = site_in_lonlat(req.geometry, req.crs, settings)
    ev = snapshot.engine.evaluate_metric(metric, req.project_type)
    return evaluation_json(ev, lonlat, snapshot.data_version, req.label, parse_crs(req.crs).label)
