"""POST /v1/siting/check — may this project type go here, and if not, which rule says so."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ecozone.checks import SitingRequest, run_check
from ecozone.deps import get_service, get_settings
from ecozone.layers.errors import NotAvailable
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(prefix="/v1/siting", tags=["siting"])


@router.post("/check")
def check_site(
    req: SitingRequest,
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> dict:
    return run_check(service, settings, req)


@router.get("/map.html", include_in_schema=False)
def siting_map() -> None:
    # The contract's map of one check needs the offline map assets (Leaflet from the npm registry,
    # served by ecozone itself); until they ship, say so instead of loading a CDN.
    raise NotAvailable(
        "选址地图尚未提供（需离线地图资源）；请使用核查结果中的距离与引文。",
        "The siting map is not available in this version (it needs offline map assets); "
        "use the check's distances and citations.",
        where="/v1/siting/map.html",
    )
