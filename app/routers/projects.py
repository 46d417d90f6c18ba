"""Saved checks and change impact: POST/GET /v1/projects, POST /v1/projects/{id}/checks,
GET /v1/impact. Saving needs a token of any role (it records who saved what)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ecozone.auth import actor
from ecozone.checks import SitingRequest, run_check
from ecozone.deps import get_service, get_settings
from ecozone.projects import save_check
from ecozone.service import Service
from ecozone.settings import Settings

read_router = APIRouter(prefix="/v1", tags=["projects"])
write_router = APIRouter(prefix="/v1", tags=["projects"])


class ProjectRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=200)


@write_router.post("/projects", status_code=201)
def create_project(body: ProjectRequest, request: Request, service: Service = Depends(get_service)) -> dict:
    return service.store.create_project(body.name, actor=actor(request))


@read_router.get("/projects")
def list_projects(service: Service = Depends(get_service)) -> list[dict]:
    return service.store.list_projects()


@read_router.get("/projects/{project_id}")
def get_project(project_id: str, service: Service = Depends(get_service)) -> dict:
    return service.store.get_project(project_id)


@write_router.post("/projects/{project_id}/checks", status_code=201)
def save(project_id: str, req: SitingRequest, request: Request, service: Service = Depends(get_service),
         settings: Settings = Depends(get_settings)) -> dict:
    """Save a siting check into the project, with its answer; it is re-evaluated whenever the data change."""
    check = save_check(service, settings, project_id, req, actor=actor(request))
    return {**check, "answer": run_check(service, settings, req)}


@read_router.get("/impact")
def impact(
    since: str | None = Query(None, description="ISO 8601 time; changes recorded at or after it"),
    limit: int = Query(1000, ge=1, le=10_000),
    service: Service = Depends(get_service),
) -> list[dict]:
    """Saved checks whose verdict or binding rules changed: before, after, the rules that came or went,
    and the layer versions responsible."""
    return service.store.impact(since, limit)
