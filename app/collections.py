"""Feature collections, as OGC API – Features and the vector tiles publish them.

Two sources behind one interface (the pygeoapi provider idea): every published vector layer
(read through the store's bbox reads), and one collection per rule holding its compiled zones —
"where does this rule bite", which no other system publishes. Frames are WGS84 with a string
``feature_id``; a zone collection's features carry the rule id, effect and citation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import shapely

from ecozone.layers.errors import NotFound
from ecozone.service import Service
from ecozone.zoning.metric import to_lonlat

if TYPE_CHECKING:
    import geopandas as gpd

ZONE_PREFIX = "zones."
# Zone outlines are published simplified to this many metres (the exact test never uses them).
_ZONE_SIMPLIFY_M = 1.0


@dataclass(frozen=True)
class Collection:
    id: str
    title: dict  # {"zh", "en"}
    description: dict
    kind: str  # a layer kind, or "rule_zone"
    bbox: list[float]  # WGS84 west, south, east, north
    version: str  # what a cached answer depends on: the layer version or the data version
    feature_count: int


def _layer_collection(info) -> Collection:
    return Collection(
        id=info.id, title={"zh": info.name, "en": info.name},
        description={"zh": f"图层 {info.name}（{info.kind}），版本 {info.version}",
                     "en": f"Layer {info.id} ({info.kind}), version {info.version}"},
        kind=info.kind, bbox=list(info.bbox), version=f"{info.id}-v{info.version}", feature_count=info.feature_count,
    )


class Collections:
    """The collections of one service, read from its current snapshot on every call."""

    def __init__(self, service: Service):
        self.service = service

    # -- listing ---------------------------------------------------------------------------
    def all(self) -> list[Collection]:
        snap = self.service.snapshot
        out = [_layer_collection(i) for i in snap.layers]
        out.extend(self._zone_collection(rule_id) for rule_id in self._zone_rules())
        return out

    def get(self, collection_id: str) -> Collection:
        if collection_id.startswith(ZONE_PREFIX):
            rule_id = collection_id[len(ZONE_PREFIX):]
            if rule_id in self._zone_rules():
                return self._zone_collection(rule_id)
        else:
            for info in self.service.snapshot.layers:
                if info.id == collection_id:
                    return _layer_collection(info)
        raise NotFound(f"没有集合 {collection_id}", f"No collection {collection_id!r}", where="collectionId",
                       value=collection_id)

    # -- features --------------------------------------------------------------------------
    def features(self, collection_id: str, bbox: tuple[float, float, float, float] | None = None) -> gpd.GeoDataFrame:
        """The collection's features (those intersecting ``bbox`` when given), in a stable order."""
        self.get(collection_id)  # 404 for an unknown id
        if collection_id.startswith(ZONE_PREFIX):
            frame = self._zones_frame(collection_id[len(ZONE_PREFIX):])
            if bbox is not None:
                hits = frame.sindex.query(shapely.box(*bbox), predicate="intersects")
                frame = frame.iloc[np.sort(hits)]
            return frame
        store = self.service.store
        return store.read_bbox(collection_id, bbox) if bbox is not None else store.read(collection_id)

    # -- rule zones ------------------------------------------------------------------------
    def _zone_rules(self) -> list[str]:
        index = self.service.snapshot.engine.index
        rules = index.catalog.rules
        return [rules[i].id for i in sorted(set(index.zone_rule.tolist()))]

    def _rule(self, rule_id: str):
        index = self.service.snapshot.engine.index
        rule_idx = next(i for i, r in enumerate(index.catalog.rules) if r.id == rule_id)
        return index.catalog.rules[rule_idx], np.flatnonzero(index.zone_rule == rule_idx)

    def _zone_collection(self, rule_id: str) -> Collection:
        snap = self.service.snapshot
        index = snap.engine.index
        rule, ids = self._rule(rule_id)
        bounds = shapely.total_bounds(to_lonlat(shapely.envelope(index.zone_region[ids])))
        return Collection(
            id=ZONE_PREFIX + rule_id, title={"zh": f"规则管控范围：{rule.message.zh}", "en": f"Zones of rule {rule_id}"},
            description={"zh": f"《{rule.citation.document}》{rule.citation.section}：{rule.citation.text}",
                         "en": rule.message.en},
            kind="rule_zone", bbox=[round(float(b), 6) for b in bounds], version=snap.data_version,
            feature_count=int(ids.size),
        )

    def _zones_frame(self, rule_id: str) -> gpd.GeoDataFrame:
        snap = self.service.snapshot
        cache = _ZONE_FRAMES.get((snap.data_version, rule_id))
        if cache is not None:
            return cache
        import geopandas as gpd

        index = snap.engine.index
        rule, ids = self._rule(rule_id)
        regions = shapely.simplify(index.zone_region[ids], _ZONE_SIMPLIFY_M, preserve_topology=True)
        z = index.zones
        frame = gpd.GeoDataFrame(
            {
                "feature_id": [str(k + 1) for k in range(ids.size)],
                "rule_id": rule.id,
                "effect": rule.effect,
                "jurisdiction": rule.jurisdiction,
                "layer": [z.layer_id[i] for i in ids],
                "source_feature_id": [z.feature_id[i] for i in ids],
                "source_feature_name": [z.feature_name[i] for i in ids],
                "buffer_m": float(rule.zone.buffer_m or 0.0),
                "message_zh": rule.message.zh,
                "message_en": rule.message.en,
                "document": rule.citation.document,
                "section": rule.citation.section,
                "citation": rule.citation.text,
            },
            geometry=to_lonlat(regions), crs=4326,
        )
        if len(_ZONE_FRAMES) > 512:
            _ZONE_FRAMES.clear()
        _ZONE_FRAMES[(snap.data_version, rule_id)] = frame
        return frame


# (data_version, rule id) → zones frame: derived from an immutable snapshot, so never stale.
_ZONE_FRAMES: dict[tuple[str, str], "gpd.GeoDataFrame"] = {}
