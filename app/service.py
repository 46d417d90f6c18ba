"""The running service's state: the store, the rule catalog and the compiled engine.

Data flows one way: the store's current layer versions are compiled with the catalog into
one ZoneIndex; a request reads one immutable Snapshot, so it always sees one consistent data
version (layer writes, which will swap the snapshot, are not part of this version).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ecozone.layers.demo import load_demo_layers
from ecozone.layers.store import EmbeddedStore, LayerInfo, LayerStore
from ecozone.settings import Settings
from ecozone.zoning.catalog import Catalog, load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex


@dataclass(frozen=True)
class Snapshot:
    engine: Engine
    layers: list[LayerInfo]
    data_version: str


def open_store(settings: Settings) -> LayerStore:
    if settings.database_url:
        raise RuntimeError(
            "ECOZONE_DATABASE_URL is set, but the PostGIS store is not part of this version; "
            "unset it to use the embedded store in ECOZONE_DATA_DIR."
        )
    return EmbeddedStore(settings.data_dir)


class Service:
    def __init__(self, store: LayerStore, catalog: Catalog | None = None):
        self.store = store
        self.catalog = catalog or load_catalog()
        self.snapshot: Snapshot = self._compile()

    @classmethod
    def open(cls, settings: Settings) -> "Service":
        """Open the configured store; a fresh, empty one gets the demo layers."""
        store = open_store(settings)
        if store.is_empty():
            load_demo_layers(store)
        return cls(store)

    def _compile(self) -> Snapshot:
        infos = [i for i in self.store.list_layers() if i.kind != "raster"]
        layers = [LayerFeatures(i.id, i.name, i.kind, self.store.read(i.id), i.version) for i in infos]
        index = ZoneIndex(self.catalog, layers)
        # Content, not history: the same layers and rules give the same version on any install.
        stamp = "|".join(f"{i.id}:{i.kind}:{i.sha256}" for i in infos) + "|rules:" + self.catalog.digest
        return Snapshot(Engine(index), infos, hashlib.sha256(stamp.encode()).hexdigest()[:16])
