"""JSON views of catalog and engine objects (the contract's field names live here)."""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

import shapely
import shapely.geometry

from ecozone.zoning.catalog import Rule, ZoneDef
from ecozone.zoning.chainage import stake
from ecozone.zoning.engine import Evaluation, Finding
from ecozone.zoning.index import ZoneIndex
from ecozone.zoning.metric import to_lonlat


def zone_json(z: ZoneDef) -> dict:
    return {
        "layer_kind": z.kind,
        "filter": {k: list(v) for k, v in z.where.items()},
        "buffer_m": z.buffer_m,
        "measured_from": z.measured_from,
        "complement": z.complement,
        "downstream_sector": z.downstream_sector.model_dump() if z.downstream_sector else None,
    }


def exception_json(rule: Rule) -> dict | None:
    return rule.exception.model_dump() if rule.exception else None


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
        "exception": exception_json(rule),
        "overrides": list(rule.overrides),
    }
    if zone_count is not None:
        out["zone_count"] = zone_count
    return out


# A finding's JSON parts that come from its rule alone, dumped once per rule object (rules are
# frozen models; model_dump cost several µs per finding). The rule is held beside them so its id
# stays its own; a new catalog's rules are new objects, and the table is emptied if it grows.
_RULE_PARTS: dict[int, tuple[Rule, dict, dict, dict | None]] = {}


def _rule_parts(rule: Rule) -> tuple[dict, dict, dict | None]:
    got = _RULE_PARTS.get(id(rule))
    if got is None or got[0] is not rule:
        if len(_RULE_PARTS) > 10_000:
            _RULE_PARTS.clear()
        got = _RULE_PARTS[id(rule)] = (rule, rule.message.model_dump(), rule.citation.model_dump(),
                                       exception_json(rule))
    return got[1:]


def finding_json(f: Finding) -> dict:
    message, citation, exception = _rule_parts(f.rule)
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
        # (copies, flat ones: an answer is the caller's to change)
        "message": dict(message),
        "citation": dict(citation),
        "exception": dict(exception) if exception is not None else None,
        **({"segments": [
            {"from_m": round(a, 1), "to_m": round(b, 1), "length_m": round(b - a, 1), "from_k": stake(a), "to_k": stake(b)}
            for a, b in f.segments]} if f.segments is not None else {}),
    }


_PARTIAL_NOTE = {
    "zh": "该场地仅有 {pct} 位于已载入规划的辖区内；结论只针对这一部分，其余部分未检查任何规则。",
    "en": "Only {pct} of the site lies in jurisdictions whose plans are loaded; the verdict covers that "
          "share only, and no rule was checked on the rest.",
}
_NOT_COVERED_NOTE = {
    "zh": "该场地不在任何已载入规划的辖区内，未检查任何规则，不能视为允许。",
    "en": "The site lies outside every jurisdiction whose plan is loaded; no rule was checked, so nothing "
          "here may be read as permitted.",
}


def coverage_json(ev: Evaluation) -> dict:
    ratio = ev.coverage.covered_ratio
    if ratio <= 0:
        note = dict(_NOT_COVERED_NOTE)
    elif ratio < 1:
        pct = f"{ratio * 100:.1f}%" if ratio < 0.999 else f"{ratio * 100:.2f}%"
        note = {k: v.format(pct=pct) for k, v in _PARTIAL_NOTE.items()}
    else:
        note = None
    return {
        "covered": ev.coverage.covered,
        "covered_ratio": round(ratio, 6),
        "jurisdictions_missing": ratio < 1,
        "note": note,
    }


def _types_json(types: tuple[str, ...] | None):
    if types is None:
        return None
    return types[0] if len(types) == 1 else list(types)


@lru_cache(maxsize=1024)
def _types_query(project_type: tuple[str, ...]) -> str:
    return "&" + urlencode({"project_type": ",".join(project_type)})


def map_url(site_lonlat: shapely.Geometry, project_type: tuple[str, ...] | None) -> str:
    types = _types_query(project_type) if project_type else ""
    if isinstance(site_lonlat, shapely.Point):  # digits, '.' and '-': nothing to escape
        return f"/v1/siting/map.html?lon={site_lonlat.x:.6f}&lat={site_lonlat.y:.6f}{types}"
    geometry = shapely.to_geojson(shapely.set_precision(site_lonlat, 1e-6))
    return "/v1/siting/map.html?" + urlencode({"geometry": geometry}) + types


# Maps show a zone within this distance of the site (and at least twice its buffer).
_GEOMETRY_WINDOW_M = 3000.0
_GEOMETRY_SIMPLIFY_M = 2.0


def finding_geometries(index: ZoneIndex, findings: list[Finding], site_metric: shapely.Geometry) -> list[dict]:
    """GeoJSON (WGS84) of each finding's zone, deciding boundary, reference feature and
    nearest line, for maps: simplified to 2 m, cut to a window around the site."""
    out = []
    for f in findings:
        window = max(_GEOMETRY_WINDOW_M, 2 * (f.threshold_m or 0.0))
        parts = index.zone_geometry(f.zone_id, site_metric, window)
        geo = {}
        for name, geom in parts.items():
            if geom is None or geom.is_empty:
                geo[name] = None
                continue
            if name != "nearest":
                geom = shapely.simplify(geom, _GEOMETRY_SIMPLIFY_M, preserve_topology=True)
            geo[name] = shapely.geometry.mapping(shapely.set_precision(to_lonlat(geom), 1e-7))
        out.append(geo)
    return out


def evaluation_json(ev: Evaluation, site_lonlat: shapely.Geometry, data_version: str, label: str | None,
                    crs: str, index: ZoneIndex | None = None, site_metric: shapely.Geometry | None = None) -> dict:
    """The check answer. Given the index and the metric site, each finding also carries
    `geometry` (see finding_geometries)."""
    answer = {
        "verdict": ev.verdict,
        "project_type": _types_json(ev.project_type),
        "project_types": list(ev.project_type) if ev.project_type else None,
        "label": label,
        "jurisdictions": [{"code": c, "name": n, "planned": planned} for c, n, planned in ev.jurisdictions],
        "findings": [finding_json(f) for f in ev.findings],
        "conditional_findings": [finding_json(f) for f in ev.conditional_findings],
        "superseded_findings": [finding_json(f) for f in ev.superseded_findings],
        "control_units": ev.control_units,
        "site": {
            "geometry": {"type": "Point", "coordinates": (site_lonlat.x, site_lonlat.y)}
            if isinstance(site_lonlat, shapely.Point) and not site_lonlat.is_empty
            else shapely.geometry.mapping(site_lonlat),
            "input_crs": crs,
            "area_m2": round(ev.site_area_m2, 1) if ev.site_area_m2 is not None else None,
            "length_m": round(ev.site_length_m, 1) if ev.site_length_m is not None else None,
        },
        **({"chainage_length_m": round(ev.chainage_length_m, 1)} if ev.chainage_length_m is not None else {}),
        "coverage": coverage_json(ev),
        "data_version": data_version,
        "map_url": map_url(site_lonlat, ev.project_type),
    }
    if index is not None and site_metric is not None:
        for key, findings in (("findings", ev.findings), ("conditional_findings", ev.conditional_findings)):
            for row, geometry in zip(answer[key], finding_geometries(index, findings, site_metric)):
                row["geometry"] = geometry
    return answer
