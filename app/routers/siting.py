"""POST /v1/siting/check — may this project type go here, and if not, which rule says so.

The hot path of the service (issue 18): a point check costs ~0.3 ms of CPU, and the web
framework used to cost four times that — FastAPI ran the two sync dependencies, the sync
endpoint and the response validation each in the threadpool (four thread hops a request),
then re-encoded the answer. Here the dependencies are async (ecozone.deps), the endpoint is
async and decides where the evaluation runs (see `_on_the_loop`), and the answer is encoded
once, by the same pydantic-core serializer FastAPI used (`dict`'s TypeAdapter), so the bytes
are exactly those of before — NaN/inf included (written as null, never as bare NaN).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from ecozone.checks import SitingRequest, run_check, warm_for
from ecozone.deps import get_service, get_settings
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(prefix="/v1/siting", tags=["siting"])

# The answer is a plain dict; FastAPI used to validate it against `dict` and dump it with this
# adapter's serializer. Dumping with it directly gives the same bytes without the validation
# pass (and without FastAPI's threadpool hop for it).
_ANSWER = TypeAdapter(dict)

# The DEM cache (ecozone.terrain) holds four grids: with more DEMs a point check may read one
# from the store, which is I/O and must not run on the event loop.
_MAX_INLINE_RASTERS = 4


def _on_the_loop(req: SitingRequest, with_geometry: bool, service: Service) -> bool:
    """Whether to evaluate on the event loop rather than in the threadpool.

    The evaluation is CPU-bound and holds the GIL either way; what matters is how long it
    keeps the loop from serving other clients. A point check without geometry is ~0.3–0.4 ms,
    less than the thread hops would cost, so it runs inline. Everything else goes to the
    threadpool, so that point checks from other clients keep being answered meanwhile (the
    loop gets the GIL back every switch interval): a small polygon is ~2 ms, a point with
    include=geometry ~4 ms, a polygon of 19,000 vertices ~140 ms, a 2,000-vertex 45 km route
    ~600 ms (measured on the demo data). The first check on a new snapshot also goes there:
    it may read DEMs from the store."""
    if with_geometry or req.geometry.get("type") != "Point":
        return False
    snapshot = service.snapshot
    return len(snapshot.rasters) <= _MAX_INLINE_RASTERS and warm_for(snapshot)


# response_model=dict documents the answer in OpenAPI as before; the endpoint returns a ready
# Response, which FastAPI passes through as it is (no validation, no re-encoding).
@router.post("/check", response_model=dict)
async def check_site(
    req: SitingRequest,
    include: Literal["geometry"] | None = Query(
        None, description="geometry: each finding also carries GeoJSON (WGS84) of its zone, the boundary that "
        "decided (a buffer line), the reference feature and the nearest line from the site, near the site"),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> Response:
    with_geometry = include == "geometry"
    if _on_the_loop(req, with_geometry, service):
        answer = run_check(service, settings, req, with_geometry=with_geometry)
    else:
        answer = await run_in_threadpool(run_check, service, settings, req, with_geometry=with_geometry)
    return Response(_ANSWER.dump_json(answer), media_type="application/json")
