"""Every rule of the catalog, on a scene built from its own zone definition: a site inside its
zone is found with the rule's effect and a geodesically correct distance; a site outside —
beyond the threshold, upstream of a downstream-only zone, inside the excluded features of a
complement zone, or in another jurisdiction — is not; a project type the rule does not name
is not bound by it."""

from __future__ import annotations

import pytest
import shapely

from scenes import CATALOG, LAT0, LON0, inside_site, offset_site as _offset_site, scene as _scene
def _finding(ev, rule):
    return next((f for f in ev.findings if f.rule.id == rule.id), None)


def _bound_type(rule) -> str:
    return rule.applies_to[0]


def _unbound_type(rule) -> str:
    """A project type that neither is nor descends from any type the rule names."""
    for code in ("fireworks_business", "planting", "tourism", "livestock_farm", "real_estate"):
        if not CATALOG.applies(rule, code):
            return code
    raise AssertionError(f"{rule.id} binds every type")  # pragma: no cover


@pytest.mark.parametrize("rule", CATALOG.rules, ids=[r.id for r in CATALOG.rules])
def test_rule_inside_and_outside_its_zone(rule):
    engine = _scene(rule)
    zd = rule.zone
    downstream = 180.0 if zd.downstream_sector else 0.0
    if zd.complement:
        inside = shapely.Point(LON0 + 0.3, LAT0 + 0.3)  # in the district, outside the feature
        outsides = [shapely.Point(LON0, LAT0)]  # inside the excluded feature
    elif zd.buffer_m:
        inside, expected = _offset_site(rule, 0.6 * zd.buffer_m, downstream)
        outsides = [_offset_site(rule, 1.3 * zd.buffer_m + 20, downstream)[0]]
        if zd.downstream_sector:  # as near, but upstream: not in a downstream-only zone
            outsides.append(_offset_site(rule, 0.6 * zd.buffer_m, 0.0)[0])
    else:
        inside, expected = inside_site(rule), 0.0
        # A district-wide zone is the whole jurisdiction: outside is beyond the district.
        outsides = [shapely.Point(LON0 + (0.7 if zd.kind == "district" else 0.1), LAT0 + 0.1)]

    ev = engine.evaluate(inside, _bound_type(rule))
    f = _finding(ev, rule)
    assert f is not None, f"{rule.id}: site inside its zone not found"
    assert ev.verdict in ("prohibited", "restricted", "notice")
    assert ["prohibited", "restricted", "notice"].index(ev.verdict) <= ["prohibited", "restricted", "notice"].index(
        rule.effect
    )
    if zd.buffer_m:
        assert f.threshold_m == zd.buffer_m
        assert abs(f.distance_m - expected) <= max(0.005 * expected, 0.2), (f.distance_m, expected)

    for outside in outsides:
        assert _finding(engine.evaluate(outside, _bound_type(rule)), rule) is None, f"{rule.id}: {outside} found"

    # Not bound: a project type the rule does not name; without a type every rule is reported.
    assert _finding(engine.evaluate(inside, _unbound_type(rule)), rule) is None
    assert _finding(engine.evaluate(inside, None), rule) is not None

    # Not bound: the same scene in another jurisdiction.
    other = _scene(rule, code="500000")
    assert _finding(other.evaluate(inside, _bound_type(rule)), rule) is None


@pytest.mark.parametrize("rule", [r for r in CATALOG.rules if r.zone.buffer_m and not r.zone.complement],
                         ids=lambda r: r.id)
def test_polygon_site_overlapping_a_buffer_zone(rule):
    """A parcel straddling the threshold line is in the zone, with a partial overlap."""
    engine = _scene(rule)
    downstream = 180.0 if rule.zone.downstream_sector else 0.0
    centre, _ = _offset_site(rule, rule.zone.buffer_m, downstream)
    parcel = shapely.Point(centre.x, centre.y).buffer(0.002, quad_segs=16)  # ~400 m across
    f = _finding(engine.evaluate(parcel, _bound_type(rule)), rule)
    assert f is not None
    assert f.distance_m < rule.zone.buffer_m
    assert 0.2 < f.overlap_ratio < 0.8
