"""POST /v1/siting/check — may this project type go here, and if not, which rule says so."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query

from ecozone.checks import SitingRequest, run_check
from ecozone.deps import get_service, get_settings
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(prefix="/v1/siting", tags=["siting"])


@router.post("/check")
def check_site(
    req: SitingRequest,
    include: Literal["geometry"] | None = Query(
        None, description="geometry: each finding also carries GeoJSON (WGS84) of its zone, the boundary that "
        "decided (a buffer line), the reference feature and the nearest line from the site, near the site"),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> dict:
    return run_check(service, settings, req, with_geometry=include == "geometry")
