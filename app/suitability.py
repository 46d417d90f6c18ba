"""Where may it go — the suitability partition and the constraint raster, as the API and the
CLI both answer them (no web framework here)."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
import shapely.geometry
from pydantic import BaseModel, ConfigDict, Field

from ecozone.layers.crs import parse_crs, to_wgs84
from ecozone.layers.errors import InputError, NotFound
from ecozone.layers.geojson import parse_site_geometry
from ecozone.service import Service
from ecozone.zoning.metric import METRIC_CRS, to_lonlat, to_metric
from ecozone.zoning.suitability import Part, partition

VERDICT_CODES = {"permitted": 0, "notice": 1, "restricted": 2, "prohibited": 3, "not_covered": 255}
VERDICT_COLOURS = {0: (46, 160, 67, 255), 1: (88, 166, 255, 255), 2: (230, 170, 30, 255), 3: (214, 39, 40, 255),
                   255: (160, 160, 160, 0)}
MAX_AREA_EXTENT_M = 400_000.0  # larger than any district; a province-wide screen is batch work


class SuitabilityRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "example": {"area": "500102", "project_type": "chemical"}})
    area: dict[str, Any] | str = Field(description="A GeoJSON Polygon/MultiPolygon, or a jurisdiction code (500102)")
    crs: str = Field("EPSG:4326", description="CRS of a polygon area")
    project_type: str | list[str] | None = Field(None, description="Code(s) or Chinese name(s); omit for any project")


def area_in_metric(service: Service, area: dict | str, crs: str = "EPSG:4326") -> shapely.Geometry:
    index = service.snapshot.engine.index
    if isinstance(area, str):
        geom = index.jurisdiction_geom.get(area)
        if geom is None:
            raise NotFound(f"没有辖区代码 {area}；可用：{', '.join(index.jurisdiction_codes)}",
                           f"No jurisdiction {area!r}; loaded: {', '.join(index.jurisdiction_codes)}",
                           where="area", value=area, allowed=index.jurisdiction_codes)
        return geom
    geom = parse_site_geometry(area)
    if shapely.get_dimensions(geom) != 2:
        raise InputError("area 须为多边形或辖区代码", "area must be a Polygon, a MultiPolygon or a jurisdiction code",
                         where="area.type", value=area.get("type"))
    metric = to_metric(to_wgs84(geom, parse_crs(crs)))
    xmin, ymin, xmax, ymax = metric.bounds
    if max(xmax - xmin, ymax - ymin) > MAX_AREA_EXTENT_M:
        raise InputError(f"area 范围过大（上限 {MAX_AREA_EXTENT_M / 1000:.0f} 公里）",
                         f"area too large (limit {MAX_AREA_EXTENT_M / 1000:.0f} km)", where="area")
    return metric


def suitability(service: Service, req: SuitabilityRequest) -> tuple[list[Part], dict]:
    """The partition and its GeoJSON FeatureCollection (WGS84; area per verdict in `summary`)."""
    snap = service.snapshot
    types = snap.engine.resolve_project_types(req.project_type)
    area = area_in_metric(service, req.area, req.crs)
    parts = partition(snap.engine, area, types)
    summary: dict[str, float] = {v: 0.0 for v in VERDICT_CODES}
    features = []
    for p in parts:
        summary[p.verdict] += p.area_m2
        features.append({
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.set_precision(to_lonlat(p.geometry), 1e-8)),
            "properties": {"verdict": p.verdict, "rule_ids": list(p.rule_ids), "area_m2": round(p.area_m2, 1)},
        })
    return parts, {
        "type": "FeatureCollection", "features": features,
        "project_type": list(types) if types else None,
        "summary": {v: round(a, 1) for v, a in summary.items()},
        "data_version": snap.data_version,
    }


def constraints_cog(parts: list[Part], area: shapely.Geometry, resolution_m: float, description: str) -> bytes:
    """The partition as a Cloud-Optimised GeoTIFF in CGCS2000 Gauss-Kruger (EPSG:4545): one byte
    per pixel — 0 permitted, 1 notice, 2 restricted, 3 prohibited, 255 not covered — decided at
    each pixel's centre (rasterisation without all_touched), with a colour table."""
    import rasterio
    import rasterio.shutil
    from rasterio.features import rasterize
    from rasterio.io import MemoryFile
    from rasterio.transform import from_origin

    xmin, ymin, xmax, ymax = area.bounds
    width = max(int(np.ceil((xmax - xmin) / resolution_m)), 1)
    height = max(int(np.ceil((ymax - ymin) / resolution_m)), 1)
    if width * height > 100_000_000:
        raise InputError(f"分辨率过细：{width}×{height} 像元", f"Resolution too fine: {width}×{height} pixels",
                         where="resolution", value=resolution_m)
    transform = from_origin(xmin, ymax, resolution_m, resolution_m)
    shapes = [(p.geometry, VERDICT_CODES[p.verdict]) for p in parts]
    grid = rasterize(shapes, out_shape=(height, width), transform=transform, fill=255, dtype="uint8")
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs=METRIC_CRS,
                   transform=transform, nodata=255)
    with MemoryFile() as raw, MemoryFile() as cog:
        with raw.open(**profile) as dst:
            dst.write(grid, 1)
            dst.write_colormap(1, VERDICT_COLOURS)
            dst.set_band_description(1, description)
            dst.update_tags(1, **{f"VALUE_{v}": k for k, v in VERDICT_CODES.items()})
        with raw.open() as src:
            rasterio.shutil.copy(src, cog.name, driver="COG", COMPRESS="DEFLATE", RESAMPLING="NEAREST")
        return cog.read()
