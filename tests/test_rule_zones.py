"""Every rule of the catalog, on a scene built from its own zone definition: a site inside its
zone is found with the rule's effect and a geodesically correct distance; a site outside —
beyond the threshold, upstream of a downstream-only zone, inside the excluded features of a
complement zone, or in another jurisdiction — is not; a project type the rule does not name
is not bound by it."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely

from ecozone.layers.kinds import LAYER_KINDS
from ecozone.zoning.catalog import load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex
from geo import GEOD, geodesic_distance
CATALOG = load_catalog()
LON0, LAT0 = 107.7, 29.5
HALF_WIDTH = 50.0


def _attributes(rule) -> dict:
    kind = LAYER_KINDS[rule.zone.kind]
    attrs = {"feature_id": "f1"}
    for a in kind.required + kind.optional:
        if a in rule.zone.where:
            attrs[a] = rule.zone.where[a][0]
        elif a in kind.enums:
            attrs[a] = kind.enums[a][-1] if a == "river_class" else kind.enums[a][0]
        elif a == "half_width_m":
            attrs[a] = HALF_WIDTH
        elif a == "outlet_bearing_deg":
            attrs[a] = 180.0  # drains south
        elif a in ("area_ha",):
            attrs[a] = 1.0
        else:
            attrs[a] = "测试要素"
    return attrs


def _feature_geometry(rule):
    if rule.zone.kind == "river":  # a river running west–east along the parallel LAT0
        return shapely.LineString([(LON0 - 0.3, LAT0), (LON0 + 0.3, LAT0)])
    return shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)


def _scene(rule, code: str | None = None) -> Engine:
    district = gpd.GeoDataFrame(
        {"feature_id": ["d"], "code": [code or rule.jurisdiction], "name": ["测试辖区"]},
        geometry=[shapely.box(LON0 - 0.5, LAT0 - 0.5, LON0 + 0.5, LAT0 + 0.5)], crs=4326,
    )
    feature = gpd.GeoDataFrame([_attributes(rule)], geometry=[_feature_geometry(rule)], crs=4326)
    return Engine(ZoneIndex(CATALOG, [
        LayerFeatures("districts", "districts", "district", district),
        LayerFeatures("layer", "layer", rule.zone.kind, feature),
    ]))


def _offset_site(rule, metres_from_edge: float, azimuth: float):
    """A point `metres_from_edge` from the feature's edge (shoreline for rivers) along `azimuth`."""
    geom = _feature_geometry(rule)
    if rule.zone.kind == "river":
        start_lon, start_lat = LON0, LAT0
        along = metres_from_edge + (HALF_WIDTH if rule.zone.measured_from == "shoreline" else 0)
    else:  # start on the box edge facing the azimuth (north or south)
        start_lon, start_lat = LON0, LAT0 + (0.01 if azimuth == 0 else -0.01)
        along = metres_from_edge
    lon, lat, _ = GEOD.fwd(start_lon, start_lat, azimuth, along)
    expected = geodesic_distance(lon, lat, geom)
    if rule.zone.kind == "river" and rule.zone.measured_from == "shoreline":
        expected -= HALF_WIDTH
    return shapely.Point(lon, lat), expected


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
        inside, expected = shapely.Point(LON0 + 0.003, LAT0 + 0.002), 0.0
        outsides = [shapely.Point(LON0 + 0.1, LAT0 + 0.1)]

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
