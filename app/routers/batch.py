"""Batch screening over HTTP: POST /v1/siting/batch queues a job (the file is read and checked
first: a file that cannot be screened is a 4xx, never a failed job), GET /v1/jobs/{id} reports
its progress, GET /v1/jobs/{id}/result serves its answers as CSV, GeoJSON or GeoPackage.

Public like single checks unless `private_reads` (the app factory attaches its read
dependencies); the work is in ecozone.jobs."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from ecozone.deps import get_service, get_settings
from ecozone.jobs import JobStore, get_job, job_store, links, public, result_file, submit
from ecozone.layers.errors import InputError
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(tags=["batch"])


class UploadTooLarge(InputError):
    code = "upload_too_large"
    status = 413


def get_jobs(request: Request) -> JobStore:
    return job_store(request.app.state.settings)


def _too_large(settings: Settings, size: int | None = None) -> UploadTooLarge:
    got = f"{size} 字节" if size is not None else "超过上限"
    return UploadTooLarge(
        f"上传文件过大：{got}（上限 {settings.max_upload_bytes}，设置 ECOZONE_MAX_UPLOAD_BYTES）",
        f"Upload too large: {size if size is not None else 'over the limit'} bytes "
        f"(limit {settings.max_upload_bytes}, setting ECOZONE_MAX_UPLOAD_BYTES)",
        field="file", size=size, limit=settings.max_upload_bytes,
    )


@router.post("/v1/siting/batch", status_code=202)
def submit_batch(
    request: Request,
    file: UploadFile = File(..., description="Sites: CSV with lon/lat (or x/y, 经度/纬度) columns or a WKT column, "
                            "GeoJSON, GeoPackage, zipped Shapefile or KML; an optional project_type column "
                            "(code or Chinese name, comma-separated for several) overrides the request's per row"),
    project_type: str | None = Form(None, description="Code or Chinese name (comma-separated for several); "
                                    "omit for every rule"),
    crs: str | None = Form(None, description="The file's CRS when it carries none (CSV, shapefile without .prj): "
                           "EPSG code, GCJ02 or BD09 (also for lon/lat read off a Gaode/Baidu map)"),
    layer: str | None = Form(None, description="Which table of a multi-table GeoPackage"),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
    jobs: JobStore = Depends(get_jobs),
) -> JSONResponse:
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_upload_bytes:
        raise _too_large(settings, int(length))
    filename = os.path.basename((file.filename or "upload").replace("\\", "/")) or "upload"
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=jobs.root)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)
        if tmp.stat().st_size > settings.max_upload_bytes:
            raise _too_large(settings, tmp.stat().st_size)
        job = submit(jobs, service, settings, tmp, filename, project_type=project_type or None, crs=crs or None,
                     table=layer or None)
    finally:
        tmp.unlink(missing_ok=True)
    # Accepted into the queue; a runner may already be on it (GET /v1/jobs/{id} tells).
    body = {"job_id": job["id"], "status": "queued", "total": job["total"], "links": links(job["id"])}
    return JSONResponse(body, status_code=202, headers={"Location": f"/v1/jobs/{job['id']}"})


@router.get("/v1/jobs/{job_id}")
def job_status(job_id: str, jobs: JobStore = Depends(get_jobs)) -> dict:
    """status queued|running|done|failed, progress 0..1, total and done rows, the data version
    the job runs on (set when it starts), and a bilingual error when it failed."""
    return public(get_job(jobs, job_id))


@router.get("/v1/jobs/{job_id}/result")
def job_result(
    job_id: str,
    format: Literal["csv", "geojson", "gpkg"] = Query("geojson", description="csv (UTF-8, lon/lat or WKT), "
                                                       "geojson (RFC 7946) or gpkg"),
    jobs: JobStore = Depends(get_jobs),
) -> Response:
    """One row per input feature, its attributes kept, plus site_id, verdict, rule_ids,
    min_distance_m, covered_ratio and reason (for `invalid` rows). 409 until the job is done."""
    path, media, filename = result_file(jobs, job_id, format)
    return FileResponse(path, media_type=media, filename=filename)
