"""Layer stores: one protocol (`base.LayerStore`), two backends — the embedded SQLite +
GeoPackage store (`embedded`) and PostgreSQL/PostGIS (`postgis`) — chosen by `open_store`."""

from __future__ import annotations

from ecozone.layers.store.base import (
    AuditEntry, LayerExists, LayerInfo, LayerStore, StagedVersion, TokenInfo, VersionInfo, VersionMismatch,
    content_digest,
)
from ecozone.layers.store.embedded import EmbeddedStore

__all__ = [
    "AuditEntry", "EmbeddedStore", "LayerExists", "LayerInfo", "LayerStore", "StagedVersion", "TokenInfo",
    "VersionInfo", "VersionMismatch", "content_digest", "open_store",
]


def open_store(data_dir, database_url: str | None = None) -> LayerStore:
    """The PostGIS store when a ``postgresql://`` URL is given, else the embedded store."""
    if database_url:
        from ecozone.layers.store.postgis import PostGISStore

        return PostGISStore(database_url)
    return EmbeddedStore(data_dir)
