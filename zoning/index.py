"""Compile layers + rules into one spatial index of zones, in metres.

Each (rule, feature) pair becomes a *zone*: the feature's metric geometry (its *reference*,
what distances are measured to), the rule's threshold, and a *clip* region (the rule's
jurisdiction, narrowed to a downstream sector where the rule says so). For the index the
zone is materialised as an *outer* polygon — the buffer drawn with its arcs circumscribing
the true circle, so it can only over-cover — subdivided into pieces of a few hundred vertices
(red lines are huge many-vertex polygons; small pieces make the tree's bounding boxes tight).

A site query is then one STRtree query over all pieces (for a point, a lookup in a grid of
cells over them: zoning.cells), followed by an exact test on the few zones hit:
``distance(site, reference) <= threshold`` for buffered zones (the distance is needed for the
answer anyway; zoning.nearest measures it on the reference's chunks near the site), nothing
more for unbuffered ones (their pieces partition the exact region). The polygonal buffer
therefore never decides an answer; it only prunes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import shapely
from shapely import STRtree

from ecozone.zoning.catalog import Catalog, Rule
from ecozone.zoning.cells import CellIndex
from ecozone.zoning.metric import largest_scale, site_scale, to_metric
from ecozone.zoning.nearest import ReferenceChunks
from ecozone.zoning.prepared import prepared_copy

if TYPE_CHECKING:  # annotations only: the warm CLI path never imports geopandas
    import geopandas as gpd

# Arcs of shapely buffers are chords of the true circle; drawing them with radius r/cos(π/4q)
# makes the chords tangent instead, so the outer polygon contains the true buffer.
_QUAD_SEGS = 8
_CIRCUMSCRIBE = 1.0 / math.cos(math.pi / (4 * _QUAD_SEGS))
_OUTER_SLACK_M = 1.0
# Finer arcs for the overlap areas reported for polygon sites (area error ≪ 0.1 %).
_AREA_QUAD_SEGS = 32
MAX_PIECE_VERTICES = 256
# GEOS simplifies a buffer's input by this fraction of the buffer distance (BufferParameters'
# default simplify factor), which can pull the buffer's edge inside the true one by as much.
_GEOS_SIMPLIFY = 0.01


@dataclass(frozen=True)
class LayerFeatures:
    """One published layer as the zoning engine sees it: WGS84 features with attributes."""

    id: str
    name: str
    kind: str
    frame: gpd.GeoDataFrame  # must carry a `feature_id` column
    version: int = 1


@dataclass
class UnboundRule:
    rule_id: str
    reason: str


@dataclass
class Zones:
    """Column arrays, one entry per zone."""

    rule_idx: list[int] = field(default_factory=list)
    layer_id: list[str] = field(default_factory=list)
    feature_id: list[str | None] = field(default_factory=list)
    feature_name: list[str | None] = field(default_factory=list)
    reference: list[shapely.Geometry] = field(default_factory=list)
    half_width: list[float] = field(default_factory=list)
    within_m: list[float] = field(default_factory=list)  # exact test: distance(site, reference) <= within_m
    clip: list[int] = field(default_factory=list)  # index into ZoneIndex.clips, -1 = none
    region: list[shapely.Geometry] = field(default_factory=list)  # for overlap areas


def buffer_exact(geoms: np.ndarray, radii: np.ndarray, quad_segs: int) -> np.ndarray:
    """Buffers that contain every point within the radius. GEOS simplifies a buffer's input by
    1 % of the distance first (BufferInputLineSimplifier), which can pull the boundary up to 1 %
    *inside* the true buffer where the line is concave (measured: 990 m for a 1 km buffer of a
    river) — a site 995 m from the river would be missed. A single segment has nothing to
    simplify, so lines and polygon rings are buffered segment by segment (capsules) and united;
    the only error left is the arcs' chords, which the callers account for."""
    geoms = np.asarray(geoms, dtype=object)
    radii = np.broadcast_to(np.asarray(radii, dtype=float), geoms.shape)
    out = np.empty(geoms.shape, dtype=object)
    simple = shapely.get_num_coordinates(geoms) <= 2  # points and single segments
    if simple.any():
        out[simple] = shapely.buffer(geoms[simple], radii[simple], quad_segs=quad_segs)
    rest = np.flatnonzero(~simple)
    if not rest.size:
        return out
    polygonal = shapely.get_dimensions(geoms[rest]) == 2
    lines = np.where(polygonal, shapely.boundary(geoms[rest]), geoms[rest])
    parts, owner = shapely.get_parts(lines, return_index=True)
    rings = [shapely.get_coordinates(p) for p in parts]
    counts = np.array([len(r) - 1 for r in rings])
    starts = np.concatenate([r[:-1] for r in rings])
    ends = np.concatenate([r[1:] for r in rings])
    seg_owner = np.repeat(owner, counts)
    capsules = shapely.buffer(shapely.linestrings(np.stack([starts, ends], axis=1)),
                              radii[rest][seg_owner], quad_segs=quad_segs)
    order = np.argsort(seg_owner, kind="stable")
    bounds = np.searchsorted(seg_owner[order], np.arange(rest.size + 1))
    for k, i in enumerate(rest):
        pieces = capsules[order[bounds[k]:bounds[k + 1]]]
        u = shapely.union_all(pieces)
        out[i] = shapely.union(u, geoms[i]) if polygonal[k] else u
    return out


def subdivide(geom: shapely.Geometry, max_vertices: int = MAX_PIECE_VERTICES) -> list[shapely.Geometry]:
    """Split a (multi)polygon into pieces of at most ``max_vertices`` by recursive halving of
    the bounding box (the ST_Subdivide idea). Pieces tile the input exactly."""
    out: list[shapely.Geometry] = []
    stack = [p for p in shapely.get_parts(geom) if not p.is_empty]
    while stack:
        g = stack.pop()
        if shapely.get_num_coordinates(g) <= max_vertices:
            out.append(g)
            continue
        xmin, ymin, xmax, ymax = g.bounds
        if xmax - xmin >= ymax - ymin:
            mid = (xmin + xmax) / 2
            halves = (shapely.clip_by_rect(g, xmin, ymin, mid, ymax), shapely.clip_by_rect(g, mid, ymin, xmax, ymax))
        else:
            mid = (ymin + ymax) / 2
            halves = (shapely.clip_by_rect(g, xmin, ymin, xmax, mid), shapely.clip_by_rect(g, xmin, mid, xmax, ymax))
        dim = shapely.get_dimensions(g)
        for h in halves:
            stack.extend(p for p in shapely.get_parts(h) if not p.is_empty and shapely.get_dimensions(p) == dim)
    return out


class _Wkb:
    """Geometries pickled as one WKB array."""

    def __init__(self, geoms):
        self.wkb = shapely.to_wkb(np.asarray(geoms, dtype=object)) if len(geoms) else np.array([], dtype=object)

    def geometries(self) -> np.ndarray:
        return shapely.from_wkb(self.wkb) if len(self.wkb) else np.array([], dtype=object)


class _KeptZones:
    """A previous index's tree pieces grouped by zone, for zones an incremental compile keeps."""

    def __init__(self, index: ZoneIndex):
        self.index = index
        owners = index.piece_owner
        self._order = np.argsort(owners, kind="stable")
        self._owners_sorted = owners[self._order]

    def pieces(self, zone_id: int) -> list[shapely.Geometry]:
        lo, hi = np.searchsorted(self._owners_sorted, [zone_id, zone_id + 1])
        return list(self.index.pieces[self._order[lo:hi]])


def _sector(center: shapely.Point, bearing_deg: float, half_angle_deg: float, radius: float) -> shapely.Polygon:
    """A circular sector opening toward a compass bearing (clockwise from north)."""
    angles = np.radians(bearing_deg + np.linspace(-half_angle_deg, half_angle_deg, 65))
    arc = np.column_stack([center.x + radius * np.sin(angles), center.y + radius * np.cos(angles)])
    return shapely.Polygon(np.vstack([[center.x, center.y], arc]))


def _matches(frame: gpd.GeoDataFrame, where: dict[str, tuple[str, ...]]) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for attr, values in where.items():
        if attr not in frame.columns:
            return np.zeros(len(frame), dtype=bool)
        mask &= frame[attr].astype("string").isin(values).fillna(False).to_numpy(dtype=bool)
    return mask


class ZoneIndex:
    """Immutable compiled zones for one data version; rebuilt and swapped when data changes."""

    def __init__(self, catalog: Catalog, layers: list[LayerFeatures], previous: ZoneIndex | None = None,
                 changed_kinds: set[str] | None = None):
        """Compile every rule's zones; or, given the ``previous`` index of the same catalog and
        the layer kinds that changed since, compile only the rules over those kinds and take
        the others' zones and tree pieces as they were (a changed district changes every
        rule's clip, so it compiles everything)."""
        self.catalog = catalog
        self.unbound: list[UnboundRule] = []
        self.clips: list[shapely.Geometry] = []
        self._metric_by_layer: dict[str, np.ndarray] = {}
        jurisdiction_pieces = self._build_jurisdictions(layers)
        self.zones = Zones()
        self._pending_pieces: list[list[shapely.Geometry]] = []
        reuse = (
            previous is not None and previous.catalog is catalog and changed_kinds is not None
            and "district" not in changed_kinds and previous.jurisdiction_codes == self.jurisdiction_codes
        )
        self.recompiled_rules = 0
        kept = _KeptZones(previous) if reuse else None
        for i, rule in enumerate(catalog.rules):
            if kept is not None and rule.zone.kind not in changed_kinds:
                self._keep_rule(kept, i, rule)
                continue
            self.recompiled_rules += 1
            before = len(self.zones.rule_idx)
            self._add_rule(i, rule, layers)
            if len(self.zones.rule_idx) == before and not any(u.rule_id == rule.id for u in self.unbound):
                self.unbound.append(UnboundRule(rule.id, "no matching feature inside the jurisdiction"))
        self._build_tree(jurisdiction_pieces)
        self._build_control_units(layers)
        del self._metric_by_layer
        shapely.destroy_prepared(list(self.jurisdiction_geom.values()))  # compiled: shared from now on
        self.warm()

    def _keep_rule(self, kept: _KeptZones, rule_idx: int, rule: Rule) -> None:
        prev = kept.index
        self.unbound.extend(u for u in prev.unbound if u.rule_id == rule.id)
        n_jurisdictions = len(self.jurisdiction_codes)
        for zone_id in np.flatnonzero(prev.zone_rule == rule_idx):
            z = prev.zones
            clip = int(z.clip[zone_id])
            if clip >= n_jurisdictions:  # a downstream sector of its own
                self.clips.append(prev.clips[clip])
                clip = len(self.clips) - 1
            self._append_zone(
                rule_idx, z.layer_id[zone_id], z.feature_id[zone_id], z.feature_name[zone_id],
                z.reference[zone_id], z.half_width[zone_id], z.within_m[zone_id], clip, None, z.region[zone_id],
                pieces=kept.pieces(zone_id),
            )

    # -- pickling (the zone cache) ------------------------------------------------------
    # Geometries are written as one WKB array per attribute (one vectorised call, not one
    # __reduce__ per geometry), and the catalog is left out: the cache binds the current one.
    def __getstate__(self) -> dict:
        state = {k: v for k, v in vars(self).items() if k not in ("catalog", "piece_owner_list", "_thread_copies")}
        # zones.reference and zones.region are the zone_reference and zone_region arrays' lists.
        state["zones"] = {k: v for k, v in vars(self.zones).items() if k not in ("reference", "region")}
        state["clips"] = _Wkb(self.clips)
        state["jurisdiction_geom"] = (list(self.jurisdiction_geom), _Wkb(list(self.jurisdiction_geom.values())))
        for name, value in state.items():
            if isinstance(value, np.ndarray) and value.dtype == object and value.size and \
                    isinstance(value.flat[0], shapely.Geometry):
                state[name] = _Wkb(value)
        return state

    def __setstate__(self, state: dict) -> None:
        zones = state.pop("zones")
        codes, geoms = state.pop("jurisdiction_geom")
        for name, value in state.items():
            setattr(self, name, value.geometries() if isinstance(value, _Wkb) else value)
        self.clips = list(self.clips)
        self.jurisdiction_geom = dict(zip(codes, geoms.geometries()))
        self.zones = Zones(**zones, reference=self.zone_reference.tolist(), region=self.zone_region.tolist())
        # Nothing is prepared again: threads prepare their own copies (see warm).
        self._warm = False
        self.warm()

    # -- jurisdictions --------------------------------------------------------------
    def _build_jurisdictions(self, layers: list[LayerFeatures]) -> list[tuple[shapely.Geometry, int]]:
        """Union district features by code; returns their subdivided pieces with the code's index."""
        codes: dict[str, list[shapely.Geometry]] = {}
        names: dict[str, str] = {}
        for layer in layers:
            if layer.kind != "district":
                continue
            metric = to_metric(layer.frame.geometry.to_numpy())
            for code, name, geom in zip(layer.frame["code"].astype(str), layer.frame["name"], metric):
                codes.setdefault(code, []).append(geom)
                names.setdefault(code, str(name))
        self.jurisdiction_codes = sorted(codes)
        self.jurisdiction_names = names
        self.jurisdiction_geom = {c: shapely.union_all(g) for c, g in codes.items()}
        # Coverage: a site is checked only where a loaded district has a loaded plan. A district
        # loaded without a plan (綦江区 around 万盛) is known, but nothing there may be called permitted.
        planned = {p.jurisdiction_code for p in self.catalog.plans}
        self.planned_codes = frozenset(c for c in self.jurisdiction_codes if c in planned)
        # Not prepared here: see ZoneIndex.prepared.
        self.planned_region = shapely.union_all([self.jurisdiction_geom[c] for c in sorted(self.planned_codes)])
        # Where sites can plausibly be: the loaded districts' bounds (WGS84 degrees).
        district_frames = [layer.frame for layer in layers if layer.kind == "district" and len(layer.frame)]
        self.loaded_bounds_lonlat: tuple[float, ...] | None = (
            tuple(float(v) for v in shapely.total_bounds(np.concatenate([f.geometry.to_numpy() for f in district_frames])))
            if district_frames else None
        )
        self._clip_of_code: dict[str, int] = {}
        pieces = []
        for j, code in enumerate(self.jurisdiction_codes):
            self._clip_of_code[code] = len(self.clips)
            self.clips.append(self.jurisdiction_geom[code])
            shapely.prepare(self.jurisdiction_geom[code])  # clipping tests every zone against it
            pieces.extend((p, j) for p in subdivide(self.jurisdiction_geom[code]))
        return pieces

    # -- zones ----------------------------------------------------------------------
    def _add_rule(self, rule_idx: int, rule: Rule, layers: list[LayerFeatures]) -> None:
        zd = rule.zone
        clip_idx = -1
        if rule.jurisdiction is not None:
            if rule.jurisdiction not in self._clip_of_code:
                self.unbound.append(UnboundRule(rule.id, f"no district feature with code {rule.jurisdiction}"))
                return
            clip_idx = self._clip_of_code[rule.jurisdiction]
        jur = self.clips[clip_idx] if clip_idx >= 0 else None

        sources = [(layer, _matches(layer.frame, zd.where)) for layer in layers if layer.kind == zd.kind]
        sources = [(layer, m) for layer, m in sources if m.any()]
        if not sources:
            self.unbound.append(UnboundRule(rule.id, f"no {zd.kind} features match {dict(zd.where)}"))
            return

        if zd.complement:
            refs = [g for layer, m in sources for g in self._metric(layer)[m]]
            union = shapely.union_all(refs)
            region = jur.difference(union) if jur is not None else None
            if region is None or region.is_empty:
                self.unbound.append(UnboundRule(rule.id, "complement zone is empty or unbounded"))
                return
            self._append_zone(rule_idx, sources[0][0].id, None, None, union, 0.0, 0.0, clip_idx, region, region)
            return

        for layer, mask in sources:
            frame = layer.frame[mask]
            refs = self._metric(layer)[mask]
            if not zd.buffer_m and "area_ha" in frame.columns:
                # A site known only as a point with an area (a mine-restoration record) is taken
                # as the circle of that area around the point, so that a site can fall on it.
                area = frame["area_ha"].astype(float).to_numpy() * 1e4
                is_point = (shapely.get_type_id(refs) == 0) & (area > 0)
                refs = refs.copy()
                refs[is_point] = shapely.buffer(refs[is_point], np.sqrt(area[is_point] / np.pi),
                                                quad_segs=_AREA_QUAD_SEGS)
            half = np.zeros(len(frame))
            if zd.measured_from == "shoreline" and "half_width_m" in frame.columns:
                is_line = np.isin(shapely.get_type_id(refs), (1, 5))  # LineString, MultiLineString
                hw = frame["half_width_m"].astype(float).fillna(0.0).clip(lower=0).to_numpy()
                half = np.where(is_line, hw, 0.0)
            within = zd.buffer_m + half
            buffered = within > 0
            outer, region = refs.copy(), refs.copy()
            if buffered.any():
                # Distances are geodesic (metric distance / point scale k, see metric.scale_factor),
                # so a zone reaches within × k metric metres: the outer polygon takes the largest
                # k it can reach, the drawn region the k at its middle.
                k_out = largest_scale(refs[buffered], within[buffered])
                k_mid = site_scale(refs[buffered])
                # The outer polygon only prunes, so GEOS's own buffer will do, drawn 1 % wider than
                # the simplification it applies to its input can pull it in (see buffer_exact).
                outer[buffered] = shapely.buffer(
                    refs[buffered], (within[buffered] * k_out * _CIRCUMSCRIBE + _OUTER_SLACK_M) / (1 - _GEOS_SIMPLIFY),
                    quad_segs=_QUAD_SEGS)
                region[buffered] = buffer_exact(refs[buffered], within[buffered] * k_mid, _AREA_QUAD_SEGS)
            fids = frame["feature_id"].astype(str).to_numpy()
            names = frame["name"].astype(str).to_numpy() if "name" in frame.columns else np.full(len(frame), None)
            if zd.downstream_sector is not None:
                self._add_sector_zones(rule_idx, layer.id, frame, zd.downstream_sector, fids, names, refs, half,
                                       within, clip_idx, jur, outer, region)
                continue
            clip = np.full(len(frame), clip_idx, dtype=np.int64)
            if jur is not None:
                # Zones wholly inside the jurisdiction (nearly all) need no clipping; only the
                # few that cross its boundary are intersected with it.
                meets = shapely.intersects(jur, outer)
                cut = meets & ~shapely.contains_properly(jur, outer)
                outer[cut] = shapely.intersection(outer[cut], jur)
                region[cut] = shapely.intersection(region[cut], jur)
            else:
                meets = np.ones(len(frame), dtype=bool)
            keep = meets & ~shapely.is_empty(outer)
            self._append_zones(rule_idx, layer.id, fids[keep], names[keep], refs[keep], half[keep], within[keep],
                               clip[keep], outer[keep], region[keep])

    def _add_sector_zones(self, rule_idx, layer_id, frame, sector, fids, names, refs, half, within, clip_idx, jur,
                          outer, region) -> None:
        """Zones clipped to a downstream sector of their own (a tailings pond's outlet)."""
        bearings = frame[sector.bearing_attribute] if sector.bearing_attribute in frame.columns else None
        for k in range(len(frame)):
            zone_clip, clip_geom = clip_idx, jur
            bearing = bearings.iloc[k] if bearings is not None else None
            if bearing is not None and not (isinstance(bearing, float) and math.isnan(bearing)):
                radius = within[k] * 2 + math.sqrt(max(refs[k].area, 1.0)) * 4
                wedge = _sector(refs[k].centroid, float(bearing), sector.half_angle_deg, radius)
                clip_geom = wedge if jur is None else wedge.intersection(jur)
                zone_clip = len(self.clips)
                self.clips.append(clip_geom)
            o = outer[k] if clip_geom is None else outer[k].intersection(clip_geom)
            if o.is_empty:
                continue
            r = region[k] if clip_geom is None else region[k].intersection(clip_geom)
            self._append_zone(rule_idx, layer_id, fids[k], names[k], refs[k], float(half[k]), float(within[k]),
                              zone_clip, o, r)

    def _metric(self, layer: LayerFeatures) -> np.ndarray:
        """A layer's geometries in metres, projected once per compile (many rules share a layer)."""
        metric = self._metric_by_layer.get(layer.id)
        if metric is None:
            metric = self._metric_by_layer[layer.id] = to_metric(layer.frame.geometry.to_numpy())
        return metric

    def _append_zones(self, rule_idx, layer_id, fids, names, refs, half, within, clip, outer, region) -> None:
        """Many zones of one rule and layer at once."""
        n = len(refs)
        if not n:
            return
        z = self.zones
        z.rule_idx.extend([rule_idx] * n)
        z.layer_id.extend([layer_id] * n)
        z.feature_id.extend(fids.tolist())
        z.feature_name.extend(names.tolist())
        z.reference.extend(refs.tolist())
        z.half_width.extend(half.astype(float).tolist())
        z.within_m.extend(within.astype(float).tolist())
        z.clip.extend(clip.tolist())
        z.region.extend(region.tolist())
        # Small single-part zones are their own tree piece; only large ones are subdivided.
        simple = (shapely.get_num_coordinates(outer) <= MAX_PIECE_VERTICES) & (shapely.get_num_geometries(outer) == 1)
        simple &= shapely.get_type_id(outer) != 7  # a GeometryCollection is split into its parts
        self._pending_pieces.extend([g] if ok else subdivide(g) for g, ok in zip(outer.tolist(), simple.tolist()))

    def _append_zone(self, rule_idx, layer_id, feature_id, feature_name, ref, half, within_m, clip, outer, region,
                     pieces=None):
        z = self.zones
        z.rule_idx.append(rule_idx)
        z.layer_id.append(layer_id)
        z.feature_id.append(feature_id)
        z.feature_name.append(feature_name)
        z.reference.append(ref)
        z.half_width.append(half)
        z.within_m.append(within_m)
        z.clip.append(clip)
        z.region.append(region)
        self._pending_pieces.append(subdivide(outer) if pieces is None else pieces)

    def _build_tree(self, jurisdiction_pieces: list[tuple[shapely.Geometry, int]]) -> None:
        # One tree for everything a query needs: jurisdiction pieces are owned by negative ids
        # −(j+1), zone pieces by their zone id, so a site takes a single tree query.
        pieces = [p for p, _ in jurisdiction_pieces]
        owner = [-(j + 1) for _, j in jurisdiction_pieces]
        for zone_id, zone_pieces in enumerate(self._pending_pieces):
            pieces.extend(zone_pieces)
            owner.extend([zone_id] * len(zone_pieces))
        del self._pending_pieces
        z = self.zones
        self.zone_rule = np.array(z.rule_idx, dtype=np.int64)
        self.zone_reference = np.array(z.reference, dtype=object)
        self.zone_within = np.array(z.within_m, dtype=float)
        self.zone_half_width = np.array(z.half_width, dtype=float)
        self.zone_clip = np.array(z.clip, dtype=np.int64)
        self.zone_region = np.array(z.region, dtype=object)
        self.pieces = np.array(pieces, dtype=object)
        self.piece_owner = np.array(owner, dtype=np.int64)
        self.tree = STRtree(self.pieces)
        shapely.prepare(self.pieces)  # for classifying the cells, here, on one thread
        self.cells = CellIndex(self.pieces)
        shapely.destroy_prepared(self.pieces)  # shared: never prepared (see warm)
        # Complement zones ("outside every park") measure to the union of what they exclude.
        self.zone_complement = np.array([self.catalog.rules[r].zone.complement for r in z.rule_idx], dtype=bool)
        # Buffered and complement zones measure to their reference (the others report 0: a
        # site in them is on it); zones sharing one (a river named by several rules) share it.
        measured = np.flatnonzero((self.zone_within > 0) | self.zone_complement)
        distinct, ref_of = np.unique(shapely.to_wkb(self.zone_reference[measured]), return_inverse=True)
        self.zone_ref = np.full(len(self.zone_rule), -1, dtype=np.int64)
        self.zone_ref[measured] = ref_of
        reach = np.zeros(len(distinct))
        np.maximum.at(reach, ref_of, self.zone_within[measured])
        extent = tuple(shapely.total_bounds(self.pieces).tolist()) if self.pieces.size else None
        self.references = ReferenceChunks(shapely.from_wkb(distinct), reach, extent)
        self._warm = False

    # Threads share this index, so nothing in it is prepared: each thread prepares its own
    # copies (zoning.prepared).
    def warm(self) -> None:
        """Make the trees' first query now, on one thread: GEOS builds an STRtree on its first
        query (done at compile and when read from the cache)."""
        if getattr(self, "_warm", False):
            return
        for tree in (self.tree, self.unit_tree, self.references.tree, self.references.reach_tree):
            if tree is not None:
                tree.query(shapely.Point(0, 0))
        self._warm = True

    def prepared(self, name: str):
        """This thread's prepared copy of a geometry attribute: ``pieces`` and ``unit_geoms``
        (point lookups in the cell grids), ``planned_region`` (coverage of lines and polygons)."""
        return prepared_copy(self, name)

    # -- 三线一单 control units ----------------------------------------------------------
    _UNIT_FIELDS = ("code", "name", "unit_class", "access_list")

    def _build_control_units(self, layers: list[LayerFeatures]) -> None:
        """Every site is told the environmental control units it lies in, whatever rule binds:
        their access lists are the plans' 三线一单 conditions (a separate small tree)."""
        geoms, attrs = [], []
        for layer in layers:
            if layer.kind != "control_unit" or not len(layer.frame):
                continue
            cols = [c for c in self._UNIT_FIELDS if c in layer.frame.columns]
            geoms.extend(to_metric(layer.frame.geometry.to_numpy()))
            for rec in layer.frame[cols].itertuples(index=False, name=None):
                row = {c: (None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)) for c, v in zip(cols, rec)}
                attrs.append({"layer": layer.id, **row})
        self.unit_geoms = np.array(geoms, dtype=object)
        self.unit_attrs = attrs
        self.unit_tree = STRtree(self.unit_geoms) if geoms else None
        self.unit_cells = CellIndex(self.unit_geoms, target_cells=250_000)  # a few large polygons

    def control_units_at(self, site_metric: shapely.Geometry, point: tuple[float, float] | None = None) -> list[dict]:
        """The control units a site intersects (``point``: the site's x, y when it is a point)."""
        if self.unit_tree is None:
            return []
        if point is not None:
            hits = self.unit_cells.query_point(self.prepared("unit_geoms"), *point)
        else:
            hits = self.unit_tree.query(site_metric, predicate="intersects")
        return [self.unit_attrs[i] for i in sorted(hits.tolist())]

    # -- facts for listings ---------------------------------------------------------
    def zone_count_by_rule(self) -> dict[str, int]:
        counts = np.bincount(self.zone_rule, minlength=len(self.catalog.rules)) if len(self.zone_rule) else []
        return {r.id: int(counts[i]) if len(counts) else 0 for i, r in enumerate(self.catalog.rules)}

    def zone_geometry(self, zone_id: int, site_metric: shapely.Geometry, window_m: float) -> dict:
        """What a map needs to show why a zone binds a site, in metres, cut to a window around
        the site (a red line or a complement zone can span a district): the zone's region, its
        boundary (for a buffered zone, the buffer line that decided), the reference feature, and
        the shortest line from the site to the reference's edge (the distance reported)."""
        xmin, ymin, xmax, ymax = site_metric.bounds
        window = shapely.box(xmin - window_m, ymin - window_m, xmax + window_m, ymax + window_m)
        region = self.zone_region[zone_id]
        reference = self.zone_reference[zone_id]
        half = float(self.zone_half_width[zone_id])
        nearest = shapely.shortest_line(site_metric, reference)
        if half > 0 and nearest.length > 0:  # a line river: stop at its shoreline, not its centreline
            nearest = shapely.LineString([nearest.coords[0], nearest.interpolate(max(nearest.length - half, 0.0)).coords[0]])
        return {
            "zone": shapely.intersection(region, window),
            "boundary": shapely.intersection(shapely.boundary(region), window)
            if float(self.zone_within[zone_id]) > 0 else None,
            "reference": shapely.intersection(reference, window),
            "nearest": nearest if nearest.length > 0 else None,  # none when the site is inside
        }

    @cached_property
    def piece_owner_list(self) -> list[int]:
        """``piece_owner`` as a Python list: a point's few pieces are looked up one by one."""
        return self.piece_owner.tolist()

    def query(self, site_metric: shapely.Geometry, point: tuple[float, float] | None = None
              ) -> tuple[list[str], list[int]]:
        """Jurisdiction codes the site touches, and the ids of zones whose pieces it intersects
        (``point``: the site's x, y when it is a point, looked up in the cell grid)."""
        if point is not None:
            hits = self.cells.query_point(self.prepared("pieces"), *point)
        else:
            hits = self.tree.query(site_metric, predicate="intersects")
        owners = sorted({self.piece_owner_list[h] for h in hits.tolist()})
        codes = [self.jurisdiction_codes[-o - 1] for o in owners if o < 0]
        return codes, [o for o in owners if o >= 0]

    def query_many(self, sites: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(site index, piece index) of every site–piece intersection; points by the cell
        grid, other geometries by the tree."""
        is_point = shapely.get_type_id(sites) == 0
        if is_point.all():
            xy = shapely.get_coordinates(sites)
            return self.cells.query(self.prepared("pieces"), xy[:, 0], xy[:, 1])
        site_i, piece_i = self.tree.query(sites[~is_point], predicate="intersects")
        site_i = np.flatnonzero(~is_point)[site_i]
        if is_point.any():
            pts = np.flatnonzero(is_point)
            xy = shapely.get_coordinates(sites[pts])
            pi, ci = self.cells.query(self.prepared("pieces"), xy[:, 0], xy[:, 1])
            site_i, piece_i = np.r_[site_i, pts[pi]], np.r_[piece_i, ci]
        return site_i, piece_i
