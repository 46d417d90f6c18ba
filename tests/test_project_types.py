"""Every rule × every concrete project type, at a site inside the rule's zone: the rule binds
exactly the projects a planner reading the plan would expect, with the plan's effect.

The expectations below are a second reading of the plans, written in concrete project types
(what a planner asks about), independently of the catalog's abstract `applies_to` codes and of
the type graph in zoning/project_types.yaml. A wrong parent in the graph, or a rule naming the
wrong characteristic, shows up here as a concrete type that is wrongly bound or — worse —
wrongly left permitted.
"""

from __future__ import annotations

import pytest

from scenes import CATALOG, cached_scene, inside_site

# --- what a planner asks about (every non-characteristic type in the catalog) --------------
CONCRETE = frozenset({
    "construction", "industrial", "chemical", "heavy_chemical", "textile", "papermaking", "dyeing",
    "industrial_park", "chemical_park", "tailings_pond", "mining", "livestock_farm", "real_estate",
    "entertainment_venue", "tourism", "metal_stone_wood_processing", "electroplating", "lead_battery",
    "nonferrous_smelting", "leather_tanning", "coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t",
    "waterway_engineering", "port_wharf", "small_hydropower", "power_transmission", "restaurant",
    "fireworks_business", "planting", "aquaculture",
})
NOT_CONSTRUCTION = {"fireworks_business", "planting", "aquaculture"}
BUILD = CONCRETE - NOT_CONSTRUCTION  # 任何开发建设
AGRI = {"planting", "aquaculture", "livestock_farm"}  # 农业
CHEMICAL = {"chemical", "heavy_chemical", "chemical_park"}  # 化工 (a chemical park hosts chemical plants)
# 存在污染风险的工业 (manufacturing that discharges pollutants).
POLLUTING = CHEMICAL | {"textile", "papermaking", "dyeing", "electroplating", "lead_battery",
                        "nonferrous_smelting", "leather_tanning"}
# 涉水 (EIA catalogue's water-polluting classes).
WATER = CHEMICAL | {"textile", "papermaking", "dyeing", "electroplating", "lead_battery", "leather_tanning"}
# 产生噪声污染的工业 (GB 12348: looms, pulpers, compressors, crushers, blasting, saws).
NOISY = CHEMICAL | {"textile", "papermaking", "dyeing", "mining", "metal_stone_wood_processing",
                    "nonferrous_smelting"}
# 涉重金属排放 (Fuling 第六章 第四节 names 铅蓄电池、化学原料及化学制品制造、电镀; dyeing effluent
# carries chromium and antimony; tanning and smelting are the national key industries).
HEAVY_METAL = CHEMICAL | {"dyeing", "electroplating", "lead_battery", "nonferrous_smelting", "leather_tanning"}
INDUSTRY = POLLUTING | NOISY | {"industrial"}  # 工业项目
PARKS = {"industrial_park", "chemical_park"}
TAILINGS = {"tailings_pond"}
ENTERTAINMENT = {"entertainment_venue"}
PROCESSING = {"metal_stone_wood_processing"}
TOURISM = {"tourism"}

# rule id → (effect, the concrete types it binds)
EXPECTED: dict[str, tuple[str, set[str]]] = {
    # 涪陵
    "fuling-yangtze-tributaries-1km-chemical": ("prohibited", CHEMICAL),
    "fuling-yangtze-wu-1km-risk-industry": ("prohibited", POLLUTING),
    "fuling-tailings-yangtze-3km": ("prohibited", TAILINGS),
    "fuling-tailings-wu-1km": ("prohibited", TAILINGS),
    "fuling-barrier-zone-mining": ("prohibited", {"mining"}),
    # Waterway works in the red line are 严格限制 (确需整治的，应当经科学论证), not banned: the specific
    # sentence sets the red-line ban aside for them (fuling-waterway-red-line).
    "fuling-red-line": ("prohibited", BUILD - {"waterway_engineering"}),
    "fuling-ecological-space-off-function": ("prohibited", INDUSTRY | PARKS | {"real_estate", "tailings_pond"}),
    "fuling-ecological-space": ("restricted", BUILD),
    "fuling-protected-area": ("notice", BUILD),
    "fuling-waterway-red-line": ("restricted", {"waterway_engineering"}),
    "fuling-waterway-protected-area": ("restricted", {"waterway_engineering"}),
    "fuling-heavy-metal-red-line": ("prohibited", HEAVY_METAL),
    "fuling-heavy-metal-protected-area": ("prohibited", HEAVY_METAL),
    "fuling-heavy-metal-water-source": ("prohibited", HEAVY_METAL),
    "fuling-heavy-metal-settlement": ("prohibited", HEAVY_METAL),
    "fuling-built-up-coal-boiler": ("prohibited", {"small_coal_boiler", "coal_boiler_10t"}),
    "fuling-outside-parks-capacity-expansion": ("prohibited", set()),  # a characteristic: see below
    "fuling-noise-sensitive-industry": ("prohibited", NOISY),
    "fuling-water-source": ("notice", BUILD),
    "fuling-mine-restoration-site": ("notice", BUILD),
    "fuling-drawdown-zone": ("notice", BUILD),
    "fuling-red-line-agriculture": ("notice", AGRI),  # 红线内已有的农业用地建立逐步退出机制
    "fuling-control-unit": ("notice", BUILD),  # 实施“三线一单”生态环境分区管控
    "fuling-basic-farmland": ("notice", BUILD),  # 落实…基本农田…空间管控边界
    "fuling-outside-urban-boundary": ("notice", PARKS | {"real_estate"}),  # 城镇开发 outside its boundary
    "fuling-forest-land": ("restricted", BUILD),  # 严格林地利用管理
    "fuling-yangtze-shoreline-zoning": ("restricted", BUILD),  # 强化分区管理与用途管制
    "fuling-shoreline-port-wharf": ("restricted", {"port_wharf"}),  # 禁止…违规建设港口码头 (the unlawful only)
    "fuling-district-coal-boiler-10t": ("prohibited", {"coal_boiler_10t"}),  # 全面淘汰10蒸吨/小时及以下
    "fuling-small-hydropower": ("restricted", {"small_hydropower"}),  # 严控小水电开发
    "fuling-restaurant-residential": ("prohibited", {"restaurant"}),  # 禁止在居民住宅楼…餐饮服务项目
    # 巩固高污染燃料禁燃区: what burns high-pollution fuel (the coal boilers).
    "fuling-fuel-ban-zone": ("prohibited", {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    "fuling-livestock-no-farming": ("prohibited", {"livestock_farm"}),  # a 禁养区 carries the national ban
    "fuling-livestock-limited": ("restricted", {"livestock_farm"}),
    "fuling-contaminated-site": ("restricted", BUILD),  # 实施建设用地准入管理
    "fuling-built-up-noisy-industry": ("restricted", NOISY),  # 关停、搬迁、治理…噪声污染严重企业
    "fuling-heavy-metal-sensitive-site": ("prohibited", HEAVY_METAL),  # 生态环境敏感区 (居住、医疗、文教)
    "fuling-heavy-metal-basic-farmland": ("prohibited", HEAVY_METAL),  # 生态环境敏感区 (永久基本农田)
    # 万盛
    "wansheng-red-line": ("prohibited", BUILD | AGRI),
    "wansheng-heishan-nature-reserve": ("notice", BUILD),
    "wansheng-urban-mountain-control": ("notice", BUILD),  # 城区周边山体控制范围管理措施
    "wansheng-heishan-shilin-scenic-area": ("restricted", BUILD),  # core zone only (核心景点)
    "wansheng-nature-park-tourism-layout": ("notice", TOURISM),
    "wansheng-guanba-water-polluting-industry": ("restricted", WATER),
    "wansheng-qingnian-cluster-access": ("notice", INDUSTRY),
    "wansheng-noise-sensitive-processing": ("prohibited", PROCESSING),
    "wansheng-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "wansheng-ecological-space": ("notice", BUILD),
    "wansheng-planned-water-source": ("notice", BUILD),
    "wansheng-mine-restoration-site": ("notice", BUILD),
    "wansheng-power-lines-sensitive-sites": ("notice", {"power_transmission"}),  # 户外变电工程及架空线路
    "wansheng-livestock-no-farming-zone": ("prohibited", {"livestock_farm"}),  # 关闭26家禁养区养殖场
    "wansheng-livestock-limited-zone": ("restricted", {"livestock_farm"}),
    "wansheng-contaminated-site": ("restricted", BUILD),  # 拟纳入开发的污染地块需经土壤环境调查评估
    # 高污染燃料禁燃区: whatever burns high-pollution fuel (the coal-fired boilers).
    "wansheng-fuel-ban-zone": ("prohibited", {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    "wansheng-basic-farmland": ("restricted", BUILD | {"aquaculture"}),  # 三条控制线: 永久基本农田 (no fish ponds)
    # 三条控制线: outside the 城镇开发边界, no concentrated urban building and no new parks.
    "wansheng-outside-urban-boundary": ("restricted", PARKS | {"real_estate"}),
    "wansheng-control-unit": ("notice", BUILD),  # 三线一单 … 项目准入
    "wansheng-coal-subsidence-area": ("notice", BUILD),  # 采煤沉陷区 搬迁安置、地灾治理
    "wansheng-outside-parks-industrial": ("notice", INDUSTRY),  # 推进分散企业向工业园区集聚
    # 渝北
    "yubei-yangtze-1km-chemical": ("prohibited", CHEMICAL),
    "yubei-greenbelt-urban-50m": ("restricted", BUILD),  # 长江 only
    "yubei-greenbelt-rural-100m": ("restricted", BUILD),
    "yubei-simountain-real-estate": ("prohibited", {"real_estate"}),
    "yubei-simountain-project-access": ("restricted", BUILD),
    "yubei-outside-parks-industrial": ("prohibited", INDUSTRY),
    "yubei-control-unit": ("notice", BUILD),  # 三线一单 … 项目准入
    "yubei-control-unit-priority": ("restricted", BUILD),  # 严格落实环境分类管控要求 (优先保护单元)
    # 涉气企业: polluting industry and whatever burns high-pollution fuel.
    "yubei-control-unit-air": ("notice", POLLUTING | {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    "yubei-noise-class1-industry": ("prohibited", NOISY),
    "yubei-noise-class2-industry": ("restricted", NOISY),
    "yubei-industrial-park-high-noise": ("prohibited", NOISY),  # 禁止高噪声污染项目入园区 (condition quoted)
    "yubei-built-up-noisy-industry": ("restricted", NOISY),  # 关停、搬迁、治理建成区内的噪声污染严重企业
    "yubei-noise-sensitive-processing": ("prohibited", PROCESSING),
    "yubei-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "yubei-residential-restaurant": ("prohibited", {"restaurant"}),  # 居民住宅楼 … 餐饮服务项目
    "yubei-heavy-metal-red-line": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-protected-area": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-water-source": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-settlement": ("prohibited", HEAVY_METAL),  # 人口聚集区: built-up areas and clusters
    "yubei-heavy-metal-sensitive-site": ("prohibited", HEAVY_METAL),  # 生态环境敏感区 (居住、医疗、文教)
    "yubei-heavy-metal-basic-farmland": ("prohibited", HEAVY_METAL),  # 生态环境敏感区 (永久基本农田)
    "yubei-red-line": ("prohibited", BUILD),
    "yubei-ecological-space": ("notice", BUILD),  # 逐步退出与生态保护无关的违规违法建设用地
    "yubei-forest-land": ("notice", BUILD | AGRI),  # 加强林地用途管制 (building land or farmland)
    "yubei-forest-park-tourism-layout": ("notice", TOURISM),
    "yubei-protected-area": ("notice", BUILD),
    "yubei-mine-restoration-site": ("notice", BUILD),
    "yubei-cross-border-basin-polluting-industry": ("prohibited", POLLUTING),  # 严禁发展高风险、高污染产业
    "yubei-fireworks-zone": ("prohibited", {"fireworks_business"}),  # 禁放区内禁止生产、储存、销售烟花爆竹
    "yubei-fuel-ban-zone": ("prohibited", {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    "yubei-livestock-no-farming-zone": ("prohibited", {"livestock_farm"}),  # 严格执行畜禽养殖分区管理规定 (禁养区)
    "yubei-livestock-limited-zone": ("restricted", {"livestock_farm"}),
    "yubei-contaminated-site": ("restricted", BUILD),  # 落实建设用地质量分类管理
    "yubei-basic-farmland": ("notice", BUILD),  # 以永久基本农田保护为重点
    "yubei-water-source": ("notice", BUILD),  # 饮用水源地生态环境管理长效机制
    # 武隆
    "wulong-wu-river-1km": ("prohibited", POLLUTING),
    "wulong-wu-river-5km-industrial-park": ("prohibited", PARKS),
    "wulong-wu-river-1km-risk-survey": ("notice", INDUSTRY | PARKS),
    "wulong-red-line": ("prohibited", BUILD | AGRI),
    # 从严控制生态空间转为城镇空间和农业空间: building and new farming.
    "wulong-ecological-space": ("restricted", BUILD | AGRI),
    # 一切可能造成水土流失的生产建设活动 (崩塌、滑坡危险区; 泥石流易发区).
    "wulong-geohazard-zone": ("prohibited", BUILD),
    "wulong-geohazard-debris-flow": ("prohibited", BUILD),
    "wulong-noise-sensitive-processing": ("prohibited", PROCESSING),
    "wulong-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "wulong-protected-area-tourism": ("restricted", TOURISM),
    "wulong-fragile-area-tourism": ("restricted", TOURISM),  # 生态脆弱区: 对旅游项目实施类型限制
    "wulong-nature-park-tourism-layout": ("notice", TOURISM),
    "wulong-mine-restoration-site": ("notice", BUILD),
    # 畜禽养殖分区管理规定: 禁养区 bans livestock farms, 限养区 caps them (畜禽 only; aquaculture
    # follows a separate 养殖水域滩涂规划).
    "wulong-livestock-no-farming": ("prohibited", {"livestock_farm"}),
    "wulong-livestock-limited": ("restricted", {"livestock_farm"}),
    # 高污染燃料禁燃区: what burns high-pollution fuel (coal-fired boilers of every size).
    "wulong-fuel-ban-zone": ("prohibited", {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    # 三线一单 in 项目准入: every project; priority units restricted for development.
    "wulong-control-unit": ("notice", BUILD),
    "wulong-control-unit-priority": ("restricted", BUILD),
    # 永久基本农田: no building, no fish ponds; 城镇开发边界外: no housing estates, no new parks.
    "wulong-basic-farmland": ("restricted", BUILD | {"aquaculture"}),
    "wulong-outside-urban-boundary": ("restricted", {"real_estate"} | PARKS),
    "wulong-water-source": ("notice", BUILD),
    "wulong-contaminated-site": ("restricted", BUILD),
    # 巫溪
    # The 「1公里」 line is the polluting-industry line, the 「5公里」 line the new-park line (Wulong's
    # plan defines the pair); housing, roads and tourism are not bound.
    "wuxi-tributaries-1km": ("restricted", POLLUTING),
    "wuxi-tributaries-5km": ("restricted", PARKS),
    "wuxi-tailings-key-rivers-3km": ("prohibited", TAILINGS),
    "wuxi-tailings-important-tributaries-1km": ("prohibited", TAILINGS),
    "wuxi-tailings-downstream-1km": ("prohibited", BUILD),
    "wuxi-red-line": ("prohibited", BUILD),
    "wuxi-red-line-farmland-exit": ("notice", AGRI),  # 红线内已有的农业用地建立逐步退出机制
    "wuxi-protected-area": ("restricted", BUILD),
    "wuxi-ecological-space": ("restricted", BUILD | AGRI),
    "wuxi-basic-farmland": ("restricted", BUILD | {"aquaculture"}),
    "wuxi-outside-urban-boundary": ("restricted", {"real_estate"} | PARKS),
    # 严格限制林地转为建设用地，严格限制林地转为其他农用地.
    "wuxi-forest-land": ("restricted", BUILD | AGRI),
    "wuxi-contaminated-site": ("restricted", BUILD),
    "wuxi-school-hospital-200m-entertainment": ("prohibited", ENTERTAINMENT),
    "wuxi-sensitive-buildings-entertainment": ("prohibited", ENTERTAINMENT),
    "wuxi-drawdown-zone-livestock": ("prohibited", {"livestock_farm"}),
    "wuxi-slope-25-return-to-forest": ("notice", {"planting"}),  # 25度以上坡耕地…退耕还林
    "wuxi-slope-15-25-return-to-forest": ("notice", {"planting"}),
    # 畜禽养殖和水产养殖禁养区、限养区.
    "wuxi-livestock-no-farming": ("prohibited", {"livestock_farm", "aquaculture"}),
    "wuxi-livestock-limited": ("restricted", {"livestock_farm", "aquaculture"}),
    "wuxi-water-source-first-zone-planting": ("prohibited", {"planting"}),
    "wuxi-water-source": ("notice", BUILD),
    "wuxi-fuel-ban-zone": ("prohibited", {"coal_fired_boiler", "small_coal_boiler", "coal_boiler_10t"}),
    "wuxi-noise-sensitive-industry": ("prohibited", NOISY),
    # 关停、搬迁、治理城市建成区内的噪声污染严重企业.
    "wuxi-built-up-noisy-industry": ("restricted", NOISY),
    "wuxi-industrial-park-risk-layout": ("notice", POLLUTING),
    "wuxi-mine-restoration-site": ("notice", BUILD),
    "wuxi-control-unit": ("notice", BUILD),
    "wuxi-control-unit-priority": ("restricted", BUILD),
}

# Rules that name a characteristic no concrete type implies: a planner sends it beside the
# plant's type (a textile mill's capacity-only expansion = ["textile", "capacity_expansion"]).
CHARACTERISTIC_CASES = [
    ("fuling-outside-parks-capacity-expansion", ["textile", "capacity_expansion"], "prohibited"),
    ("fuling-outside-parks-capacity-expansion", ["chemical", "capacity_expansion"], "prohibited"),
    ("fuling-noise-sensitive-industry", ["construction", "noisy_industry"], "prohibited"),
    ("wansheng-guanba-water-polluting-industry", ["industrial", "water_polluting_industry"], "restricted"),
]


def test_the_catalogs_concrete_types_are_the_ones_this_reading_covers():
    catalog_concrete = {t.code for t in CATALOG.project_types if not t.characteristic}
    assert catalog_concrete == CONCRETE


def test_every_rule_has_an_expectation():
    assert set(EXPECTED) == {r.id for r in CATALOG.rules}


@pytest.mark.parametrize("rule", CATALOG.rules, ids=[r.id for r in CATALOG.rules])
def test_rule_binds_the_concrete_types_a_planner_expects(rule):
    effect, bound = EXPECTED[rule.id]
    engine = cached_scene(rule.id)
    site = inside_site(rule)
    wrong = []
    for code in sorted(CONCRETE):
        ev = engine.evaluate(site, code)
        found = [f for f in ev.findings if f.rule.id == rule.id]
        if bool(found) != (code in bound):
            wrong.append(f"{code}: {'bound' if found else 'not bound'}")
            continue
        if found:
            assert found[0].rule.effect == effect, f"{rule.id} for {code}: {found[0].rule.effect}, expected {effect}"
            assert ev.verdict in ("prohibited", "restricted", "notice")
    assert not wrong, f"{rule.id} binds unexpectedly: {wrong}"


@pytest.mark.parametrize("rule_id, types, effect", CHARACTERISTIC_CASES)
def test_a_project_with_several_characteristics_is_bound_by_each(rule_id, types, effect):
    rule = CATALOG.by_id[rule_id]
    engine = cached_scene(rule_id)
    ev = engine.evaluate(inside_site(rule), types)
    found = [f for f in ev.findings if f.rule.id == rule_id]
    assert found and found[0].rule.effect == effect
    # Each type alone: the characteristic is what brings the rule in.
    assert not any(f.rule.id == rule_id for f in engine.evaluate(inside_site(rule), types[0]).findings)


def test_a_generic_type_sees_the_rules_of_its_subtypes_as_conditional():
    """Asked about a generic industrial project by the Wu River, the polluting-industry ban does
    not decide the verdict but is shown: it binds if the project turns out to be polluting."""
    rule = CATALOG.by_id["wulong-wu-river-1km"]
    ev = cached_scene(rule.id).evaluate(inside_site(rule), "industrial")
    assert rule.id not in [f.rule.id for f in ev.findings]
    assert rule.id in [f.rule.id for f in ev.conditional_findings]
