"""Scenes built from a rule's own zone definition: one district of the rule's jurisdiction and
one feature its zone selects, so a rule can be tested inside and outside its zone without the
demo data. Expected distances come from pyproj.Geod (tests/geo.py), never from ecozone."""

from __future__ import annotations

from functools import lru_cache

import geopandas as gpd
import shapely

from ecozone.layers.kinds import LAYER_KINDS
from ecozone.zoning.catalog import load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex
from geo import GEOD, geodesic_distance

CATALOG = load_catalog()
LON0, LAT0 = 107.7, 29.5
HALF_WIDTH = 50.0


def attributes(rule) -> dict:
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


def feature_geometry(rule):
    if rule.zone.kind == "river":  # a river running west–east along the parallel LAT0
        return shapely.LineString([(LON0 - 0.3, LAT0), (LON0 + 0.3, LAT0)])
    return shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)


def scene(rule, code: str | None = None) -> Engine:
    code = code or rule.jurisdiction
    if rule.zone.kind == "district":  # a district-wide rule: its zone is the jurisdiction itself
        return engine_with(code, "district", [], [])
    return engine_with(code, rule.zone.kind, [attributes(rule)], [feature_geometry(rule)])


def offset_site(rule, metres_from_edge: float, azimuth: float):
    """A point `metres_from_edge` from the feature's edge (shoreline for rivers) along `azimuth`."""
    geom = feature_geometry(rule)
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


@lru_cache(maxsize=None)
def cached_scene(rule_id: str) -> Engine:
    return scene(CATALOG.by_id[rule_id])


def inside_site(rule) -> shapely.Geometry:
    """A point inside the rule's zone (downstream for sector zones, off the excluded features of
    a complement zone)."""
    zd = rule.zone
    if zd.complement:
        return shapely.Point(LON0 + 0.3, LAT0 + 0.3)
    if zd.buffer_m:
        return offset_site(rule, 0.6 * zd.buffer_m, 180.0 if zd.downstream_sector else 0.0)[0]
    if zd.kind == "river":  # an unbuffered river zone is the water itself: a site on the centreline
        return shapely.Point(LON0 + 0.003, LAT0)
    return shapely.Point(LON0 + 0.003, LAT0 + 0.002)


def engine_with(code: str, kind: str, rows: list[dict], geoms: list) -> Engine:
    """A district with jurisdiction `code` (a 1° box around LON0, LAT0) and features of one layer
    kind with the given attributes and geometries (none: the district alone)."""
    district = gpd.GeoDataFrame({"feature_id": ["d"], "code": [code], "name": ["测试辖区"]},
                                geometry=[shapely.box(LON0 - 0.5, LAT0 - 0.5, LON0 + 0.5, LAT0 + 0.5)], crs=4326)
    layers = [LayerFeatures("districts", "districts", "district", district)]
    if rows:
        frame = gpd.GeoDataFrame([{"feature_id": f"f{i}", **r} for i, r in enumerate(rows)], geometry=geoms, crs=4326)
        layers.append(LayerFeatures("layer", "layer", kind, frame))
    return Engine(ZoneIndex(CATALOG, layers))


def rule_ids(ev) -> set[str]:
    return {f.rule.id for f in ev.findings}
