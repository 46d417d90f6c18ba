"""Layers for GIS staff: list, read, download (public reads), and publish, roll back and
delete (editor writes). Two routers, so that the app factory attaches the role each needs
as a router dependency; routes stay thin — the work is in ecozone.publishing and the store."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from pydantic import BaseModel, ConfigDict, Field

from ecozone.auth import actor
from ecozone.deps import get_service, get_settings
from ecozone.layers.errors import InputError
from ecozone.publishing import publish_file
from ecozone.service import Service
from ecozone.settings import Settings

read_router = APIRouter(tags=["layers"])
write_router = APIRouter(tags=["layers"])


class UploadTooLarge(InputError):
    code = "upload_too_large"
    status = 413


class BadPrecondition(InputError):
    code = "invalid_if_match"
    status = 400


# -- reads ---------------------------------------------------------------------------------
@read_router.get("/v1/layers")
def list_layers(service: Service = Depends(get_service)) -> list[dict]:
    return [info.public() for info in service.store.list_layers()]


@read_router.get("/v1/layers/{layer_id}")
def get_layer(layer_id: str, response: Response, service: Service = Depends(get_service)) -> dict:
    info = service.store.get_layer(layer_id)
    response.headers["ETag"] = info.etag
    return info.public()


@read_router.get("/v1/layers/{layer_id}/versions")
def list_versions(layer_id: str, service: Service = Depends(get_service)) -> list[dict]:
    return [v.public() for v in service.store.versions(layer_id)]


@read_router.get("/v1/layers/{layer_id}/download")
def download(
    layer_id: str,
    format: Literal["geojson", "gpkg", "shp", "tif"] | None = Query(None, description="geojson (default), gpkg, shp; tif for rasters"),
    version: int | None = Query(None, ge=1, description="a past version; the current one if omitted"),
    service: Service = Depends(get_service),
) -> Response:
    from ecozone.layers.formats import RASTER_MEDIA_TYPE, write_download

    info = service.store.get_layer(layer_id)
    v = version or info.version
    if info.kind == "raster":
        if format not in (None, "tif"):
            raise InputError("栅格图层只能下载为 GeoTIFF（format=tif）", "A raster layer downloads as GeoTIFF (format=tif)",
                             field="format", value=format, allowed=["tif"])
        body, media, filename = service.store.raster_bytes(layer_id, v), RASTER_MEDIA_TYPE, f"{layer_id}-v{v}.tif"
    else:
        if format == "tif":
            raise InputError("矢量图层可下载为 geojson、gpkg 或 shp", "A vector layer downloads as geojson, gpkg or shp",
                             field="format", value=format, allowed=["geojson", "gpkg", "shp"])
        body, media, filename = write_download(service.store.read(layer_id, v), format or "geojson", f"{layer_id}-v{v}")
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "ETag": f'"{layer_id}-v{v}"',
    })


@read_router.get("/v1/audit", tags=["layers"])
def audit(
    since: str | None = Query(None, description="ISO 8601 time; entries at or after it"),
    limit: int = Query(1000, ge=1, le=10_000),
    service: Service = Depends(get_service),
) -> list[dict]:
    return [e.public() for e in service.store.audit(since, limit)]


# -- writes --------------------------------------------------------------------------------
def _check_length(request: Request, settings: Settings) -> None:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_upload_bytes:
        raise UploadTooLarge(
            f"上传文件过大：{int(length)} 字节（上限 {settings.max_upload_bytes}，设置 ECOZONE_MAX_UPLOAD_BYTES）",
            f"Upload too large: {int(length)} bytes (limit {settings.max_upload_bytes}, setting ECOZONE_MAX_UPLOAD_BYTES)",
            field="file", size=int(length), limit=settings.max_upload_bytes,
        )


def _expected_version(layer_id: str, if_match: str | None) -> int | None:
    """If-Match carries the ETag GET /v1/layers/{id} gave: "<id>-v<version>"."""
    if if_match is None or if_match.strip() == "*":
        return None
    m = re.fullmatch(r'\s*(?:W/)?"?([a-z][a-z0-9_-]*)-v(\d+)"?\s*', if_match)
    if m is None or m.group(1) != layer_id:
        raise BadPrecondition(
            f"If-Match 须为 GET /v1/layers/{layer_id} 返回的 ETag，如 \"{layer_id}-v3\"",
            f'If-Match must be the ETag GET /v1/layers/{layer_id} returned, e.g. "{layer_id}-v3"',
            field="If-Match", value=if_match,
        )
    return int(m.group(2))


def _publish(request: Request, service: Service, settings: Settings, file: UploadFile, **kwargs) -> dict:
    _check_length(request, settings)
    suffix = Path(file.filename or "upload").suffix.lower()
    with tempfile.TemporaryDirectory(prefix="ecozone-upload-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        with open(path, "wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        if path.stat().st_size > settings.max_upload_bytes:
            raise UploadTooLarge(
                f"上传文件过大（上限 {settings.max_upload_bytes} 字节）",
                f"Upload too large (limit {settings.max_upload_bytes} bytes)", field="file",
                limit=settings.max_upload_bytes,
            )
        return publish_file(service, settings, path, file.filename or path.name, actor=actor(request), **kwargs)


@write_router.post("/v1/layers", status_code=201)
def create_layer(
    request: Request,
    response: Response,
    file: UploadFile = File(..., description="GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV (lon/lat or WKT), GeoTIFF"),
    id: str = Form(..., description="slug: a-z0-9_-, starting with a letter"),
    kind: str = Form(..., description="a layer kind of the contract (GET /v1/layer-kinds)"),
    name: str | None = Form(None),
    crs: str | None = Form(None, description="the file's CRS when it carries none (CSV, shapefile without .prj)"),
    layer: str | None = Form(None, description="which table of a multi-table GeoPackage"),
    source_crs: str | None = Form(None, description="GCJ02 or BD09: lon/lat digitised on a Gaode/Baidu basemap"),
    strict: bool = Form(False, description="reject invalid geometries instead of repairing them"),
    comment: str | None = Form(None, max_length=2000),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> dict:
    answer = _publish(request, service, settings, file, layer_id=id, kind=kind, name=name, crs=crs, table=layer,
                      source_crs=source_crs, strict=strict, comment=comment, mode="create")
    response.headers["ETag"] = f'"{answer["id"]}-v{answer["version"]}"'
    response.headers["Location"] = f"/v1/layers/{answer['id']}"
    return answer


@write_router.put("/v1/layers/{layer_id}")
def publish_version(
    layer_id: str,
    request: Request,
    response: Response,
    file: UploadFile = File(...),
    name: str | None = Form(None),
    crs: str | None = Form(None),
    layer: str | None = Form(None),
    source_crs: str | None = Form(None),
    strict: bool = Form(False),
    comment: str | None = Form(None, max_length=2000),
    if_match: str | None = Header(None, description='the ETag of the version this replaces, e.g. "red_lines-v3"'),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> dict:
    answer = _publish(request, service, settings, file, layer_id=layer_id, kind=None, name=name, crs=crs, table=layer,
                      source_crs=source_crs, strict=strict, comment=comment, mode="update",
                      expect_version=_expected_version(layer_id, if_match))
    response.headers["ETag"] = f'"{answer["id"]}-v{answer["version"]}"'
    return answer


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(..., ge=1, description="the version whose content becomes current again")
    comment: str | None = Field(None, max_length=2000)


@write_router.post("/v1/layers/{layer_id}/rollback")
def rollback(layer_id: str, body: RollbackRequest, request: Request, response: Response,
             service: Service = Depends(get_service)) -> dict:
    info = service.rollback(layer_id, body.version, actor=actor(request), comment=body.comment)
    response.headers["ETag"] = info.etag
    return {**info.public(), "restored_from": body.version, "data_version": service.snapshot.data_version}


@write_router.delete("/v1/layers/{layer_id}", status_code=204)
def delete_layer(layer_id: str, request: Request, comment: str | None = Query(None, max_length=2000),
                 service: Service = Depends(get_service)) -> Response:
    service.delete(layer_id, actor=actor(request), comment=comment)
    return Response(status_code=204)
