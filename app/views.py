"""JSON views of catalog and engine objects (the contract's field names live here)."""

from __future__ import annotations

from urllib.parse import urlencode

import shapely

from ecozone.zoning.catalog import Rule, ZoneDef
from ecozone.zoning.engine import Evaluation, Finding


def zone_json(z: ZoneDef) -> dict:
    return {
        "layer_kind": z.kind,
        "filter": {k: list(v) for k, v in z.where.items()},
        "buffer_m": z.buffer_m,
        "measured_from": z.measured_from,
        "complement": z.complement,
        "downstream_sector": z.downstream_sector.model_dump() if z.downstream_sector else None,
    }


def rule_json(rule: Rule, zone_count: int | None = None) -> dict:
    out = {
        "rule_id": rule.id,
        "jurisdiction": rule.jurisdiction,
        "effect": rule.effect,
        "basis": rule.basis,
        "applies_to": list(rule.applies_to),
        "zone": zone_json(rule.zone),
        "message": rule.message.model_dump(),
        "citation": rule.citation.model_dump(),
    }
    if zone_count is not None:
        out["zone_count"] = zone_count
    return out


def finding_json(f: Finding) -> dict:
    return {
        "rule_id": f.rule.id,
        "effect": f.rule.effect,
        "layer": f.layer,
        "feature_id": f.feature_id,
        "feature_name": f.feature_name,
        "distance_m": f.distance_m,
        "threshold_m": f.threshold_m,
        "overlap_area_m2": f.overlap_area_m2,
        "overlap_ratio": f.overlap_ratio,
        "applies_to": list(f.rule.applies_to),
        "jurisdiction": f.rule.jurisdiction,
        "message": f.rule.message.model_dump(),
        "citation": f.rule.citation.model_dump(),
    }


def map_url(site_lonlat: shapely.Geometry, project_type: str | None) -> str:
    params: dict[str, str] = {}
    if shapely.get_type_id(site_lonlat) == 0:
        params["lon"] = f"{site_lonlat.x:.6f}"
        params["lat"] = f"{site_lonlat.y:.6f}"
    else:
        params["geometry"] = shapely.to_geojson(shapely.set_precision(site_lonlat, 1e-6))
    if project_type:
        params["project_type"] = project_type
    return "/v1/siting/map.html?" + urlencode(params)


def evaluation_json(ev: Evaluation, site_lonlat: shapely.Geometry, data_version: str, label: str | None,
                    crs: str) -> dict:
    return {
        "verdict": ev.verdict,
        "project_type": ev.project_type,
        "label": label,
        "jurisdictions": [{"code": c, "name": n} for c, n in ev.jurisdictions],
        "findings": [finding_json(f) for f in ev.findings],
        "conditional_findings": [finding_json(f) for f in ev.conditional_findings],
        "site": {
            "geometry": shapely.geometry.mapping(site_lonlat),
            "input_crs": crs,
            "area_m2": round(ev.site_area_m2, 1) if ev.site_area_m2 is not None else None,
            "length_m": round(ev.site_length_m, 1) if ev.site_length_m is not None else None,
        },
        "coverage": {
            "covered": bool(ev.jurisdictions),
            "note": None if ev.jurisdictions else {
                "zh": "该位置不在已载入规划的辖区内，未检查任何规则。",
                "en": "The site lies outside every jurisdiction whose plan is loaded; no rule was checked.",
            },
        },
        "data_version": data_version,
        "map_url": map_url(site_lonlat, ev.project_type),
    }
