"""The rule catalog: project types and one rule file per plan, loaded and validated.

Rules are data (``zoning/rules/*.yaml``) that a planner can review; this module turns
them into typed objects and refuses a catalog that names an unknown project type,
layer kind or attribute, so a typo fails at start-up rather than silently matching nothing.
"""

from __future__ import annotations

from functools import lru_cache

from functools import cached_property
from importlib import resources
from typing import Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ecozone.layers.kinds import LAYER_KINDS

Effect = Literal["prohibited", "restricted", "notice"]
# Strictest first: the verdict is the first of these that any applicable finding carries.
EFFECT_ORDER: tuple[str, ...] = ("prohibited", "restricted", "notice")


class Bilingual(BaseModel):
    model_config = ConfigDict(frozen=True)
    zh: str
    en: str


class ProjectType(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    parents: tuple[str, ...] = ()
    characteristic: bool = False
    name: Bilingual

    @property
    def parent(self) -> str | None:
        """The primary parent (the contract's tree); ``parents`` holds every one."""
        return self.parents[0] if self.parents else None


class ProjectTypes:
    """The project-type DAG. A rule for a type applies to all its descendants, through any parent."""

    def __init__(self, types: list[ProjectType]):
        self.by_code = {t.code: t for t in types}
        if len(self.by_code) != len(types):
            raise ValueError("duplicate project type code")
        for t in types:
            unknown = [p for p in t.parents if p not in self.by_code]
            if unknown:
                raise ValueError(f"project type {t.code!r} has unknown parents {unknown}")
        self.by_name = {t.name.zh: t.code for t in types}
        self._above = {code: self._walk_up(code, ()) for code in self.by_code}
        self._below = {code: frozenset(c for c, up in self._above.items() if code in up) for code in self.by_code}

    def _walk_up(self, code: str, path: tuple[str, ...]) -> frozenset[str]:
        if code in path:
            raise ValueError(f"project type cycle: {' → '.join(path + (code,))}")
        out = {code}
        for p in self.by_code[code].parents:
            out |= self._walk_up(p, path + (code,))
        return frozenset(out)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def __iter__(self):
        return iter(self.by_code.values())

    def resolve(self, name: str) -> str | None:
        """A code, or the Chinese name of a type (「重化工项目」), → its code; None if unknown."""
        name = name.strip()
        return name if name in self.by_code else self.by_name.get(name)

    def ancestors_or_self(self, code: str) -> frozenset[str]:
        return self._above[code]

    def descendants_or_self(self, code: str) -> frozenset[str]:
        return self._below[code]


class Citation(BaseModel):
    model_config = ConfigDict(frozen=True)
    document: str = ""
    section: str = Field(description="Chapter and section, e.g. 第五章 第一节")
    heading: str = Field(description="Chapter › section › paragraph titles, for readers")
    text: str = Field(description="A verbatim sentence of the plan")


class DownstreamSector(BaseModel):
    """Keep only the half of a buffer that lies downstream of the feature."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bearing_attribute: str
    half_angle_deg: float = Field(90, gt=0, le=180)


class ZoneDef(BaseModel):
    """Where a rule bites: features of one layer kind, filtered, optionally buffered."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str
    where: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    buffer_m: float = Field(0, ge=0)
    measured_from: Literal["feature", "shoreline"] = "feature"
    complement: bool = False
    downstream_sector: DownstreamSector | None = None

    @model_validator(mode="after")
    def _check(self) -> "ZoneDef":
        kind = LAYER_KINDS.get(self.kind)
        if kind is None:
            raise ValueError(f"unknown layer kind {self.kind!r}")
        for attr, values in self.where.items():
            if attr not in kind.attributes:
                raise ValueError(f"layer kind {self.kind!r} has no attribute {attr!r}")
            allowed = kind.enums.get(attr)
            if allowed and set(values) - set(allowed):
                raise ValueError(f"{self.kind}.{attr}: {sorted(set(values) - set(allowed))} not in {allowed}")
        if self.measured_from == "shoreline" and self.kind != "river":
            raise ValueError("measured_from: shoreline is only meaningful for rivers")
        if self.complement and (self.buffer_m or self.downstream_sector):
            raise ValueError("a complement zone takes no buffer or sector")
        if self.downstream_sector and not self.buffer_m:
            raise ValueError("a downstream sector needs buffer_m")
        return self


class RuleException(BaseModel):
    """The exception or condition a plan attaches to a rule (原则上…, 除…外, 确需…经科学论证):
    it never changes the verdict; it tells the planner what would."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    zh: str
    en: str
    text: str = Field(description="Verbatim from the plan, or from the national rule named by `source`")
    source: str = Field("plan", description="'plan' (the rule's own plan) or the national document quoted")


class NationalRule(BaseModel):
    """A sentence of a national document that a plan defers to (zoning/national.yaml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    document: str
    document_en: str
    section: str
    text: str


class Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    jurisdiction: str | None
    effect: Effect
    basis: str = Field(description="The plan's own words that set the effect")
    applies_to: tuple[str, ...]
    zone: ZoneDef
    message: Bilingual
    citation: Citation
    exception: RuleException | None = None
    # Set when the plan's basis defers to national controls (「按照国家…管控要求」): the rule
    # then takes the national rule's effect, quoted here.
    defers_to: NationalRule | None = None
    # Rules this one sets aside where both bind (the plan's specific sentence over its general
    # one: Fuling's waterway works are 严格限制 in the red line, not banned by the red-line rule).
    overrides: tuple[str, ...] = ()


class PlanDocument(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    title: str
    reference: str | None = None
    issued: str | None = None
    source_file: str


class Plan(BaseModel):
    model_config = ConfigDict(frozen=True)
    document: PlanDocument
    jurisdiction_code: str
    jurisdiction_name: str
    rules: tuple[Rule, ...]


class Catalog:
    """All plans' rules plus the project types they refer to."""

    def __init__(self, plans: list[Plan], project_types: ProjectTypes):
        self.plans = plans
        self.project_types = project_types
        self.rules: tuple[Rule, ...] = tuple(r for p in plans for r in p.rules)
        ids = [r.id for r in self.rules]
        dupes = {i for i in ids if ids.count(i) > 1}
        if dupes:
            raise ValueError(f"duplicate rule ids: {sorted(dupes)}")
        for r in self.rules:
            unknown = [c for c in r.applies_to if c not in project_types]
            if unknown:
                raise ValueError(f"rule {r.id}: unknown project types {unknown}")
        self.by_id = {r.id: r for r in self.rules}
        for r in self.rules:
            unknown = [o for o in r.overrides if o not in self.by_id]
            if unknown:
                raise ValueError(f"rule {r.id}: overrides unknown rules {unknown}")

    @cached_property
    def digest(self) -> str:
        import hashlib

        payload = repr([r.model_dump() for r in self.rules]) + repr(
            sorted((t.code, t.parents) for t in self.project_types)
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:12]

    def applies(self, rule: Rule, project_types: str | tuple[str, ...]) -> bool:
        """True when the rule names one of the project's types or an ancestor of one (a project
        with several characteristics is bound by the rules of each)."""
        codes = (project_types,) if isinstance(project_types, str) else project_types
        return any(c in self.project_types.ancestors_or_self(t) for t in codes for c in rule.applies_to)

    def binding(self, project_types: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
        """Ids of the rules that bind a project of these types, and of those that bind only some
        subtype of them — ``applies`` and ``applies_to_a_subtype`` over every rule, kept per type
        set (few distinct sets are ever asked; a check asks once per finding)."""
        return self._binding(project_types)[:2]

    def binding_mask(self, project_types: tuple[str, ...]):
        """``binding`` as a numpy bool array in rule order (for arrays of zones)."""
        return self._binding(project_types)[2]

    def relevant(self, project_types: tuple[str, ...]) -> list[bool]:
        """Per rule, in rule order: does it bind these types or a subtype of them — whether a
        check of such a project need look at the rule's zones at all (a list: a check reads a
        few entries)."""
        return self._binding(project_types)[3]

    def _binding(self, project_types: tuple[str, ...]):
        cache = self.__dict__.setdefault("_binding_cache", {})
        got = cache.get(project_types)
        if got is None:
            binds = frozenset(r.id for r in self.rules if self.applies(r, project_types))
            subtype = frozenset(r.id for r in self.rules if self.applies_to_a_subtype(r, project_types))
            mask = np.array([r.id in binds for r in self.rules])
            got = cache[project_types] = (binds, subtype, mask, [r.id in binds or r.id in subtype for r in self.rules])
        return got

    def applies_to_a_subtype(self, rule: Rule, project_types: str | tuple[str, ...]) -> bool:
        """True when the rule does not apply to the project itself but to some subtype of it
        (e.g. a ban on polluting industry, asked about a generic industrial project)."""
        codes = (project_types,) if isinstance(project_types, str) else project_types
        return not self.applies(rule, codes) and any(
            c in self.project_types.descendants_or_self(t) for t in codes for c in rule.applies_to
        )


def _read_yaml(name: str):
    return yaml.safe_load(resources.files("ecozone.zoning").joinpath(name).read_text("utf-8"))


def load_project_types() -> ProjectTypes:
    rows = _read_yaml("project_types.yaml")
    return ProjectTypes([
        ProjectType(code=r["code"], parents=tuple(r["parents"]), characteristic=r.get("characteristic", False),
                    name=Bilingual(zh=r["zh"], en=r["en"]))
        for r in rows
    ])


def load_national_rules() -> dict[str, NationalRule]:
    return {k: NationalRule(id=k, **v) for k, v in _read_yaml("national.yaml").items()}


def _exception(raw: dict | None, national: dict[str, NationalRule]) -> RuleException | None:
    if raw is None:
        return None
    raw = dict(raw)
    ref = raw.pop("national", None)
    if ref is not None:
        if ref not in national:
            raise ValueError(f"unknown national rule {ref!r}")
        raw.update(text=national[ref].text, source=national[ref].document)
    return RuleException(**raw)


def parse_plan(raw: dict, national: dict[str, NationalRule] | None = None) -> Plan:
    national = load_national_rules() if national is None else national
    doc = PlanDocument(**raw["document"])
    code = str(raw["jurisdiction"]["code"])
    rules = []
    for r in raw["rules"]:
        citation = dict(r["citation"], document=doc.title)
        zone = dict(r["zone"])
        zone["where"] = {k: tuple(str(x) for x in v) for k, v in zone.get("where", {}).items()}
        extra = {"exception": _exception(r.get("exception"), national)}
        if r.get("defers_to") is not None:
            if r["defers_to"] not in national:
                raise ValueError(f"rule {r['id']}: unknown national rule {r['defers_to']!r}")
            extra["defers_to"] = national[r["defers_to"]]
        rules.append(Rule(**{**r, **extra, "zone": zone, "citation": citation, "jurisdiction": code}))
    return Plan(
        document=doc, jurisdiction_code=code, jurisdiction_name=raw["jurisdiction"]["name"], rules=tuple(rules)
    )


def load_catalog() -> Catalog:
    rule_dir = resources.files("ecozone.zoning").joinpath("rules")
    national = load_national_rules()
    plans = [
        parse_plan(yaml.safe_load(f.read_text("utf-8")), national)
        for f in sorted(rule_dir.iterdir(), key=lambda p: p.name)
        if f.name.endswith(".yaml")
    ]
    return Catalog(plans, load_project_types())


# Separators between type names in free text (CLI options, form fields, CSV cells).
TYPE_SEPARATORS = (",", "，", "、", ";", "；")


@lru_cache(maxsize=1)
def _names_with_enumeration_comma() -> tuple[str, ...]:
    return tuple(sorted((t.name.zh for t in load_project_types() if "、" in t.name.zh), key=len, reverse=True))


def split_type_names(values: str | list[str] | None) -> list[str]:
    """'a, b；c' or ['a', 'b,c'] → ['a', 'b', 'c'] (order kept, duplicates dropped). 、 lists
    types too, but is also inside names (造纸、纸浆制造): those names are kept whole."""
    out: list[str] = []
    for v in [values] if isinstance(values, str) else values or []:
        kept = _names_with_enumeration_comma() if "、" in v else ()
        for k, name in enumerate(kept):
            v = v.replace(name, f"\0{k}\0")
        for sep in TYPE_SEPARATORS[1:]:
            v = v.replace(sep, TYPE_SEPARATORS[0])
        for part in v.split(TYPE_SEPARATORS[0]):
            for k, name in enumerate(kept):
                part = part.replace(f"\0{k}\0", name)
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out
