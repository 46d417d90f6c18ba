"""Evaluate one site against the compiled zones: jurisdictions, findings, verdict."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import shapely

from ecozone.layers.errors import UnknownProjectType
from ecozone.zoning.catalog import EFFECT_ORDER, Rule
from ecozone.zoning.chainage import Route, zone_intervals
from ecozone.zoning.index import ZoneIndex
from ecozone.zoning.metric import metric_xy, scale_factor, site_scale, to_metric

# Floating-point slack on the exact distance test (metres).
_EPS_M = 1e-6
_EFFECT_RANK = {e: i for i, e in enumerate(EFFECT_ORDER)}


# Plain slotted classes, not frozen ones: a frozen dataclass sets each field through
# object.__setattr__, and a check builds several findings (1.8 µs against 0.7 µs each). Nothing
# changes them after the engine returns them.
@dataclass(slots=True)
class Finding:
    rule: Rule
    layer: str
    feature_id: str | None
    feature_name: str | None
    distance_m: float
    threshold_m: float | None
    overlap_area_m2: float | None
    overlap_ratio: float | None
    zone_id: int = -1  # into the ZoneIndex it came from: its region, reference and clip
    # For a linear site: chainage intervals (from_m, to_m) of the route inside the rule's zones.
    segments: tuple[tuple[float, float], ...] | None = None


@dataclass(slots=True)
class Coverage:
    """How much of the site lies where a plan is loaded (by area for polygons, length for
    lines; 0 or 1 for points). Nothing outside that share was checked."""

    covered_ratio: float

    @property
    def covered(self) -> bool:
        return self.covered_ratio > 0


@dataclass(slots=True)
class Evaluation:
    verdict: str
    project_type: tuple[str, ...] | None
    jurisdictions: list[tuple[str, str, bool]]  # code, name, whether its plan is loaded
    coverage: Coverage
    findings: list[Finding]
    # Rules that do not bind the asked type but bind some of its subtypes (asked "industrial",
    # a ban on polluting industry here is worth knowing); they never change the verdict.
    conditional_findings: list[Finding]
    # Findings set aside by a more specific rule of the same plan that binds here too.
    superseded_findings: list[Finding]
    # The 三线一单 environmental control units the site falls in: their attributes as published.
    control_units: list[dict]
    site_area_m2: float | None
    site_length_m: float | None
    chainage_length_m: float | None = None  # a linear site's geodesic length along its vertices


NOT_COVERED = "not_covered"


def set_aside(catalog, rules: list[Rule], project_type: tuple[str, ...]) -> set[str]:
    """Ids of the rules a more specific rule among ``rules`` sets aside for this project. A
    specific rule sets a general one aside only for the project types it binds itself; asked
    about several types, the general rule stays if it binds one of them that the specific rule
    does not. (Asked about no type, every rule is reported and none is set aside: a red-line ban
    must not hide behind the waterway-works limit when the project is unknown.)"""
    present = {r.id: r for r in rules}
    aside: set[str] = set()
    for r in rules:
        for o in r.overrides:
            general = present.get(o)
            if general is None:
                continue
            specific = [x for x in rules if o in x.overrides]
            if all(any(catalog.applies(x, t) for x in specific)
                   for t in project_type if catalog.applies(general, t)):
                aside.add(o)
    return aside


class Engine:
    """Stateless evaluation over one immutable ZoneIndex."""

    def __init__(self, index: ZoneIndex):
        self.index = index
        self.catalog = index.catalog
        self._resolved: dict = {}  # names as asked → codes (only names that resolved)
        # Per zone, as Python lists: a check handles a few zones, where list lookups beat numpy's.
        self._zone_rule = index.zone_rule.tolist()
        self._zone_ref = index.zone_ref.tolist()
        self._zone_complement = index.zone_complement.tolist()
        # Per rule: its effect's rank and its threshold (what each finding of it carries).
        self._rule_facts = [(_EFFECT_RANK[r.effect], float(r.zone.buffer_m) if r.zone.buffer_m else None)
                            for r in self.catalog.rules]

    def resolve_project_types(self, project_type: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...] | None:
        """A code, a Chinese type name or a list of them → a tuple of codes (None: every rule).
        Unknown names are refused, never ignored: a typo must not return the all-rules answer."""
        if project_type is None:
            return None
        key = project_type if isinstance(project_type, str) else tuple(project_type)
        cacheable = all(isinstance(n, str) for n in ((key,) if isinstance(key, str) else key))
        known = self._resolved.get(key) if cacheable else None
        if known is not None:
            return known
        names = [project_type] if isinstance(project_type, str) else list(project_type)
        types = self.catalog.project_types
        if not names:
            raise UnknownProjectType(
                "project_type 列表为空；省略该字段即检查全部规则。",
                "project_type is an empty list; omit the field to report every rule.",
                field="project_type", where="project_type", value=[],
            )
        codes: list[str] = []
        for i, name in enumerate(names):
            code = types.resolve(name) if isinstance(name, str) else None
            if code is None:
                known = ", ".join(sorted(t.code for t in types))
                where = "project_type" if isinstance(project_type, str) else f"project_type[{i}]"
                raise UnknownProjectType(
                    f"未知的项目类型：{name}（{where}）。可用代码或中文名称：{known}",
                    f"Unknown project type {name!r} at {where}. Use a code or its Chinese name: {known}",
                    field="project_type", where=where, value=name,
                )
            if code not in codes:
                codes.append(code)
        if cacheable and len(self._resolved) < 10_000:  # names asked are few; never let a caller grow it without end
            self._resolved[key] = tuple(codes)
        return tuple(codes)

    def evaluate(self, site_lonlat: shapely.Geometry, project_type=None) -> Evaluation:
        types = self.resolve_project_types(project_type)
        if isinstance(site_lonlat, shapely.Point) and not site_lonlat.is_empty:
            return self.evaluate_metric(None, types, metric_xy(site_lonlat.x, site_lonlat.y))
        return self.evaluate_metric(to_metric(site_lonlat), types)

    def coverage(self, site: shapely.Geometry | None, codes: list[str], is_point: bool) -> Coverage:
        idx = self.index
        if idx.planned_codes.isdisjoint(codes):
            return Coverage(0.0)
        if is_point:
            return Coverage(1.0)  # the tree's exact predicate put this point in a planned district
        if shapely.contains_properly(idx.prepared("planned_region"), site):
            return Coverage(1.0)
        dim = shapely.get_dimensions(site)
        if dim == 0:
            return Coverage(float(shapely.intersects(idx.prepared("planned_region"), shapely.get_parts(site)).mean()))
        measure = shapely.area if dim == 2 else shapely.length
        total = float(measure(site))
        if total <= 0:
            return Coverage(1.0)
        inside = float(measure(shapely.intersection(site, idx.planned_region)))
        return Coverage(min(1.0, inside / total))

    def evaluate_metric(self, site: shapely.Geometry | None, project_type: tuple[str, ...] | None = None,
                        point: tuple[float, float] | None = None) -> Evaluation:
        """``point``: the site's x, y when it is a point and the caller has them; then ``site``
        may be None (the point geometry is made only if a distance is measured)."""
        idx = self.index
        # A point (most checks) takes a lighter path: its x, y looked up in cell grids.
        if point is None and isinstance(site, shapely.Point) and not site.is_empty:
            point = (site.x, site.y)
        codes, zones = idx.query(site, point)
        if project_type is not None and zones:  # zones of rules that cannot matter here
            relevant = self.catalog.relevant(project_type)
            zones = [z for z in zones if relevant[self._zone_rule[z]]]
        coverage = self.coverage(site, codes, point is not None)
        findings: list[Finding] = []
        dim = 0 if point is not None else int(shapely.get_dimensions(site))
        route = Route.of(site) if dim == 1 else None
        # Metric lengths / k are geodesic metres.
        k = float(scale_factor(point[0])) if point is not None else float(site_scale(site))
        if zones:
            zones, dist = self._exact(site, zones, k, point)
            findings = self._findings(site, dim, zones, dist, route, k)
        applicable, conditional = self._partition(findings, project_type)
        applicable, superseded = self._apply_overrides(applicable, project_type)
        verdict = applicable[0].rule.effect if applicable else "permitted"  # (strictest first)
        if not coverage.covered:
            verdict = NOT_COVERED  # nothing was checked, so nothing may be called permitted
        return Evaluation(
            verdict=verdict,
            project_type=project_type,
            jurisdictions=[(c, idx.jurisdiction_names[c], c in idx.planned_codes) for c in codes],
            coverage=coverage,
            findings=applicable,
            conditional_findings=conditional,
            superseded_findings=superseded,
            control_units=idx.control_units_at(site, point),
            site_area_m2=float(site.area) / k ** 2 if dim == 2 else None,
            site_length_m=float(site.length) / k if dim == 1 else None,
            chainage_length_m=route.length_m if route is not None else None,
        )

    def _exact(self, site: shapely.Geometry | None, zones: list[int], k: float,
               point: tuple[float, float] | None) -> tuple[list[int], list[float]]:
        """Keep the zones the site is really in, each with the distance the answer reports
        (geodesic metres from the site to the reference's edge; 0 inside). Unbuffered zones
        are exact already (their pieces tile the region, so the distance is 0 — a complement
        zone's is measured to what it excludes); buffered ones are tested by distance to the
        reference, using only the part of the site inside the zone's clip (jurisdiction /
        sector), and report the whole site's distance."""
        idx = self.index
        dist = [0.0] * len(zones)
        refs = [self._zone_ref[z] for z in zones]
        if max(refs) < 0:  # no zone measures to a reference: all at 0 m
            return zones, dist
        if site is None:
            site = shapely.points(point)
        within = idx.zones.within_m
        buffered = []
        for i, (z, ref) in enumerate(zip(zones, refs)):
            if self._zone_complement[z]:
                d = idx.references.nearest(site, ref)[0] if point is None else idx.references.nearest_point(site, point, ref)
                dist[i] = d / k
            if within[z] > 0:
                buffered.append(i)
        if not buffered:
            return zones, dist
        if point is not None:  # (a piece hit already places a point inside the zone's clip)
            d = idx.references.distances_from_point(site, point, [refs[i] for i in buffered],
                                                    [(within[zones[i]] + _EPS_M) * k for i in buffered])
        else:
            b_ids = np.array([zones[i] for i in buffered])
            d = idx.references.clipped_distances(
                np.array([site], dtype=object), np.zeros(b_ids.size, dtype=np.int64), idx.zone_clip[b_ids],
                idx.clips, idx.zone_ref[b_ids], (idx.zone_within[b_ids] + _EPS_M) * k).tolist()
        out = set()  # the buffered zones the site is not in
        half = idx.zones.half_width
        for i, zone_d in zip(buffered, d):
            if zone_d == np.inf:
                out.add(i)
            else:
                dist[i] = max(zone_d / k - half[zones[i]], 0.0)
        if not out:
            return zones, dist
        keep = [i for i in range(len(zones)) if i not in out]
        return [zones[i] for i in keep], [dist[i] for i in keep]

    def _findings(self, site: shapely.Geometry, dim: int, zones: list[int], dists: list[float],
                  route: Route | None, k: float) -> list[Finding]:
        """One finding per rule: the nearest feature that puts the site in its zone (ties: the
        larger overlap, then the first zone)."""
        idx = self.index
        z = idx.zones
        polygonal = dim == 2 and site.area > 0
        area = [0.0] * len(zones)
        if polygonal:
            site_area = site.area / (k * k)
            area = (shapely.area(shapely.intersection(site, idx.zone_region[zones])) / (k * k)).tolist()
        rounded = [round(d, 1) if d else 0.0 for d in dists]  # (most are 0; round() is slow)
        overlap = [round(a, 1) for a in area] if polygonal else area
        rules = [self._zone_rule[z] for z in zones]
        best: dict[int, int] = {}  # rule → position in zone_ids
        for i, rule_idx in enumerate(rules):
            prev = best.get(rule_idx)
            if prev is None or (rounded[i], -overlap[i]) < (rounded[prev], -overlap[prev]):
                best[rule_idx] = i
        keyed = []  # (effect rank, unrounded distance, rule id, finding): strictest, nearest, then by id
        catalog_rules, facts = self.catalog.rules, self._rule_facts
        for rule_idx, i in best.items():
            zid = zones[i]
            rule = catalog_rules[rule_idx]
            rank, threshold = facts[rule_idx]
            segments = None
            if route is not None:
                segments = tuple(zone_intervals(idx, [x for x, r in zip(zones, rules) if r == rule_idx], route))
            keyed.append((rank, dists[i], rule.id, Finding(
                rule=rule,
                layer=z.layer_id[zid],
                feature_id=z.feature_id[zid],
                feature_name=z.feature_name[zid],
                distance_m=rounded[i],
                threshold_m=threshold,
                overlap_area_m2=overlap[i] if polygonal else None,
                overlap_ratio=round(area[i] / site_area, 4) if polygonal else None,
                zone_id=zid,
                segments=segments,
            )))
        keyed.sort(key=itemgetter(0, 1, 2))  # (batch evaluation orders the same way)
        return [t[3] for t in keyed]

    def _apply_overrides(self, findings: list[Finding], project_type: tuple[str, ...] | None):
        if project_type is None or not any(f.rule.overrides for f in findings):
            return findings, []
        aside = set_aside(self.catalog, [f.rule for f in findings], project_type)
        return ([f for f in findings if f.rule.id not in aside], [f for f in findings if f.rule.id in aside])

    def _partition(self, findings: list[Finding], project_type: tuple[str, ...] | None):
        if project_type is None:
            return findings, []
        binds, binds_a_subtype = self.catalog.binding(project_type)
        applicable = [f for f in findings if f.rule.id in binds]
        conditional = [f for f in findings if f.rule.id in binds_a_subtype]
        return applicable, conditional
