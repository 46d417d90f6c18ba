"""The issue's named rules on the shipped demo data, through the HTTP API: a site inside each
zone and one outside it, distances checked against geodesic values from pyproj.Geod."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from conftest import shoreline_distance

TOL = 0.005


def check(client, lon, lat, project_type=None, **extra):
    body = {"geometry": {"type": "Point", "coordinates": [lon, lat]}, **extra}
    if project_type:
        body["project_type"] = project_type
    resp = client.post("/v1/siting/check", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def finding(answer, rule_id):
    return next((f for f in answer["findings"] if f["rule_id"] == rule_id), None)


# --- the "done when" ---------------------------------------------------------------

def test_wulong_500m_from_wu_river_heavy_chemical_is_prohibited(client, wu_river_site):
    lon, lat, expected = wu_river_site(500)
    a = check(client, lon, lat, "heavy_chemical")
    assert a["verdict"] == "prohibited"
    assert a["jurisdictions"] == [{"code": "500156", "name": "武隆区", "planned": True}]
    f = finding(a, "wulong-wu-river-1km")
    assert f["effect"] == "prohibited" and f["layer"] == "rivers" and f["feature_name"] == "乌江"
    assert abs(f["distance_m"] - expected) <= TOL * expected
    assert f["threshold_m"] == 1000
    assert f["citation"]["document"] == "重庆市武隆区生态环境保护“十四五”规划"
    assert f["citation"]["section"] == "第五章 第一节"
    assert "禁止在乌江岸线1公里范围内新建重化工、纺织、造纸等存在污染风险的工业项目" in f["citation"]["text"]
    assert a["data_version"] and a["map_url"].startswith("/v1/siting/map.html?")


def test_same_site_as_tourism_is_not_prohibited_by_the_1km_rule(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    a = check(client, lon, lat, "tourism")
    assert finding(a, "wulong-wu-river-1km") is None
    assert a["verdict"] != "prohibited"


def test_wulong_3km_from_wu_river_industrial_park_is_prohibited_by_5km_rule(client, wu_river_site):
    lon, lat, expected = wu_river_site(3000)
    a = check(client, lon, lat, "industrial_park")
    assert a["verdict"] == "prohibited"
    f = finding(a, "wulong-wu-river-5km-industrial-park")
    assert f is not None and abs(f["distance_m"] - expected) <= TOL * expected and f["threshold_m"] == 5000
    assert finding(a, "wulong-wu-river-1km") is None  # 3 km is outside the 1 km line


def test_without_project_type_every_rule_the_site_falls_under_is_reported(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    ids = {f["rule_id"] for f in check(client, lon, lat)["findings"]}
    assert {"wulong-wu-river-1km", "wulong-wu-river-5km-industrial-park", "wulong-wu-river-1km-risk-survey"} <= ids


def test_generic_industrial_project_gets_the_polluting_ban_as_conditional(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    a = check(client, lon, lat, "industrial")
    assert finding(a, "wulong-wu-river-1km") is None
    assert "wulong-wu-river-1km" in [f["rule_id"] for f in a["conditional_findings"]]


# --- river buffers of every plan: inside and outside -----------------------------------------

RIVER_CASES = [
    # rule, rivers, district, project type, inside m, outside m, river filters
    ("wulong-wu-river-1km", ["乌江"], "500156", "textile", 700, 1400, {}),
    ("wulong-wu-river-5km-industrial-park", ["乌江"], "500156", "chemical_park", 4500, 5600, {}),
    ("fuling-yangtze-tributaries-1km-chemical", ["长江"], "500102", "chemical_park", 600, 1500, {}),
    ("fuling-yangtze-wu-1km-risk-industry", ["长江", "乌江"], "500102", "dyeing", 800, 1300, {}),
    ("fuling-tailings-yangtze-3km", ["长江"], "500102", "tailings_pond", 2500, 3500, {}),
    ("fuling-tailings-wu-1km", ["乌江"], "500102", "tailings_pond", 700, 1300, {}),
    ("wuxi-tributaries-1km", ["大宁河"], "500238", "textile", 600, 1300, {}),
    ("wuxi-tributaries-5km", ["湾滩河"], "500238", "industrial_park", 4000, 5500, {}),
    ("wuxi-tributaries-5km", ["汾水河"], "500238", "industrial_park", 2000, 5500, {}),
    ("wuxi-tailings-key-rivers-3km", ["梅溪河"], "500238", "tailings_pond", 2000, 3400, {}),
    ("wuxi-tailings-important-tributaries-1km", ["长溪河"], "500238", "tailings_pond", 500, 1200, {}),
    ("yubei-yangtze-1km-chemical", ["长江"], "500112", "heavy_chemical", 500, 1300, {}),
    ("yubei-greenbelt-urban-50m", ["长江"], "500112", "real_estate", 30, 70, {"reach": "urban"}),
    ("yubei-greenbelt-rural-100m", ["长江"], "500112", "construction", 60, 140, {"reach": "rural"}),
]


@pytest.mark.parametrize("rule_id, names, code, ptype, inside_m, outside_m, filters", RIVER_CASES,
                         ids=[f"{c[0]}-{c[1][0]}" for c in RIVER_CASES])
def test_river_rule_inside_and_outside(client, river_site, demo_layer, catalog,
                                       rule_id, names, code, ptype, inside_m, outside_m, filters):
    rule = catalog.by_id[rule_id]
    lon, lat, expected = river_site(names, code, inside_m, **filters)
    a = check(client, lon, lat, ptype)
    f = finding(a, rule_id)
    assert f is not None, f"{rule_id}: not found {inside_m} m from {names}"
    assert f["effect"] == rule.effect and f["threshold_m"] == rule.zone.buffer_m
    assert abs(f["distance_m"] - expected) <= max(TOL * expected, 0.5)
    assert code in [j["code"] for j in a["jurisdictions"]]

    # outside: beyond the threshold from every river the rule measures from
    lon, lat, _ = river_site(names, code, outside_m, **filters)
    rivers = demo_layer("rivers")
    matching = rivers[rivers["name"].isin(rule.zone.where.get("name", rivers["name"].unique()))]
    for attr, values in rule.zone.where.items():
        matching = matching[matching[attr].isin(values)]
    assert shoreline_distance(lon, lat, matching) > rule.zone.buffer_m
    assert finding(check(client, lon, lat, ptype), rule_id) is None


def test_wuxi_downstream_of_tailings_pond(client, demo_layer):
    """坚决杜绝在尾矿库下游1公里范围内新建生产生活设施: the demo pond drains south (180°)."""
    from geo import GEOD, geodesic_distance

    ponds = demo_layer("tailings_ponds")
    pond = ponds[ponds["district_code"] == "500238"].iloc[0]
    assert pond["outlet_bearing_deg"] == 180
    c = pond.geometry.centroid
    south_edge = shapely.Point(c.x, pond.geometry.bounds[1])
    north_edge = shapely.Point(c.x, pond.geometry.bounds[3])
    lon, lat, _ = GEOD.fwd(south_edge.x, south_edge.y, 180, 600)
    a = check(client, lon, lat, "real_estate")
    f = finding(a, "wuxi-tailings-downstream-1km")
    assert f is not None and a["verdict"] == "prohibited"
    assert abs(f["distance_m"] - geodesic_distance(lon, lat, pond.geometry)) <= 0.005 * 600
    lon, lat, _ = GEOD.fwd(north_edge.x, north_edge.y, 0, 600)  # as near, upstream
    assert finding(check(client, lon, lat, "real_estate"), "wuxi-tailings-downstream-1km") is None
    lon, lat, _ = GEOD.fwd(south_edge.x, south_edge.y, 180, 1300)  # downstream, beyond 1 km
    assert finding(check(client, lon, lat, "real_estate"), "wuxi-tailings-downstream-1km") is None


# --- zone (polygon) rules of every plan: inside and outside ----------------------------------

def _inside(frame, code, districts):
    district = districts[districts["code"] == code].geometry.iloc[0]
    geom = shapely.union_all(frame.geometry.to_numpy()).intersection(district)
    return geom.representative_point()


def _outside(frame, code, districts, margin_deg=0.01):
    """A point of the district at least ~1 km from every feature of `frame`."""
    district = districts[districts["code"] == code].geometry.iloc[0]
    keep_out = shapely.union_all(frame.geometry.to_numpy()).buffer(margin_deg)
    xmin, ymin, xmax, ymax = district.bounds
    for x in np.linspace(xmin, xmax, 40):
        for y in np.linspace(ymin, ymax, 40):
            p = shapely.Point(x, y)
            if district.contains(p) and not keep_out.contains(p):
                return p
    raise AssertionError("no outside point")


ZONE_CASES = [
    # rule, layer, {attr: values} selecting the features, district, project type
    ("wulong-red-line", "red_lines", {"district_code": ["500156"]}, "500156", "tourism"),
    ("wansheng-red-line", "red_lines", {"district_code": ["500110WS"]}, "500110WS", "construction"),
    ("fuling-red-line", "red_lines", {"district_code": ["500102"]}, "500102", "real_estate"),
    ("yubei-red-line", "red_lines", {"district_code": ["500112"]}, "500112", "construction"),
    ("wuxi-red-line", "red_lines", {"district_code": ["500238"]}, "500238", "tourism"),
    ("yubei-simountain-real-estate", "mountain_zones", {"name": ["铜锣山"], "zone_class": ["no_build"]}, "500112",
     "real_estate"),
    ("yubei-simountain-real-estate", "mountain_zones", {"name": ["明月山"], "zone_class": ["key_control"]}, "500112",
     "real_estate"),
    ("yubei-simountain-project-access", "mountain_zones", {"name": ["明月山"], "zone_class": ["general"]}, "500112",
     "tourism"),
    ("wansheng-guanba-water-polluting-industry", "industrial_parks", {"name": ["关坝组团"]}, "500110WS",
     "water_polluting_industry"),
    ("wuxi-protected-area", "protected_areas", {"district_code": ["500238"]}, "500238", "construction"),
    ("wulong-protected-area-tourism", "protected_areas", {"district_code": ["500156"]}, "500156", "tourism"),
    ("yubei-forest-park-tourism-layout", "protected_areas", {"category": ["forest_park"]}, "500112", "tourism"),
    ("wansheng-heishan-shilin-scenic-area", "protected_areas", {"name": ["黑山-石林风景名胜区"], "zone": ["core"]},
     "500110WS", "construction"),
    ("fuling-barrier-zone-mining", "barrier_zones", {}, "500102", "mining"),
    ("wulong-geohazard-zone", "geohazard_zones", {}, "500156", "construction"),
    ("wuxi-drawdown-zone-livestock", "drawdown_zones", {"district_code": ["500238"]}, "500238", "livestock_farm"),
    ("wuxi-water-source-first-zone-planting", "water_sources",
     {"district_code": ["500238"], "zone_class": ["first"]}, "500238", "planting"),
    ("yubei-noise-class1-industry", "noise_zones", {"noise_class": ["1"], "district_code": ["500112"]}, "500112",
     "noisy_industry"),
    ("yubei-noise-class2-industry", "noise_zones", {"noise_class": ["2"]}, "500112", "noisy_industry"),
    ("wuxi-sensitive-buildings-entertainment", "sensitive_sites", {"category": ["heritage"]}, "500238",
     "entertainment_venue"),
    ("fuling-heavy-metal-settlement", "settlements", {"district_code": ["500102"]}, "500102", "heavy_metal"),
    ("wulong-ecological-space", "ecological_space", {"district_code": ["500156"]}, "500156", "construction"),
]


@pytest.mark.parametrize("rule_id, layer, select, code, ptype", ZONE_CASES, ids=[c[0] + "-" + c[1] for c in ZONE_CASES])
def test_zone_rule_inside_and_outside(client, demo_layer, catalog, rule_id, layer, select, code, ptype):
    rule = catalog.by_id[rule_id]
    frame = demo_layer(layer)
    for attr, values in select.items():
        frame = frame[frame[attr].astype(str).isin(values)]
    assert len(frame), f"demo layer {layer} has no feature for {select}"
    districts = demo_layer("districts")
    p = _inside(frame, code, districts)
    a = check(client, p.x, p.y, ptype)
    f = finding(a, rule_id)
    assert f is not None and f["effect"] == rule.effect and f["distance_m"] == 0
    order = ["prohibited", "restricted", "notice", "permitted"]
    assert order.index(a["verdict"]) <= order.index(rule.effect)
    q = _outside(frame, code, districts)
    assert finding(check(client, q.x, q.y, ptype), rule_id) is None


def test_outside_industrial_parks_yubei_bans_new_industry(client, demo_layer):
    parks = demo_layer("industrial_parks")
    districts = demo_layer("districts")
    yubei_parks = parks[parks["district_code"] == "500112"]
    out = _outside(yubei_parks, "500112", districts)
    a = check(client, out.x, out.y, "industrial")
    f = finding(a, "yubei-outside-parks-industrial")
    assert f is not None and a["verdict"] == "prohibited"
    inside = _inside(yubei_parks.iloc[:1], "500112", districts)
    assert finding(check(client, inside.x, inside.y, "industrial"), "yubei-outside-parks-industrial") is None


def test_wuxi_200m_around_schools_and_hospitals(client, demo_layer):
    from geo import GEOD

    sites = demo_layer("sensitive_sites")
    school = sites[(sites["name"] == "尖山小学")].geometry.iloc[0]
    lon, lat, _ = GEOD.fwd(school.centroid.x, school.bounds[3], 0, 120)
    assert finding(check(client, lon, lat, "entertainment_venue"), "wuxi-school-hospital-200m-entertainment")
    lon, lat, _ = GEOD.fwd(school.centroid.x, school.bounds[3], 0, 320)
    assert finding(check(client, lon, lat, "entertainment_venue"), "wuxi-school-hospital-200m-entertainment") is None


def test_parcel_polygon_overlap_with_red_line(client, demo_layer):
    """A parcel straddling the Wuxi red-line edge: overlap area and ratio, geodesically."""
    from geo import GEOD

    red = demo_layer("red_lines")
    red = red[red["district_code"] == "500238"].geometry.iloc[0]
    p = red.representative_point()
    edge = red.boundary.interpolate(red.boundary.project(p))
    parcel = shapely.box(edge.x - 0.004, edge.y - 0.004, edge.x + 0.004, edge.y + 0.004)
    resp = client.post("/v1/siting/check", json={"geometry": shapely.geometry.mapping(parcel),
                                                 "project_type": "construction"})
    a = resp.json()
    f = finding(a, "wuxi-red-line")
    inside, _ = GEOD.geometry_area_perimeter(shapely.segmentize(parcel.intersection(red), 0.0002))
    total, _ = GEOD.geometry_area_perimeter(shapely.segmentize(parcel, 0.0002))
    assert f is not None and 0 < f["overlap_ratio"] < 1
    assert abs(f["overlap_area_m2"] / abs(inside) - 1) < TOL
    assert abs(a["site"]["area_m2"] / abs(total) - 1) < TOL


@pytest.mark.parametrize("crs", ["EPSG:4490", "EPSG:4545", "EPSG:4546", "GCJ02"])
def test_same_site_in_every_accepted_crs(client, wu_river_site, crs):
    from fast_geocn import coord
    from pyproj import Transformer

    lon, lat, _ = wu_river_site(500)
    if crs == "GCJ02":
        x, y = coord.wgs84_to_gcj02(lon, lat)
    else:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    a = check(client, x, y, "heavy_chemical", crs=crs)
    ref = check(client, lon, lat, "heavy_chemical")
    assert a["verdict"] == ref["verdict"] == "prohibited"
    assert abs(finding(a, "wulong-wu-river-1km")["distance_m"] - finding(ref, "wulong-wu-river-1km")["distance_m"]) < 0.5


def test_multi_geometries_and_lines(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    far_lon, far_lat, _ = wu_river_site(3000)
    multi = {"type": "MultiPoint", "coordinates": [[lon, lat], [far_lon, far_lat]]}
    a = client.post("/v1/siting/check", json={"geometry": multi, "project_type": "heavy_chemical"}).json()
    assert finding(a, "wulong-wu-river-1km")["distance_m"] < 520
    line = {"type": "LineString", "coordinates": [[far_lon, far_lat], [lon, lat]]}
    a = client.post("/v1/siting/check", json={"geometry": line, "project_type": "heavy_chemical"}).json()
    assert a["verdict"] == "prohibited" and a["site"]["length_m"] > 2000


def test_every_rule_has_demo_zones_except_fulings_unnamed_protected_areas(client):
    """Every rule of the five plans binds at least one demo feature, except the three Fuling
    protected-area rules: the Fuling plan names no protected area (only 「自然保护区」 in general and
    its 「两区五园」 parks), so the demo draws none there rather than invent one; and Wuxi's two
    slope rules, whose zones are derived from a DEM, which the demo does not ship. Those rules say
    so in GET /v1/rules, and /healthz counts them."""
    rules = client.get("/v1/rules").json()
    unbound = {r["rule_id"] for r in rules if r["zone_count"] == 0}
    assert unbound == {"fuling-protected-area", "fuling-waterway-protected-area", "fuling-heavy-metal-protected-area",
                       "wuxi-slope-25-return-to-forest", "wuxi-slope-15-25-return-to-forest"}
    assert all(r["unbound_reason"] for r in rules if r["rule_id"] in unbound)
    assert not any(r["unbound_reason"] for r in rules if r["rule_id"] not in unbound)
    assert client.get("/healthz").json()["unbound_rules"] == len(unbound)


def test_point_recorded_mine_site_is_taken_as_its_area(client, demo_layer):
    """古路镇历史遗留矿山 is a point with area_ha 12: a site on it, or within the circle of 12 ha
    (r ≈ 195 m), is on the restoration site; 300 m away it is not."""
    from geo import GEOD

    mines = demo_layer("mine_restoration")
    mine = mines[mines["name"] == "古路镇历史遗留矿山"].iloc[0]
    assert mine.geometry.geom_type == "Point" and mine["area_ha"] == 12
    p = mine.geometry
    assert finding(check(client, p.x, p.y, "construction"), "wuxi-mine-restoration-site")
    lon, lat, _ = GEOD.fwd(p.x, p.y, 90, 150)
    assert finding(check(client, lon, lat, "construction"), "wuxi-mine-restoration-site")
    lon, lat, _ = GEOD.fwd(p.x, p.y, 90, 300)
    assert finding(check(client, lon, lat, "construction"), "wuxi-mine-restoration-site") is None


# --- 万盛经开区 (500110WS) inside a loaded, unplanned 綦江区 (500110) -------------------------

def _district(demo_layer, code):
    districts = demo_layer("districts")
    return districts[districts["code"] == code].geometry.iloc[0]


def test_qijiang_outside_wansheng_is_not_covered_and_gets_no_wansheng_rule(client, demo_layer):
    qijiang, wansheng = _district(demo_layer, "500110"), _district(demo_layer, "500110WS")
    # a point of 綦江区 at least ~2 km from 万盛 (and from every other loaded district)
    others = shapely.union_all([g for c, g in zip(demo_layer("districts")["code"], demo_layer("districts").geometry)
                                if c != "500110"])
    rest = qijiang.difference(others.buffer(0.02))
    assert rest.area > 0
    p = rest.representative_point()
    assert qijiang.contains(p) and not wansheng.contains(p)
    for ptype in (None, "chemical", "construction"):
        a = check(client, p.x, p.y, ptype)
        assert a["verdict"] == "not_covered"
        assert a["jurisdictions"] == [{"code": "500110", "name": "綦江区", "planned": False}]
        assert a["coverage"]["covered"] is False and a["coverage"]["covered_ratio"] == 0
        assert not a["findings"] and not a["conditional_findings"]
        assert not any(f["rule_id"].startswith("wansheng-") for f in a["findings"])


def test_wansheng_site_lists_both_jurisdictions_and_gets_wansheng_rules(client, demo_layer):
    wansheng, qijiang = _district(demo_layer, "500110WS"), _district(demo_layer, "500110")
    red = demo_layer("red_lines")
    red = red[red["district_code"] == "500110WS"].geometry.iloc[0]
    p = red.intersection(wansheng).representative_point()
    assert wansheng.contains(p) and qijiang.contains(p)
    a = check(client, p.x, p.y, "construction")
    assert sorted((j["code"], j["name"], j["planned"]) for j in a["jurisdictions"]) == [
        ("500110", "綦江区", False), ("500110WS", "万盛经开区", True)]
    assert a["coverage"]["covered_ratio"] == 1 and a["coverage"]["covered"] is True
    assert finding(a, "wansheng-red-line") is not None and a["verdict"] == "prohibited"
    assert all(f["rule_id"].startswith("wansheng-") for f in a["findings"])


def test_wansheng_no_burn_zone_measures_its_published_7_3_km2(demo_layer):
    """「巩固7.3平方公里高污染燃料禁燃区管理成果」: the demo zone has that area on the ellipsoid."""
    from pyproj import Geod

    zones = demo_layer("fuel_ban_zones")
    zone = zones[zones["district_code"] == "500110WS"]
    assert len(zone) == 1 and zone["illustrative"].iloc[0]
    area, _ = Geod(ellps="GRS80").geometry_area_perimeter(zone.geometry.iloc[0])
    assert abs(abs(area) / 1e6 - 7.3) <= 0.005 * 7.3
    assert zone.geometry.iloc[0].within(_district(demo_layer, "500110WS"))


# --- the layers added for issue 12: each demo feature is found by its jurisdiction's rules -----

NEW_KIND_CASES = [
    # layer, {attr: values} selecting one demo feature, jurisdiction, rule of that jurisdiction, project type
    ("livestock_zones", {"district_code": ["500238"], "zone_class": ["no_farming"]}, "500238", None, "livestock_farm"),
    ("livestock_zones", {"district_code": ["500112"], "zone_class": ["no_farming"]}, "500112",
     "yubei-livestock-no-farming-zone", "livestock_farm"),
    ("livestock_zones", {"district_code": ["500102"], "zone_class": ["limited"]}, "500102",
     "fuling-livestock-limited", "livestock_farm"),
    ("fuel_ban_zones", {"district_code": ["500110WS"]}, "500110WS", None, None),
    ("fuel_ban_zones", {"district_code": ["500112"]}, "500112", "yubei-fuel-ban-zone", None),
    ("fireworks_zones", {"district_code": ["500112"]}, "500112", "yubei-fireworks-zone", "fireworks_business"),
    ("forest_land", {"district_code": ["500102"], "protection_grade": ["2"]}, "500102", "fuling-forest-land", None),
    ("forest_land", {"district_code": ["500112"], "protection_grade": ["4"]}, "500112", "yubei-forest-land", None),
    ("forest_land", {"district_code": ["500238"], "protection_grade": ["3"]}, "500238", None, None),
    ("basic_farmland", {"district_code": ["500112"]}, "500112", "yubei-basic-farmland", None),
    ("contaminated_sites", {"name": ["和美机械配件加工厂地块"]}, "500110WS", None, None),
    ("contaminated_sites", {"name": ["原晋林机械厂铸件加工区地块"]}, "500110WS", None, None),
    ("contaminated_sites", {"district_code": ["500112"]}, "500112", "yubei-contaminated-site", None),
    ("river_basins", {"cross_border": ["yes"]}, "500112", "yubei-cross-border-basin-polluting-industry", None),
    ("control_units", {"district_code": ["500112"], "unit_class": ["priority"]}, "500112",
     "yubei-control-unit-priority", None),
    ("control_units", {"district_code": ["500102"], "unit_class": ["key"]}, "500102", "fuling-control-unit", None),
    ("settlements", {"district_code": ["500112"], "settlement_class": ["population_cluster"]}, "500112",
     "yubei-heavy-metal-settlement", "heavy_metal"),
    ("protected_areas", {"name": ["黑山-石林风景名胜区"], "zone": ["core"]}, "500110WS",
     "wansheng-heishan-shilin-scenic-area", None),
    ("geohazard_zones", {"district_code": ["500110WS"], "hazard": ["other"]}, "500110WS",
     "wansheng-coal-subsidence-area", None),
    ("mountain_zones", {"district_code": ["500110WS"]}, "500110WS", "wansheng-urban-mountain-control", None),
    ("sensitive_sites", {"district_code": ["500102"], "category": ["residential"]}, "500102",
     "fuling-restaurant-residential", "restaurant"),
]


def _select(frame, select):
    for attr, values in select.items():
        frame = frame[frame[attr].astype(str).isin(values)]
    return frame


def _rules_on(catalog, kind, code, props):
    """Non-complement rules of a jurisdiction on a kind whose filter matches a feature's attributes."""
    return [r for r in catalog.rules if r.jurisdiction == code and r.zone.kind == kind and not r.zone.complement
            and all(str(props.get(a)) in vals for a, vals in r.zone.where.items())]


def _kind_of(layer_id):
    from ecozone.layers.demo import DEMO_LAYERS

    return next(kind for lid, _, kind in DEMO_LAYERS if lid == layer_id)


def _display_name(layer_id):
    from ecozone.layers.demo import DEMO_LAYERS

    return next(name for lid, name, _ in DEMO_LAYERS if lid == layer_id)


@pytest.mark.parametrize("layer, select, code, rule_id, ptype", NEW_KIND_CASES,
                         ids=[f"{c[0]}-{c[3] or c[2]}" for c in NEW_KIND_CASES])
def test_site_inside_each_new_kind_is_found_by_its_jurisdictions_rule(client, demo_layer, catalog,
                                                                       layer, select, code, rule_id, ptype):
    """A point inside the demo feature is found by the named rule (or, where none is named, by every
    rule of the jurisdiction on that kind whose filter the feature matches), at distance 0."""
    frame = _select(demo_layer(layer), select)
    assert len(frame), f"demo layer {layer} has no feature for {select}"
    row = frame.iloc[0]
    assert bool(row["illustrative"])
    assert "示意" in str(row.get("name") or "") or _display_name(layer).endswith("（示意）")
    rules = [catalog.by_id[rule_id]] if rule_id else _rules_on(catalog, _kind_of(layer), code, row.to_dict())
    assert rules, f"no rule of {code} binds {layer} {select}"
    assert all(r.jurisdiction == code for r in rules)
    p = row.geometry.intersection(_district(demo_layer, code)).representative_point()
    a = check(client, p.x, p.y, ptype)
    found = {f["rule_id"]: f for f in a["findings"]}
    for r in rules:
        assert r.id in found, (layer, select, r.id, sorted(found))
        assert found[r.id]["distance_m"] == 0 and found[r.id]["effect"] == r.effect
    assert code in [j["code"] for j in a["jurisdictions"]]


NEW_LAYERS = ("livestock_zones", "fuel_ban_zones", "fireworks_zones", "forest_land", "basic_farmland",
              "urban_boundaries", "contaminated_sites", "river_basins", "control_units")


def test_every_feature_of_the_new_layers_is_found_where_its_jurisdiction_has_a_rule(client, demo_layer, catalog):
    """Each demo feature of a new layer, at a point inside it, is found by every non-complement rule
    of its jurisdiction whose filter it matches (all rules reported: no project type)."""
    checked = set()
    for layer in NEW_LAYERS:
        frame = demo_layer(layer)
        kind = _kind_of(layer)
        assert len(frame) and frame["illustrative"].all(), layer
        for _, row in frame.iterrows():
            code = row["district_code"]
            rules = _rules_on(catalog, kind, code, row.to_dict())
            if not rules:
                continue
            p = row.geometry.intersection(_district(demo_layer, code)).representative_point()
            ids = {f["rule_id"] for f in check(client, p.x, p.y)["findings"]}
            assert {r.id for r in rules} <= ids, (layer, row["feature_id"], {r.id for r in rules} - ids)
            checked.add(kind)
    assert checked >= {"livestock_zone", "fuel_ban_zone", "fireworks_zone", "forest_land", "basic_farmland",
                       "contaminated_site", "river_basin", "control_unit"}


def test_a_site_outside_fulings_urban_boundary_and_in_its_industrial_cluster(client, demo_layer, catalog):
    """Complement rules: outside the 城镇开发边界 binds; inside the 工业集聚区 the outside-parks ban does not."""
    fuling = _district(demo_layer, "500102")
    ub = demo_layer("urban_boundaries")
    ub = ub[ub["district_code"] == "500102"].geometry.iloc[0]
    out_rules = [r.id for r in catalog.rules if r.jurisdiction == "500102" and r.zone.kind == "urban_boundary"
                 and r.zone.complement]
    farm = demo_layer("basic_farmland")
    p = farm[farm["district_code"] == "500102"].geometry.iloc[0].representative_point()
    assert fuling.contains(p) and not ub.contains(p)
    ids = {f["rule_id"] for f in check(client, p.x, p.y)["findings"]}
    assert set(out_rules) <= ids
    q = ub.representative_point()
    assert not set(out_rules) & {f["rule_id"] for f in check(client, q.x, q.y)["findings"]}

    parks = demo_layer("industrial_parks")
    cluster = parks[(parks["district_code"] == "500102") & (parks["park_type"] == "cluster")].geometry.iloc[0]
    c = cluster.representative_point()
    a = check(client, c.x, c.y, "capacity_expansion")
    assert finding(a, "fuling-outside-parks-capacity-expansion") is None
    assert finding(check(client, p.x, p.y, "capacity_expansion"), "fuling-outside-parks-capacity-expansion")
