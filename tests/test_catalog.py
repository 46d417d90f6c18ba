"""The rule catalog against the plans' own texts: every citation verbatim, in the chapter and
section it names, and every effect grounded in the plan's wording."""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from conftest import seeds_dir
from ecozone.zoning.catalog import load_catalog

CATALOG = load_catalog()
RULES = CATALOG.rules
PLANS = {p.document.source_file: p for p in CATALOG.plans}

_HEADING = re.compile(r"^(?:\[bookmark:[^\]]*\])*\s*(第[一二三四五六七八九十]+)([章节])\s*(.*)$", re.M)
_WS = re.compile(r"\s+")


def _norm(text: str) -> str:
    # The seeds break some sentences across lines (page breaks); whitespace carries no meaning
    # in Chinese prose, so it is removed on both sides before matching.
    return _WS.sub("", text)


@lru_cache(maxsize=None)
def seed_text(source_file: str) -> str:
    return (seeds_dir() / source_file).read_text("utf-8")


def _locate(seed: str, cited: str) -> re.Match | None:
    pattern = r"\s*".join(re.escape(ch) for ch in _norm(cited))
    return re.search(pattern, seed)


def _headings_before(seed: str, pos: int) -> tuple[re.Match | None, re.Match | None]:
    chapter = section = None
    for m in _HEADING.finditer(seed):
        if m.start() > pos:
            break
        if m.group(2) == "章":
            chapter, section = m, None
        else:
            section = m
    return chapter, section


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_citation_is_a_verbatim_sentence_of_its_plan(rule):
    plan = next(p for p in CATALOG.plans if rule in p.rules)
    seed = seed_text(plan.document.source_file)
    match = _locate(seed, rule.citation.text)
    assert match, f"{rule.id}: citation text is not in {plan.document.source_file}"
    # A sentence: it ends with the plan's own full stop or clause break, and starts right
    # after one (or at a paragraph start).
    assert rule.citation.text.rstrip()[-1] in "。；", f"{rule.id}: citation does not end a sentence"
    before = seed[: match.start()].rstrip(" \t\u3000")
    assert before == "" or before[-1] in "。；\n", f"{rule.id}: citation does not start a sentence"


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_citation_section_is_where_the_sentence_stands(rule):
    plan = next(p for p in CATALOG.plans if rule in p.rules)
    seed = seed_text(plan.document.source_file)
    match = _locate(seed, rule.citation.text)
    assert match
    chapter, section = _headings_before(seed, match.start())
    assert chapter is not None, f"{rule.id}: no chapter heading precedes it"
    # A chapter's opening paragraph (before its first 节), or a ledger row printed after the last
    # chapter (Wuxi's 亮点台账), stands under no section: it is cited by its chapter alone.
    expected = f"{chapter.group(1)}章" + (f" {section.group(1)}节" if section is not None else "")
    assert rule.citation.section == expected, f"{rule.id}: cited {rule.citation.section}, stands in {expected}"
    # The heading names the same chapter and section titles (wrapped titles are matched
    # without whitespace).
    titles = [_norm(t) for t in rule.citation.heading.split("›")]
    ch_title = titles[0]
    assert _norm(chapter.group(1) + "章" + chapter.group(3)) in ch_title or ch_title.startswith(
        _norm(chapter.group(1) + "章" + chapter.group(3))
    )
    if section is not None:
        assert titles[1] == _norm(section.group(1) + "节" + section.group(3))


@pytest.mark.parametrize("plan", CATALOG.plans, ids=[p.jurisdiction_name for p in CATALOG.plans])
def test_document_title_appears_in_its_plan(plan):
    assert _norm(plan.document.title) in _norm(seed_text(plan.document.source_file))


# The wording that sets an effect (see the header of each rule file).
# 禁养区 is 禁止养殖区: a plan that names it names a ban on farming there.
_BAN = ("禁止", "严禁", "杜绝", "关停", "淘汰", "不受建设活动侵扰")
_CONTROL = ("严控", "从严", "严格", "限制", "不受", "原则上", "管理")
# 「严格执行畜禽养殖分区管理规定」 enforces the zoning regulations (the 禁养区 ban);
# 「依法…予以查处」 enforces the law (the no-burn-zone ban of the air-pollution law).
# A rule defers when its plan says it applies national controls, or keeps in force a zone that
# exists by a national ban (禁养区 / 畜禽养殖“三区”, 高污染燃料禁燃区).
_DEFERS = ("按照国家", "按照生态保护红线区域管控要求", "不受建设活动侵扰", "畜禽养殖分区管理规定", "依法",
           "禁养区", "“三区”", "禁燃区")


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_effect_follows_the_plans_wording(rule):
    basis = _norm(rule.basis)
    assert basis in _norm(rule.citation.text), f"{rule.id}: basis is not quoted from its citation"
    if rule.defers_to is not None:
        # A plan that defers to national controls takes their effect: the basis must say it
        # defers, and the national sentence must carry the ban.
        assert any(w in basis for w in _DEFERS), f"{rule.id}: defers_to without deferring wording"
        assert rule.effect == "prohibited" and any(w in rule.defers_to.text for w in ("严格禁止", "禁止"))
    elif rule.effect == "prohibited":
        assert any(w in basis for w in _BAN), f"{rule.id}: prohibited without a ban in its wording"
    elif rule.effect == "restricted":
        assert any(w in basis for w in _CONTROL + _BAN), f"{rule.id}: restricted without control wording"
    else:
        assert not any(w in basis for w in _BAN + ("严控", "严格限制")), f"{rule.id}: notice hides a ban or control"


@pytest.mark.parametrize("rule", [r for r in RULES if r.exception], ids=lambda r: r.id)
def test_exception_is_quoted_verbatim(rule):
    """A plan's own exception stands in the rule's cited sentence; a national one names its document."""
    exc = rule.exception
    assert exc.zh and exc.en and exc.text
    if exc.source == "plan":
        assert _norm(exc.text) in _norm(rule.citation.text), f"{rule.id}: exception not in the cited sentence"
    else:
        assert "《" in exc.source and "》" in exc.source


# The plans' red-line sentences, read independently of the catalog: Fuling and Wuxi manage the
# red line 原则上按禁止开发区的要求; Wulong and Wansheng defer to the (national) red-line controls;
# Yubei keeps it 不受建设活动侵扰. All five keep construction out.
@pytest.mark.parametrize("rule_id, must_cite", [
    ("fuling-red-line", "原则上按照禁止开发区要求"), ("wuxi-red-line", "原则上按禁止开发区的要求"),
    ("wulong-red-line", "严格按照国家生态保护红线区域管控要求"), ("wansheng-red-line", "按照生态保护红线区域管控要求"),
    ("yubei-red-line", "确保生态红线区域不受建设活动侵扰"),
])
def test_red_line_is_prohibited_for_construction_with_its_exception(rule_id, must_cite):
    rule = CATALOG.by_id[rule_id]
    assert rule.effect == "prohibited"
    assert must_cite in rule.citation.text
    assert CATALOG.applies(rule, "real_estate") and CATALOG.applies(rule, "heavy_chemical")
    assert rule.exception is not None and "国家重大战略项目" in rule.exception.text


def test_every_plan_has_rules_and_a_jurisdiction():
    codes = {p.jurisdiction_code for p in CATALOG.plans}
    assert codes == {"500156", "500110WS", "500102", "500112", "500238"}
    assert all(len(p.rules) >= 10 for p in CATALOG.plans)


def test_project_types_keep_the_contracts_primary_parents(catalog):
    types = catalog.project_types
    contract = {
        "construction": None, "industrial": "construction", "polluting_industry": "industrial",
        "chemical": "polluting_industry", "heavy_chemical": "chemical", "textile": "polluting_industry",
        "papermaking": "polluting_industry", "dyeing": "polluting_industry", "heavy_metal": "polluting_industry",
        "industrial_park": "construction", "chemical_park": "industrial_park", "tailings_pond": "construction",
        "mining": "construction", "livestock_farm": "construction", "real_estate": "construction",
        "entertainment_venue": "construction", "tourism": "construction",
    }
    for code, parent in contract.items():
        assert types.by_code[code].parent == parent
    # The contract's own example of several parents.
    assert {"polluting_industry", "water_polluting_industry"} <= set(types.by_code["dyeing"].parents)
    assert types.resolve("重化工项目") == "heavy_chemical" and types.resolve("no such") is None


def test_a_cycle_in_the_type_graph_is_refused():
    from ecozone.zoning.catalog import Bilingual, ProjectType, ProjectTypes

    name = Bilingual(zh="x", en="x")
    with pytest.raises(ValueError, match="cycle"):
        ProjectTypes([ProjectType(code="a", parents=("b",), name=name), ProjectType(code="b", parents=("a",), name=name)])


_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "五": 5}


def _distances_in(text: str) -> set[float]:
    """Distances the plan's wording states: 1公里, 一公里, 50米 … in metres."""
    out = set()
    for num, unit in re.findall(r"(\d+|[一二三五])\s*(公里|千米|米)", _norm(text)):
        value = _CN_DIGITS.get(num) or float(num)
        out.add(float(value) * (1000 if unit in ("公里", "千米") else 1))
    return out


@pytest.mark.parametrize("rule", [r for r in RULES if r.zone.buffer_m], ids=lambda r: r.id)
def test_buffer_distance_is_the_one_the_plan_states(rule):
    assert rule.zone.buffer_m in _distances_in(rule.basis), (rule.zone.buffer_m, rule.basis)


def test_restricted_where_the_plan_says_yan_kong_without_a_ban():
    """严控 with no stated ban is restricted (Wuxi's 1 km / 5 km tributary lines), and the lines bind
    what Wulong's plan defines them to control: polluting industry (1 km) and new parks (5 km), not
    housing or tourism."""
    for rid, bound, free in (("wuxi-tributaries-1km", ("textile", "chemical_park"), ("real_estate", "tourism")),
                             ("wuxi-tributaries-5km", ("industrial_park", "chemical_park"), ("real_estate", "tourism"))):
        rule = CATALOG.by_id[rid]
        assert rule.effect == "restricted" and "严控" in rule.basis and not any(w in rule.basis for w in _BAN)
        assert all(CATALOG.applies(rule, c) for c in bound), rid
        assert not any(CATALOG.applies(rule, c) for c in free), rid
