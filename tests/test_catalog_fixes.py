"""Focused tests for the catalog fixes of issue 12 (the rule-fidelity review), one group per plan:
each shows a fix the rule-zone and project-type matrix tests do not already show."""

from __future__ import annotations

from scenes import engine_with, rule_ids


# --- 涪陵 (Fuling) ---------------------------------------------------------------------------

def test_fuling_waterway_works_in_the_red_line_are_restricted_not_banned():
    """「严格限制在…生态保护红线…实施航道整治工程；确需整治的，应当经科学论证」: the specific sentence
    sets the red-line ban aside for waterway works, and only for them."""
    import shapely

    from scenes import LAT0, LON0

    box = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)
    engine = engine_with("500102", "red_line", [{"name": "红线"}], [box])
    site = shapely.Point(LON0, LAT0)
    ev = engine.evaluate(site, "waterway_engineering")
    assert ev.verdict == "restricted"
    assert "fuling-waterway-red-line" in rule_ids(ev)
    assert [f.rule.id for f in ev.superseded_findings] == ["fuling-red-line"]
    assert engine.evaluate(site, "real_estate").verdict == "prohibited"
    # Project unknown: nothing is set aside, the red-line ban is reported and decides.
    ev = engine.evaluate(site)
    assert "fuling-red-line" in rule_ids(ev) and ev.verdict == "prohibited" and not ev.superseded_findings
    # A project that is waterway works and real estate at once keeps the ban for its real estate.
    assert engine.evaluate(site, ["waterway_engineering", "real_estate"]).verdict == "prohibited"


def test_fuling_tributary_chemical_ban_binds_main_stem_and_major_tributaries_only():
    """长江干支流 is the main stem and the listed tributaries (river_class major_tributary), not
    every stream loaded."""
    import shapely

    from geo import GEOD
    from scenes import LAT0, LON0

    line = shapely.LineString([(LON0 - 0.3, LAT0), (LON0 + 0.3, LAT0)])
    lon, lat, _ = GEOD.fwd(LON0, LAT0, 0.0, 600.0)
    site = shapely.Point(lon, lat)
    for river_class, bound in (("mainstem", True), ("major_tributary", True), ("tributary", False)):
        engine = engine_with("500102", "river", [{"name": "某河", "river_class": river_class, "half_width_m": 0.0}], [line])
        ids = rule_ids(engine.evaluate(site, "chemical"))
        assert ("fuling-yangtze-tributaries-1km-chemical" in ids) is bound, river_class


def test_fuling_built_up_area_and_population_clusters_are_told_apart():
    """城市建成区 (boilers, noisy plants) is the built_up class only; 人口聚集区 (heavy metals) is
    every settlement, the built-up area included."""
    import shapely

    from scenes import LAT0, LON0

    box = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01)
    site = shapely.Point(LON0, LAT0)
    for settlement_class, built_up in (("built_up", True), ("population_cluster", False)):
        engine = engine_with("500102", "settlement", [{"name": "聚居区", "settlement_class": settlement_class}], [box])
        assert ("fuling-built-up-coal-boiler" in rule_ids(engine.evaluate(site, "small_coal_boiler"))) is built_up
        assert ("fuling-built-up-noisy-industry" in rule_ids(engine.evaluate(site, "textile"))) is built_up
        assert "fuling-heavy-metal-settlement" in rule_ids(engine.evaluate(site, "electroplating"))


def test_fuling_small_coal_boilers_are_eliminated_district_wide():
    """「全面淘汰10蒸吨/小时及以下燃煤锅炉」 binds everywhere in the district; the 20 t/h ban only in
    the built-up area."""
    import shapely

    from scenes import LAT0, LON0

    engine = engine_with("500102", "settlement", [], [])
    site = shapely.Point(LON0 + 0.4, LAT0 - 0.4)  # far from any settlement
    assert engine.evaluate(site, "coal_boiler_10t").verdict == "prohibited"
    assert "fuling-district-coal-boiler-10t" not in rule_ids(engine.evaluate(site, "small_coal_boiler"))
    assert engine.evaluate(site, "small_hydropower").verdict == "restricted"
    assert engine.evaluate(shapely.Point(LON0 + 0.7, LAT0), "coal_boiler_10t").verdict == "not_covered"


# --- 渝北 (Yubei) and 万盛 (Wansheng) ---------------------------------------------------------

def _yubei_wansheng_box():
    import shapely

    from scenes import LAT0, LON0

    return shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01), shapely.Point(LON0, LAT0)


def _yubei_wansheng_found(ev, rule_id: str):
    return next((f for f in ev.findings if f.rule.id == rule_id), None)


def test_yubei_greenbelt_binds_the_yangtze_only():
    """The 50 m / 100 m green belts stand under 「实施长江岸线湿地保护修复」: a Yangtze rule, not one
    for every river with a `reach`."""
    import shapely

    from geo import GEOD
    from scenes import LAT0, LON0

    line = shapely.LineString([(LON0 - 0.3, LAT0), (LON0 + 0.3, LAT0)])
    near = [shapely.Point(*GEOD.fwd(LON0, LAT0, 0.0, d)[:2]) for d in (30.0, 80.0)]
    for name, reach, rule_id, bound in (
        ("长江", "urban", "yubei-greenbelt-urban-50m", True), ("长江", "rural", "yubei-greenbelt-rural-100m", True),
        ("御临河", "urban", "yubei-greenbelt-urban-50m", False), ("御临河", "rural", "yubei-greenbelt-rural-100m", False),
    ):
        row = {"name": name, "river_class": "mainstem" if name == "长江" else "tributary", "reach": reach,
               "half_width_m": 0.0}
        engine = engine_with("500112", "river", [row], [line])
        site = near[0] if reach == "urban" else near[1]
        assert (_yubei_wansheng_found(engine.evaluate(site, "real_estate"), rule_id) is not None) is bound, (name, reach)


def test_yubei_built_up_area_and_population_clusters_are_told_apart():
    """建成区 (noisy plants) is the built_up class only; 人口聚集区 (heavy metals) is both classes."""
    box, site = _yubei_wansheng_box()
    for settlement_class, built_up in (("built_up", True), ("population_cluster", False)):
        engine = engine_with("500112", "settlement", [{"name": "聚居区", "settlement_class": settlement_class}],
                                        [box])
        assert (_yubei_wansheng_found(engine.evaluate(site, "textile"), "yubei-built-up-noisy-industry")
                is not None) is built_up
        assert _yubei_wansheng_found(engine.evaluate(site, "electroplating"), "yubei-heavy-metal-settlement")


def test_yubei_cross_border_basin_ban_binds_cross_border_basins_and_quotes_its_condition():
    """「严禁发展高风险、高污染产业」 in the cross-border river basins: any polluting industry is bound
    (with the plan's words as the condition), only in basins marked cross-border."""
    box, site = _yubei_wansheng_box()
    rule_id = "yubei-cross-border-basin-polluting-industry"
    for cross_border, bound in (("yes", True), ("no", False)):
        engine = engine_with("500112", "river_basin", [{"name": "御临河流域", "cross_border": cross_border}],
                                        [box])
        for code in ("textile", "electroplating", "chemical_park"):
            f = _yubei_wansheng_found(engine.evaluate(site, code), rule_id)
            assert (f is not None) is bound, (cross_border, code)
            if f is not None:
                assert f.rule.effect == "prohibited" and f.rule.exception.text == "高风险、高污染产业"
        assert _yubei_wansheng_found(engine.evaluate(site, "tourism"), rule_id) is None


def test_yubei_parks_ban_high_noise_projects_and_the_outside_parks_exception_is_kept():
    """Inside a park: 「禁止高噪声污染项目入园区」 (its condition quoted). Outside: the industrial ban
    with 「除在安全生产或者产业布局等方面有特殊要求外」 as its exception."""
    box, site = _yubei_wansheng_box()
    engine = engine_with("500112", "industrial_park", [{"name": "空港工业园"}], [box])
    ev = engine.evaluate(site, "textile")
    f = _yubei_wansheng_found(ev, "yubei-industrial-park-high-noise")
    assert ev.verdict == "prohibited" and f.rule.exception.text == "高噪声污染项目"
    assert _yubei_wansheng_found(engine.evaluate(site, "electroplating"), "yubei-industrial-park-high-noise") is None
    import shapely

    from scenes import LAT0, LON0

    outside = engine.evaluate(shapely.Point(LON0 + 0.3, LAT0 + 0.3), "industrial")
    f = _yubei_wansheng_found(outside, "yubei-outside-parks-industrial")
    assert f.rule.effect == "prohibited" and "特殊要求" in f.rule.exception.text


def test_yubei_control_units_are_restricted_only_where_priority():
    """三线一单: every unit is a notice pointing at its access list; only 优先保护单元 restrict."""
    box, site = _yubei_wansheng_box()
    for unit_class, verdict in (("priority", "restricted"), ("key", "notice"), ("general", "notice")):
        row = {"code": "ZH50011210001", "unit_class": unit_class, "access_list": "空间布局约束：…"}
        ev = engine_with("500112", "control_unit", [row], [box]).evaluate(site, "real_estate")
        assert ev.verdict == verdict, unit_class
        assert _yubei_wansheng_found(ev, "yubei-control-unit") is not None
        assert [u["code"] for u in ev.control_units] == ["ZH50011210001"]


def test_wansheng_scenic_area_rule_binds_the_core_zone_only():
    """「严格保护黑山-石林风景名胜区核心景点自然景观」: the core scenic spots, not the whole area."""
    box, site = _yubei_wansheng_box()
    for zone, bound in (("core", True), ("general", False)):
        row = {"name": "黑山-石林风景名胜区", "category": "scenic_area", "level": "municipal", "zone": zone}
        ev = engine_with("500110WS", "protected_area", [row], [box]).evaluate(site, "real_estate")
        assert (_yubei_wansheng_found(ev, "wansheng-heishan-shilin-scenic-area") is not None) is bound, zone


def test_wansheng_has_its_own_code_and_never_binds_qijiang():
    """万盛经开区 is bound to "500110WS": a 綦江区 district (GB 500110) gets none of its rules and,
    having no plan loaded, is not_covered — never "permitted" by 万盛's catalog."""
    box, site = _yubei_wansheng_box()
    assert {p.jurisdiction_code for p in engine_with("500110WS", "red_line", [], []).catalog.plans
            if p.jurisdiction_name == "万盛经开区"} == {"500110WS"}
    wansheng = engine_with("500110WS", "red_line", [{"name": "红线"}], [box]).evaluate(site, "real_estate")
    assert wansheng.verdict == "prohibited" and _yubei_wansheng_found(wansheng, "wansheng-red-line")
    qijiang = engine_with("500110", "red_line", [{"name": "红线"}], [box]).evaluate(site, "real_estate")
    assert qijiang.verdict == "not_covered"
    assert not any(f.rule.id.startswith("wansheng-") for f in qijiang.findings)


def test_wansheng_contaminated_plot_waits_on_its_survey_and_a_remediated_one_is_free():
    """「对拟纳入开发的污染地块需经土壤环境调查评估…方可进行开发利用」: restricted, the condition quoted;
    a remediated plot is not bound."""
    box, site = _yubei_wansheng_box()
    for status, bound in (("suspected", True), ("confirmed", True), ("remediated", False)):
        engine = engine_with("500110WS", "contaminated_site", [{"name": "原晋林机械厂", "status": status}],
                                        [box])
        f = _yubei_wansheng_found(engine.evaluate(site, "real_estate"), "wansheng-contaminated-site")
        assert (f is not None) is bound, status
        if f is not None:
            assert f.rule.effect == "restricted" and "土壤环境调查评估" in f.rule.exception.text


# --- 武隆 (Wulong) and 巫溪 (Wuxi) ------------------------------------------------------------

def test_wuxi_tributary_lines_no_longer_bind_housing_roads_or_tourism():
    """「严控…长江支流岸线“1公里”和“5公里”两条空间红线」: the 1 km line restricts polluting industry,
    the 5 km line new parks; a house, a road or a tourism project by the 大宁河 is not bound."""
    import shapely

    from geo import GEOD
    from scenes import LAT0, LON0

    line = shapely.LineString([(LON0 - 0.3, LAT0), (LON0 + 0.3, LAT0)])
    engine = engine_with("500238", "river", [{"name": "大宁河", "river_class": "mainstem", "half_width_m": 0.0}],
                            [line])
    near, far = (shapely.Point(*GEOD.fwd(LON0, LAT0, 0.0, d)[:2]) for d in (600.0, 3000.0))
    lines = {"wuxi-tributaries-1km", "wuxi-tributaries-5km"}
    for code in ("real_estate", "tourism", "construction"):
        assert not lines & rule_ids(engine.evaluate(near, code)), code
    assert engine.evaluate(near, "real_estate").verdict == "permitted"
    ev = engine.evaluate(near, "textile")
    assert "wuxi-tributaries-1km" in rule_ids(ev) and ev.verdict == "restricted"
    assert "wuxi-tributaries-1km" not in rule_ids(engine.evaluate(far, "textile"))
    assert "wuxi-tributaries-5km" in rule_ids(engine.evaluate(far, "industrial_park"))
    assert {"wuxi-tributaries-1km", "wuxi-tributaries-5km"} <= rule_ids(engine.evaluate(near, "chemical_park"))


def test_wulong_geohazard_ban_is_for_collapse_and_landslide_danger_areas_and_debris_flow_prone_areas():
    """「禁止在崩塌、滑坡危险区和泥石流易发区从事…一切可能造成水土流失的生产建设活动」: a landslide-prone
    (not danger) area is not banned; a debris-flow area is, whatever its grade; the condition is quoted."""
    import shapely

    from scenes import LAT0, LON0

    box, site = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01), shapely.Point(LON0, LAT0)
    rules = {"wulong-geohazard-zone", "wulong-geohazard-debris-flow"}
    for row, banned in (
        ({"hazard": "landslide", "grade": "danger"}, True), ({"hazard": "collapse", "grade": "danger"}, True),
        ({"hazard": "landslide", "grade": "prone"}, False), ({"hazard": "collapse", "grade": "prone"}, False),
        ({"hazard": "debris_flow", "grade": "prone"}, True), ({"hazard": "debris_flow", "grade": "danger"}, True),
        ({"hazard": "debris_flow"}, True), ({"hazard": "other", "grade": "danger"}, False),
    ):
        ev = engine_with("500156", "geohazard_zone", [row], [box]).evaluate(site, "real_estate")
        found = [f for f in ev.findings if f.rule.id in rules]
        assert bool(found) is banned, row
        if found:
            assert ev.verdict == "prohibited" and "可能造成水土流失" in found[0].rule.exception.text


def test_wuxi_farming_in_the_red_line_is_a_notice_while_building_stays_banned():
    """「红线内已有的农业用地建立逐步退出机制」 (notice for farming); the red-line ban binds building."""
    import shapely

    from scenes import LAT0, LON0

    box, site = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01), shapely.Point(LON0, LAT0)
    engine = engine_with("500238", "red_line", [{"name": "红线"}], [box])
    ev = engine.evaluate(site, "planting")
    assert ev.verdict == "notice" and rule_ids(ev) == {"wuxi-red-line-farmland-exit"}
    assert engine.evaluate(site, "real_estate").verdict == "prohibited"


def test_wuxi_livestock_and_aquaculture_zones_and_wulong_livestock_only():
    """Wuxi 「严格畜禽养殖和水产养殖禁养区、限养区管理」: both kinds of farming, banned in 禁养区 and
    restricted in 限养区; Wulong's 「畜禽养殖分区管理规定」 binds livestock only, by deferring to the
    national ban (条例 第十一条). 适养区 bind nothing."""
    import shapely

    from scenes import LAT0, LON0

    box, site = shapely.box(LON0 - 0.01, LAT0 - 0.01, LON0 + 0.01, LAT0 + 0.01), shapely.Point(LON0, LAT0)
    for zone_class, verdict in (("no_farming", "prohibited"), ("limited", "restricted"), ("suitable", "permitted")):
        wuxi = engine_with("500238", "livestock_zone", [{"zone_class": zone_class}], [box])
        wulong = engine_with("500156", "livestock_zone", [{"zone_class": zone_class}], [box])
        for code in ("livestock_farm", "aquaculture"):
            assert wuxi.evaluate(site, code).verdict == verdict, (zone_class, code)
        assert wulong.evaluate(site, "livestock_farm").verdict == verdict, zone_class
        assert wulong.evaluate(site, "aquaculture").verdict == "permitted", zone_class
    from scenes import CATALOG

    assert CATALOG.by_id["wulong-livestock-no-farming"].defers_to.section == "第十一条"
