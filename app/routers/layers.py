"""GET /v1/layers — the published layers (read-only in this version)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from ecozone.deps import get_service
from ecozone.service import Service

router = APIRouter(prefix="/v1/layers", tags=["layers"])


@router.get("")
def list_layers(service: Service = Depends(get_service)) -> list[dict]:
    return [info.public() for info in service.store.list_layers()]


@router.get("/{layer_id}")
def get_layer(layer_id: str, service: Service = Depends(get_service)) -> dict:
    return service.store.get_layer(layer_id).public()
