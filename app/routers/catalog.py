"""GET /v1/rules and GET /v1/project-types — the rule catalog, as data."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ecozone.deps import get_service
from ecozone.service import Service
from ecozone.views import rule_json

router = APIRouter(prefix="/v1", tags=["rules"])


@router.get("/rules")
def list_rules(
    jurisdiction: str | None = Query(None, description="GB code, e.g. 500156"),
    project_type: list[str] | None = Query(None, description="Only rules that bind this type (code or Chinese "
                                           "name; repeat for a project with several characteristics)"),
    service: Service = Depends(get_service),
) -> list[dict]:
    catalog = service.catalog
    engine = service.snapshot.engine
    types = engine.resolve_project_types(project_type) if project_type else None
    counts = engine.index.zone_count_by_rule()
    unbound = {u.rule_id: u.reason for u in engine.index.unbound}
    out = []
    for rule in catalog.rules:
        if jurisdiction is not None and rule.jurisdiction != jurisdiction:
            continue
        if types is not None and not catalog.applies(rule, types):
            continue
        row = rule_json(rule, counts.get(rule.id, 0))
        row["unbound_reason"] = unbound.get(rule.id)
        out.append(row)
    return out


@router.get("/project-types")
def list_project_types(service: Service = Depends(get_service)) -> list[dict]:
    return [
        {"code": t.code, "parent": t.parent, "parents": list(t.parents), "characteristic": t.characteristic,
         "name": t.name.model_dump()}
        for t in service.catalog.project_types
    ]


@router.get("/layer-kinds", tags=["layers"])
def list_layer_kinds() -> list[dict]:
    """What an upload of each kind must carry: geometry types, required and optional
    attributes, and the allowed values of enumerated ones."""
    from ecozone.layers.kinds import LAYER_KINDS

    return [
        {"kind": k.code, "name": {"zh": k.zh}, "geometry": list(k.geometry), "required": list(k.required),
         "optional": list(k.optional), "enums": {a: list(v) for a, v in k.enums.items()}}
        for k in LAYER_KINDS.values()
    ]
