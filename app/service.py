"""The running service's state: the store, the rule catalog and the compiled engine.

Data flows one way: the store's current layer versions are compiled with the catalog into
one ZoneIndex; a request reads one immutable Snapshot, so it always sees one consistent data
version, and a publish swaps in the next snapshot in one assignment (see Service).

Compiling reads every layer and builds every zone (seconds); the result depends only on the
data version, so it is cached in ``<data_dir>/cache/zones-<data_version>.pickle``. The data
version is computed from the store catalog (each layer version's content digest) and the rule
catalog's digest without reading any layer file, so a warm start reads one small file. The
cache is the process's own derived data in the user's data directory; a file that cannot be
read or was written by other zoning code is ignored and rebuilt, never trusted blindly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from ecozone.layers.store import EmbeddedStore, LayerInfo, LayerStore, StagedVersion
from ecozone.layers.store import open_store as _open_store
from ecozone.settings import Settings
from ecozone.layers import kinds as _kinds_module
from ecozone.zoning import catalog as _catalog_module
from ecozone.zoning import cells as _cells_module
from ecozone.zoning import index as _index_module
from ecozone.zoning import metric as _metric_module
from ecozone.zoning import nearest as _nearest_module
from ecozone.zoning.catalog import Catalog, load_catalog
from ecozone.zoning.engine import Engine
from ecozone.zoning.index import LayerFeatures, ZoneIndex

CACHE_FORMAT = 2
_CACHE_PREFIX = "zones-"
_CATALOG_PREFIX = "catalog-"
_CACHE_SUFFIX = ".pickle"
_STALE_TMP_S = 600
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    engine: Engine
    layers: list[LayerInfo]  # the vector layers the zones were compiled from
    data_version: str
    rasters: tuple[LayerInfo, ...] = ()  # raster layers (DEMs), current with the same store state


def open_store(settings: Settings) -> LayerStore:
    """The configured store; a fresh, empty embedded one gets the demo layers (a PostGIS
    database gets them only from `ecozone demo load`, on purpose)."""
    store = _open_store(settings.data_dir, settings.database_url)
    if isinstance(store, EmbeddedStore) and store.is_empty():
        from ecozone.layers.demo import load_demo_layers

        load_demo_layers(store)
    return store


def compiled_layers(store: LayerStore) -> list[LayerInfo]:
    """The layers a ZoneIndex is compiled from, with the rasters (which are not zoned)."""
    return store.list_layers()


def data_version(infos: list[LayerInfo], catalog: Catalog) -> str:
    """Content, not history: the same layers and rules give the same version on any install.
    Built from the store catalog's per-version digests, so no layer file is read."""
    stamp = "|".join(f"{i.id}:{i.kind}:{i.sha256}" for i in infos) + "|rules:" + catalog.digest
    return hashlib.sha256(stamp.encode()).hexdigest()[:16]


def _code_stamp() -> str:
    """What else a compiled index depends on: the zoning code that built it and the geometry
    libraries. A cache written by other code is a miss, not a wrong answer."""
    import pyproj

    h = hashlib.sha256(f"{CACHE_FORMAT}|{shapely.__version__}|{np.__version__}|{pyproj.__version__}|"
                       f"{pyproj.proj_version_str}|{sys.version_info[:2]}".encode())
    for module in (_index_module, _cells_module, _nearest_module, _metric_module, _catalog_module, _kinds_module):
        try:
            h.update(Path(module.__file__).read_bytes())
        except (OSError, TypeError):
            h.update(b"?")
    return h.hexdigest()[:16]


def _catalog_stamp() -> str:
    """What the rule catalog is parsed from: every YAML file of the zoning package (plans,
    project types, national rules), the code that parses and validates them, and pydantic."""
    import pydantic

    h = hashlib.sha256(f"{CACHE_FORMAT}|{pydantic.VERSION}|{sys.version_info[:2]}".encode())
    root = Path(_catalog_module.__file__).parent
    for path in sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    for module in (_catalog_module, _kinds_module):
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


def load_catalog_cached(cache_dir: str | os.PathLike) -> Catalog:
    """load_catalog(), kept as a pickle in cache_dir keyed by _catalog_stamp(): parsing and
    validating the rule files is a tenth of a second, a fifth of a warm CLI call."""
    directory = Path(cache_dir)
    try:
        stamp = _catalog_stamp()
    except OSError:  # package files not on disk (a zip install): parse every time
        return load_catalog()
    path = directory / f"{_CATALOG_PREFIX}{stamp}{_CACHE_SUFFIX}"
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
        if isinstance(payload, dict) and payload.get("stamp") == stamp and isinstance(payload.get("catalog"), Catalog):
            return payload["catalog"]
    except FileNotFoundError:
        pass
    except Exception as e:  # corrupt or foreign: parse again and overwrite
        log.warning("ignoring unreadable catalog cache %s (%s: %s); rebuilding", path, type(e).__name__, e)
    catalog = load_catalog()
    catalog.digest  # noqa: B018 — computed now, so that it is stored with the catalog
    if _atomic_pickle(path, {"stamp": stamp, "catalog": catalog}, pickle.Pickler):
        _sweep(directory, _CATALOG_PREFIX, keep=path)
    return catalog


def _atomic_pickle(path: Path, payload, pickler_factory) -> bool:
    """Write under a temporary name, fsync, os.replace. Failing (read-only data dir, full disk)
    only costs speed, so it is logged, not raised."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            pickler_factory(fh).dump(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        return True
    except Exception as e:
        tmp.unlink(missing_ok=True)
        log.warning("could not write cache %s (%s: %s)", path, type(e).__name__, e)
        return False


def _sweep(directory: Path, prefix: str, keep: Path) -> None:
    """Remove other versions' cache files, and temporary files left by an interrupted write
    (only old ones: another process may be writing its own right now)."""
    now = time.time()
    try:
        entries = list(directory.iterdir())
    except OSError:
        return
    for other in entries:
        name = other.name
        try:
            if name.startswith(prefix) and name.endswith(_CACHE_SUFFIX) and other != keep:
                other.unlink(missing_ok=True)
            elif name.startswith("." + prefix) and name.endswith(".tmp") and now - other.stat().st_mtime > _STALE_TMP_S:
                other.unlink(missing_ok=True)
        except OSError:
            pass


class ZoneCache:
    """``<dir>/zones-<data_version>.pickle``: one compiled ZoneIndex per data version.

    The rule catalog is not stored (ZoneIndex leaves it out of its pickled state): the index
    is bound to the current catalog when read — the data version includes the catalog digest,
    so they are the same rules."""

    def __init__(self, directory: str | os.PathLike):
        self.dir = Path(directory)

    def path(self, version: str) -> Path:
        return self.dir / f"{_CACHE_PREFIX}{version}{_CACHE_SUFFIX}"

    def load(self, version: str, catalog: Catalog) -> ZoneIndex | None:
        path = self.path(version)
        try:
            with open(path, "rb") as fh:
                payload = pickle.load(fh)
            if not (
                isinstance(payload, dict)
                and payload.get("format") == CACHE_FORMAT
                and payload.get("code") == _code_stamp()
                and payload.get("data_version") == version
                and isinstance(payload.get("index"), ZoneIndex)
            ):
                return None
            index = payload["index"]
            index.catalog = catalog
            return index
        except FileNotFoundError:
            return None
        except Exception as e:  # corrupt, truncated, other pickle: rebuild, never fatal
            log.warning("ignoring unreadable zone cache %s (%s: %s); rebuilding", path, type(e).__name__, e)
            return None

    def store(self, version: str, catalog: Catalog, index: ZoneIndex) -> Path | None:
        """Write atomically (temporary name, then os.replace), then remove other versions'
        files. Failing to write (read-only data dir, full disk) only costs speed."""
        path = self.path(version)
        payload = {"format": CACHE_FORMAT, "code": _code_stamp(), "data_version": version, "index": index}
        if not _atomic_pickle(path, payload, lambda fh: pickle.Pickler(fh, protocol=pickle.HIGHEST_PROTOCOL)):
            return None
        _sweep(self.dir, _CACHE_PREFIX, keep=path)
        return path


class Service:
    """The store, the rule catalog and the current Snapshot, swapped in one assignment.

    A request reads ``service.snapshot`` once and works on that object, so a publish that
    swaps in a new one never changes an answer half-way. Writes go through ``publish`` /
    ``rollback`` / ``delete``: the new state is compiled inside the store's write transaction
    (``before_commit``), so a layer the engine cannot compile is never made current, and the
    compiled zones are in the cache before any other worker learns of the change. Other
    workers call ``refresh()`` (the app polls it) and load the new zones from that cache."""

    def __init__(self, store: LayerStore, catalog: Catalog | None = None, cache_dir: str | os.PathLike | None = None,
                 settings: Settings | None = None):
        self.store = store
        self.settings = settings or Settings()
        self.catalog = catalog or load_catalog()
        self.cache = ZoneCache(cache_dir) if cache_dir is not None else None
        self.from_cache = False  # whether the current snapshot's zones were read from the cache
        self._swap_lock = threading.Lock()
        self._seen_generation = store.generation()
        self.snapshot: Snapshot = self._compile(compiled_layers(store), {})

    @classmethod
    def open(cls, settings: Settings) -> "Service":
        """Open the configured store (see open_store). Compiled zones are cached in
        <data_dir>/cache."""
        store = open_store(settings)
        cache_dir = Path(settings.data_dir) / "cache"
        return cls(store, load_catalog_cached(cache_dir), cache_dir=cache_dir, settings=settings)

    def _compile(self, infos: list[LayerInfo], staged: dict[str, StagedVersion]) -> Snapshot:
        """The snapshot for these layer versions: from the cache, or compiled — only the rules
        over the layer kinds that differ from the current snapshot's when there is one."""
        rasters = tuple(i for i in infos if i.kind == "raster")
        infos = [i for i in infos if i.kind != "raster"]
        version = data_version(infos, self.catalog)
        current: Snapshot | None = getattr(self, "snapshot", None)
        if current is not None and current.data_version == version:
            return Snapshot(current.engine, infos, version, rasters)
        index = self.cache.load(version, self.catalog) if self.cache is not None else None
        self.from_cache = index is not None
        if index is None:
            def frame(info: LayerInfo):
                s = staged.get(info.id)
                return s.frame if s is not None and s.info.version == info.version else self.store.read(info.id, info.version)

            layers = [LayerFeatures(i.id, i.name, i.kind, frame(i), i.version) for i in infos]
            previous = current.engine.index if current is not None else None
            index = ZoneIndex(self.catalog, layers, previous=previous,
                              changed_kinds=changed_kinds(current.layers, infos) if current is not None else None)
            if self.cache is not None:
                self.cache.store(version, self.catalog, index)
        return Snapshot(Engine(index), infos, version, rasters)

    def _swap(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot  # one assignment: requests hold the old object until they finish

    def refresh(self) -> bool:
        """Serve what the store holds now, if another process changed it; True if swapped."""
        generation = self.store.generation()
        if generation == self._seen_generation:
            return False
        with self._swap_lock:
            self._seen_generation = generation
            infos = compiled_layers(self.store)
            vectors = [i for i in infos if i.kind != "raster"]
            rasters = tuple(i for i in infos if i.kind == "raster")
            if data_version(vectors, self.catalog) == self.snapshot.data_version and rasters == self.snapshot.rasters:
                return False
            self._swap(self._compile(infos, {}))
            return True

    def _writing(self):
        """A before_commit hook that compiles the candidate state, and a way to swap it in."""
        compiled: list[Snapshot] = []

        def before_commit(candidates: list[LayerInfo], staged: dict[str, StagedVersion]) -> None:
            compiled.append(self._compile(candidates, staged))

        return before_commit, compiled

    def _write(self, cause: str, write, kind: str | None = None):
        """Run a store write with the compile hook, swap to what it compiled, then (after the
        commit: a failure there loses nothing) derive the terrain zones again when a DEM or a
        river changed, and re-evaluate the saved checks on the new snapshot."""
        with self._swap_lock:
            hook, compiled = self._writing()
            out = write(hook)
            self._swap(compiled[-1])
        if kind in ("raster", "river"):
            from ecozone.terrain import derive_terrain_zones  # the app's terrain layer, built on this module

            derive_terrain_zones(self, cause)
        self.reevaluate_saved_checks(cause)
        return out

    def reevaluate_saved_checks(self, cause: str) -> int:
        from ecozone.projects import reevaluate  # the app's answers, built on this module

        try:
            return reevaluate(self, cause)
        except Exception:
            log.exception("re-evaluating saved checks failed; the next change will catch up")
            return 0

    def publish(self, layer_id: str, name: str, kind: str, frame, source_crs: str, **options) -> LayerInfo:
        return self._write(f"publish {layer_id}", lambda hook: self.store.publish(
            layer_id, name, kind, frame, source_crs, before_commit=hook, **options), kind)

    def publish_raster(self, layer_id: str, name: str, cog: bytes, meta: dict, **options) -> LayerInfo:
        return self._write(f"publish {layer_id}", lambda hook: self.store.publish_raster(
            layer_id, name, cog, meta, before_commit=hook, **options), "raster")

    def rollback(self, layer_id: str, version: int, **options) -> LayerInfo:
        return self._write(f"rollback {layer_id} to v{version}", lambda hook: self.store.rollback(
            layer_id, version, before_commit=hook, **options), self.store.get_layer(layer_id).kind)

    def delete(self, layer_id: str, **options) -> None:
        return self._write(f"delete {layer_id}", lambda hook: self.store.delete(layer_id, before_commit=hook, **options),
                           self.store.get_layer(layer_id).kind)


def changed_kinds(before: list[LayerInfo], after: list[LayerInfo]) -> set[str]:
    """Layer kinds whose content differs between two layer lists (added, removed or changed)."""
    old = {(i.id, i.kind, i.sha256) for i in before}
    new = {(i.id, i.kind, i.sha256) for i in after}
    return {kind for _, kind, _ in old ^ new}
