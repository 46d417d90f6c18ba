"""Terrain in the service: which raster layers are DEMs, their zonal statistics in siting
answers, and the zones derived from them — slope classes, the reservoir drawdown band, the
river viewshed (生态屏障区) — published as ordinary layers the rules bind to, recomputed and
versioned whenever a DEM or a river layer is published, rolled back or deleted.

Derived layers are named ``derived-<what>-<dem id>`` and carry in their version comment the
DEM and river versions they come from; GIS staff download them like any other layer.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict

from ecozone.layers.store import LayerInfo
from ecozone.layers.store.base import content_digest
from ecozone.service import Service, Snapshot

log = logging.getLogger(__name__)

_DEM_NAME = re.compile(r"dem|dtm|elev|高程|地形", re.I)
_METRE_UNITS = {"m", "metre", "metres", "meter", "meters", "米"}
DERIVED_ACTOR = "ecozone-terrain"


class _DemCache:
    """Read DEMs by content digest (a version's content never changes)."""

    def __init__(self, size: int = 4):
        self._items: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, service: Service, info: LayerInfo):
        with self._lock:
            if info.sha256 in self._items:
                self._items.move_to_end(info.sha256)
                return self._items[info.sha256]
        from ecozone.layers.terrain import read_dem

        data = service.store.raster_bytes(info.id, info.version)
        entry = (read_dem(data), _units_say_metres(data))
        with self._lock:
            self._items[info.sha256] = entry
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return entry


_DEMS = _DemCache()


def _units_say_metres(cog: bytes) -> bool:
    from rasterio.io import MemoryFile

    with MemoryFile(cog) as mem, mem.open() as src:
        units = (src.units[0] or "").strip().lower()
        description = src.descriptions[0] or ""
    return units in _METRE_UNITS or bool(_DEM_NAME.search(description))


def dem_layers(service: Service, snap: Snapshot) -> list[tuple[LayerInfo, object]]:
    """The snapshot's raster layers that are DEMs — named so (dem, 高程 …) or with a band in
    metres — with their elevation grids."""
    out = []
    for info in snap.rasters:
        try:
            dem, metres = _DEMS.get(service, info)
        except Exception:  # an unreadable raster is no DEM; say why in the log, answer without it
            log.exception("cannot read raster layer %s as a DEM", info.id)
            continue
        if metres or _DEM_NAME.search(info.id) or _DEM_NAME.search(info.name):
            out.append((info, dem))
    return out


def terrain_at(service: Service, snap: Snapshot, site_lonlat) -> list[dict] | None:
    """Zonal statistics of every DEM covering the site (None when no DEM covers it)."""
    if not snap.rasters:
        return None
    from ecozone.layers.terrain import zonal_stats

    out = []
    for info, dem in dem_layers(service, snap):
        stats = zonal_stats(dem, site_lonlat)
        if stats is not None:
            out.append({"layer": info.id, "version": info.version, **stats})
    return out or None


def _rivers(service: Service, snap: Snapshot, names: list[str]):
    import pandas as pd

    frames = [service.store.read(i.id, i.version) for i in snap.layers if i.kind == "river"]
    if not frames:
        return None
    rivers = pd.concat(frames, ignore_index=True)
    rivers = rivers[rivers["name"].astype(str).isin(names)] if "name" in rivers.columns else rivers.iloc[:0]
    return rivers if len(rivers) else None


def derive_terrain_zones(service: Service, cause: str) -> list[str]:
    """(Re)publish every DEM's derived layers from the current DEMs and rivers; returns the ids
    published or deleted. Failing here leaves the previous derived versions serving."""
    from ecozone.layers.terrain import drawdown_zones, slope_zones, viewshed_zones

    settings = service.settings
    snap = service.snapshot
    changed: list[str] = []
    try:
        dems = dem_layers(service, snap)
        reservoir = _rivers(service, snap, settings.names(settings.reservoir_rivers))
        viewed = _rivers(service, snap, settings.names(settings.viewshed_rivers))
        river_versions = ", ".join(f"{i.id} v{i.version}" for i in snap.layers if i.kind == "river") or "none"
        wanted: dict[str, tuple] = {}
        for info, dem in dems:
            source = f"derived from DEM {info.id} v{info.version} and rivers ({river_versions}); {cause}"
            wanted[f"derived-slope-{info.id}"] = ("slope_zone", f"坡度分区（{info.name}）", lambda d=dem: slope_zones(d), source)
            if reservoir is not None:
                wanted[f"derived-drawdown-{info.id}"] = (
                    "drawdown_zone", f"消落带（{info.name} 派生）",
                    lambda d=dem: drawdown_zones(d, reservoir, settings.drawdown_low_m, settings.drawdown_high_m), source)
            if viewed is not None:
                wanted[f"derived-barrier-{info.id}"] = (
                    "barrier_zone", f"生态屏障区（{info.name} 视域派生）",
                    lambda d=dem: viewshed_zones(d, viewed, settings.viewshed_observer_height_m,
                                                 settings.viewshed_max_distance_m), source)
        current = {i.id: i for i in service.store.list_layers() if i.id.startswith("derived-")}
        for layer_id, (kind, name, build, source) in wanted.items():
            frame = build()
            old = current.get(layer_id)
            if not len(frame):
                if old is not None:
                    service.delete(layer_id, actor=DERIVED_ACTOR, comment="empty: " + source)
                    changed.append(layer_id)
                continue
            if old is not None and old.sha256 == content_digest(kind, frame.assign(
                    feature_id=[str(k + 1) for k in range(len(frame))])):
                continue  # the same zones: no new version
            service.publish(layer_id, name, kind, frame, "EPSG:4326", actor=DERIVED_ACTOR, comment=source)
            changed.append(layer_id)
        for layer_id in current.keys() - wanted.keys():  # its DEM is gone
            service.delete(layer_id, actor=DERIVED_ACTOR, comment=f"source DEM removed; {cause}")
            changed.append(layer_id)
    except Exception:
        log.exception("deriving terrain zones failed (%s); the previous derived layers keep serving", cause)
    return changed
