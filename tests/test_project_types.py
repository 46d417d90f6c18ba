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
    "fuling-red-line": ("prohibited", BUILD),
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
    # 万盛
    "wansheng-red-line": ("prohibited", BUILD | AGRI),
    "wansheng-heishan-nature-reserve": ("notice", BUILD),
    "wansheng-heishan-shilin-scenic-area": ("restricted", BUILD),
    "wansheng-nature-park-tourism-layout": ("notice", TOURISM),
    "wansheng-guanba-water-polluting-industry": ("restricted", WATER),
    "wansheng-qingnian-cluster-access": ("notice", INDUSTRY),
    "wansheng-noise-sensitive-processing": ("prohibited", PROCESSING),
    "wansheng-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "wansheng-ecological-space": ("notice", BUILD),
    "wansheng-planned-water-source": ("notice", BUILD),
    "wansheng-mine-restoration-site": ("notice", BUILD),
    # 渝北
    "yubei-yangtze-1km-chemical": ("prohibited", CHEMICAL),
    "yubei-greenbelt-urban-50m": ("restricted", BUILD),
    "yubei-greenbelt-rural-100m": ("restricted", BUILD),
    "yubei-simountain-real-estate": ("prohibited", {"real_estate"}),
    "yubei-simountain-project-access": ("restricted", BUILD),
    "yubei-outside-parks-industrial": ("prohibited", INDUSTRY),
    "yubei-noise-class1-industry": ("prohibited", NOISY),
    "yubei-noise-class2-industry": ("restricted", NOISY),
    "yubei-noise-sensitive-processing": ("prohibited", PROCESSING),
    "yubei-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "yubei-heavy-metal-red-line": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-protected-area": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-water-source": ("prohibited", HEAVY_METAL),
    "yubei-heavy-metal-settlement": ("prohibited", HEAVY_METAL),
    "yubei-red-line": ("prohibited", BUILD),
    "yubei-forest-park-tourism-layout": ("notice", TOURISM),
    "yubei-protected-area": ("notice", BUILD),
    "yubei-mine-restoration-site": ("notice", BUILD),
    # 武隆
    "wulong-wu-river-1km": ("prohibited", POLLUTING),
    "wulong-wu-river-5km-industrial-park": ("prohibited", PARKS),
    "wulong-wu-river-1km-risk-survey": ("notice", INDUSTRY | PARKS),
    "wulong-red-line": ("prohibited", BUILD | AGRI),
    "wulong-ecological-space": ("restricted", BUILD),
    "wulong-geohazard-zone": ("prohibited", BUILD),
    "wulong-noise-sensitive-processing": ("prohibited", PROCESSING),
    "wulong-sensitive-site-entertainment": ("prohibited", ENTERTAINMENT),
    "wulong-protected-area-tourism": ("restricted", TOURISM),
    "wulong-nature-park-tourism-layout": ("notice", TOURISM),
    "wulong-mine-restoration-site": ("notice", BUILD),
    # 巫溪
    "wuxi-tributaries-1km": ("restricted", BUILD),
    "wuxi-tributaries-5km": ("restricted", BUILD),
    "wuxi-tailings-key-rivers-3km": ("prohibited", TAILINGS),
    "wuxi-tailings-important-tributaries-1km": ("prohibited", TAILINGS),
    "wuxi-tailings-downstream-1km": ("prohibited", BUILD),
    "wuxi-red-line": ("prohibited", BUILD),
    "wuxi-protected-area": ("restricted", BUILD),
    "wuxi-ecological-space": ("restricted", BUILD),
    "wuxi-school-hospital-200m-entertainment": ("prohibited", ENTERTAINMENT),
    "wuxi-sensitive-buildings-entertainment": ("prohibited", ENTERTAINMENT),
    "wuxi-drawdown-zone-livestock": ("prohibited", {"livestock_farm"}),
    "wuxi-water-source-first-zone-planting": ("prohibited", {"planting"}),
    "wuxi-noise-sensitive-industry": ("prohibited", NOISY),
    "wuxi-industrial-park-risk-layout": ("notice", POLLUTING),
    "wuxi-mine-restoration-site": ("notice", BUILD),
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
