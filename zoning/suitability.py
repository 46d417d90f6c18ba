"""Where may it go: an area partitioned into polygons by verdict, with the rules binding each.

Every zone of a rule that binds the project is drawn as a polygon — an unbuffered zone as its
exact region, a buffered one as its buffer drawn outside the true one (arcs circumscribing the
circle, at the largest point scale it reaches, so a polygon edge is at most ~1 m outside the
exact distance and never inside it: no point is ever shown permitted that a check would not
permit). The arrangement of all those polygons and the area's own edges is polygonised into
faces; each face is labelled by the engine itself, at a point inside it, with the same
evaluation a siting check runs — so a face's verdict is the check's verdict for its points —
and faces with the same verdict and rules are dissolved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely

from ecozone.zoning.engine import NOT_COVERED, Engine
from ecozone.zoning.index import buffer_exact
from ecozone.zoning.metric import largest_scale, site_scale

_QUAD_SEGS = 64
_CIRCUMSCRIBE = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))
_SLIVER_M2 = 0.01  # faces smaller than this are arithmetic noise of the overlay


@dataclass(frozen=True)
class Part:
    geometry: shapely.Geometry  # metric
    verdict: str
    rule_ids: tuple[str, ...]
    area_m2: float  # geodesic (metric area / k²)


def _zone_polygons(engine: Engine, area: shapely.Geometry, types) -> list[shapely.Geometry]:
    idx = engine.index
    catalog = engine.catalog
    _, zone_ids = idx.query(area)
    polys = []
    for z in zone_ids:
        rule = catalog.rules[int(idx.zone_rule[z])]
        if types is not None and not catalog.applies(rule, types):
            continue
        within = float(idx.zone_within[z])
        if within <= 0:
            region = idx.zone_region[z]
        else:
            ref = idx.zone_reference[z]
            radius = within * float(largest_scale(ref, within)) * _CIRCUMSCRIBE
            region = buffer_exact(np.array([ref], dtype=object), radius, _QUAD_SEGS)[0]
            clip = int(idx.zone_clip[z])
            if clip >= 0:
                region = shapely.intersection(region, idx.clips[clip])
        region = shapely.intersection(region, area)
        if shapely.get_dimensions(region) == 2 and not region.is_empty:
            polys.append(region)
    return polys


def partition(engine: Engine, area: shapely.Geometry, types: tuple[str, ...] | None) -> list[Part]:
    """The area (metric polygon) split by verdict for these project types (None: any project)."""
    idx = engine.index
    edges = [shapely.boundary(area), shapely.intersection(shapely.boundary(idx.planned_region), area)]
    edges += [shapely.boundary(p) for p in _zone_polygons(engine, area, types)]
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(shapely.union_all(edges))))
    faces = faces[shapely.area(faces) > _SLIVER_M2]
    faces = faces[shapely.intersects(area, shapely.point_on_surface(faces))]
    groups: dict[tuple[str, tuple[str, ...]], list[shapely.Geometry]] = {}
    for face, point in zip(faces, shapely.point_on_surface(faces)):
        ev = engine.evaluate_metric(point, types)
        rules = () if ev.verdict == NOT_COVERED else tuple(sorted({f.rule.id for f in ev.findings}))
        groups.setdefault((ev.verdict, rules), []).append(face)
    parts = []
    for (verdict, rules), polys in groups.items():
        geom = shapely.union_all(polys)
        k = float(site_scale(geom))
        parts.append(Part(geom, verdict, rules, float(geom.area) / (k * k)))
    order = {"prohibited": 0, "restricted": 1, "notice": 2, "permitted": 3, NOT_COVERED: 4}
    return sorted(parts, key=lambda p: (order[p.verdict], -p.area_m2))
