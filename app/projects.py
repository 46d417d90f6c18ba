"""Saved checks and change impact: planners save checks into named projects; whenever the data
changes (a publish, rollback or delete, or a new rule catalog), every saved check is evaluated
again on the new snapshot and those whose verdict or binding rules changed are recorded with
before and after, the rules that came or went, and the layer versions responsible.

Re-evaluation is driven by data versions, not events: a check stores the data version its
answer was computed on, and `reevaluate` takes every check not at the current one. So a change
made while no re-evaluation ran (a crash, another worker, a CLI publish) is caught up on the next
one, and the store's conditional update makes concurrent workers record each change once.
"""

from __future__ import annotations

import shapely
import shapely.geometry

from ecozone.checks import SitingRequest, plausible_extent, site_in_lonlat
from ecozone.service import Service, Snapshot
from ecozone.settings import Settings
from ecozone.zoning.engine import Evaluation
from ecozone.zoning.metric import to_metric


def summary(ev: Evaluation, snap: Snapshot) -> dict:
    """What a saved check remembers of an answer (enough to say what changed and why)."""
    return {
        "verdict": ev.verdict,
        "rule_ids": sorted({f.rule.id for f in ev.findings}),
        "findings": [{"rule_id": f.rule.id, "effect": f.rule.effect, "layer": f.layer, "feature_id": f.feature_id,
                      "distance_m": f.distance_m} for f in ev.findings],
        "data_version": snap.data_version,
        "layer_versions": {i.id: i.version for i in snap.layers},
    }


def _evaluate(snap: Snapshot, request: dict) -> Evaluation:
    site = to_metric(shapely.geometry.shape(request["site"]))
    types = tuple(request["project_types"]) if request.get("project_types") else None
    return snap.engine.evaluate_metric(site, types)


def save_check(service: Service, settings: Settings, project_id: str, req: SitingRequest,
               actor: str | None = None) -> dict:
    snap = service.snapshot
    types = snap.engine.resolve_project_types(req.project_type)
    lonlat, _ = site_in_lonlat(req.geometry, req.crs, settings, plausible_extent(service, settings))
    request = {"label": req.label, "site": shapely.geometry.mapping(lonlat), "input": req.model_dump(),
               "project_types": list(types) if types else None}
    return service.store.save_check(project_id, request, summary(_evaluate(snap, request), snap), actor=actor)


def _responsible_layers(before: dict, after: dict) -> list[dict]:
    """Layers whose version differs between the two answers: first those the changed findings
    come from, else every layer that changed (a feature that vanished names no layer after)."""
    old, new = before.get("layer_versions", {}), after.get("layer_versions", {})
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    touched = {f["layer"] for f in before.get("findings", []) + after.get("findings", [])}
    named = [k for k in changed if k in touched] or changed
    return [{"id": k, "version_before": old.get(k), "version_after": new.get(k)} for k in named]


def reevaluate(service: Service, cause: str) -> int:
    """Evaluate every saved check not at the current data version; returns how many changed."""
    snap = service.snapshot
    changed = 0
    for check in service.store.checks_not_at(snap.data_version):
        before = check["summary"]
        after = summary(_evaluate(snap, check["request"]), snap)
        impact = None
        if (before["verdict"], before["rule_ids"]) != (after["verdict"], after["rule_ids"]):
            impact = {
                "check_id": check["id"], "project_id": check["project_id"], "label": check["request"].get("label"),
                "cause": cause, "before": before, "after": after,
                "rules_added": sorted(set(after["rule_ids"]) - set(before["rule_ids"])),
                "rules_removed": sorted(set(before["rule_ids"]) - set(after["rule_ids"])),
                "layers": _responsible_layers(before, after),
            }
        if service.store.update_check(check["id"], check["data_version"], after, impact) and impact is not None:
            changed += 1
    return changed
