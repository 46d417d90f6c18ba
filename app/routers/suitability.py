"""Where may it go: POST /v1/siting/suitability and GET /v1/constraints.tif."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Response

from ecozone.deps import get_service
from ecozone.service import Service
from ecozone.suitability import SuitabilityRequest, area_in_metric, constraints_cog, suitability

router = APIRouter(prefix="/v1", tags=["siting"])


@router.post("/siting/suitability")
def where_may_it_go(req: SuitabilityRequest, service: Service = Depends(get_service)) -> dict:
    """The area partitioned by verdict for the project, with the rules binding each polygon."""
    return suitability(service, req)[1]


@router.get("/constraints.tif", response_class=Response,
            responses={200: {"content": {"image/tiff; application=geotiff; profile=cloud-optimized": {}}}})
def constraints(
    jurisdiction: str = Query(..., description="GB code of a loaded jurisdiction, e.g. 500102"),
    project_type: list[str] | None = Query(None, description="code(s) or Chinese name(s); omit for any project"),
    resolution: float = Query(30.0, gt=0.5, le=5000, description="pixel size in metres (EPSG:4545)"),
    service: Service = Depends(get_service),
) -> Response:
    types = project_type[0] if project_type and len(project_type) == 1 else project_type
    req = SuitabilityRequest(area=jurisdiction, project_type=types)
    parts, answer = suitability(service, req)
    label = ",".join(answer["project_type"] or ["any project"])
    body = constraints_cog(parts, area_in_metric(service, jurisdiction), resolution,
                           f"siting verdict for {label} in {jurisdiction}: 0 permitted, 1 notice, 2 restricted, "
                           f"3 prohibited, 255 not covered (data {answer['data_version']})")
    return Response(body, media_type="image/tiff; application=geotiff; profile=cloud-optimized", headers={
        "Content-Disposition": f'attachment; filename="constraints-{jurisdiction}-{label}.tif"'})
