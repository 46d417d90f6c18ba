"""The versioned layer store.

`LayerStore` is the one interface every backend implements (the pygeoapi provider idea).
`EmbeddedStore` is the default: a data directory holding a SQLite catalog and one immutable
GeoPackage per layer version. A version file is written under a temporary name, fsynced and
renamed into place *before* the catalog row that points at it is committed, so a crash at any
moment leaves the previously published version serving, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import shapely

from ecozone.layers.errors import InputError, NotFound

if TYPE_CHECKING:  # geopandas and pyogrio are imported where files are read or written
    import geopandas as gpd

LAYER_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS layer_versions (
    layer_id TEXT NOT NULL REFERENCES layers(id),
    version INTEGER NOT NULL,
    file TEXT NOT NULL,
    sha256 TEXT NOT NULL, -- content_digest(): geometry + attributes, not file bytes
    feature_count INTEGER NOT NULL,
    geometry_type TEXT NOT NULL,
    bbox TEXT NOT NULL,
    source_crs TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (layer_id, version)
);
"""


@dataclass(frozen=True)
class LayerInfo:
    id: str
    name: str
    kind: str
    version: int
    feature_count: int
    geometry_type: str
    bbox: list[float]
    source_crs: str
    updated_at: str
    sha256: str

    def public(self) -> dict:
        d = asdict(self)
        d.pop("sha256")
        return d


class LayerStore(Protocol):
    def list_layers(self) -> list[LayerInfo]: ...

    def get_layer(self, layer_id: str) -> LayerInfo: ...

    def read(self, layer_id: str, version: int | None = None) -> gpd.GeoDataFrame: ...

    def publish(self, layer_id: str, name: str, kind: str, frame: gpd.GeoDataFrame, source_crs: str) -> LayerInfo: ...

    def is_empty(self) -> bool: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def content_digest(kind: str, frame: gpd.GeoDataFrame) -> str:
    """A digest of what a layer *says*, not of the file that holds it: normalised geometry
    (rings oriented and started canonically, coordinates rounded to 1e-9 degree) and
    attributes, feature by feature in a stable order. GeoPackage bytes carry timestamps, so
    two stores holding the same data must not be told apart by them (data_version is built
    from this)."""
    geoms = shapely.normalize(shapely.set_precision(frame.geometry.to_numpy(), 1e-9))
    wkb = shapely.to_wkb(geoms, hex=True, output_dimension=2)
    columns = sorted(c for c in frame.columns if c != frame.geometry.name)
    rows = []
    for k, record in enumerate(frame[columns].itertuples(index=False, name=None)):
        attrs = {c: (None if (isinstance(v, float) and v != v) or v is None else str(v)) for c, v in zip(columns, record)}
        rows.append(json.dumps(attrs, ensure_ascii=False, sort_keys=True) + "|" + str(wkb[k]))
    payload = kind + "\n" + "\n".join(sorted(rows))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _geometry_type(frame: gpd.GeoDataFrame) -> str:
    types = sorted(set(frame.geometry.geom_type.dropna()))
    return types[0] if len(types) == 1 else "Geometry" if types else "None"


class EmbeddedStore:
    """SQLite catalog + immutable per-version GeoPackages in one directory."""

    def __init__(self, data_dir: str | os.PathLike):
        self.root = Path(data_dir)
        (self.root / "layers").mkdir(parents=True, exist_ok=True)
        self._db_path = self.root / "catalog.sqlite"
        self._lock = threading.Lock()
        self._frames: dict[tuple[str, int], gpd.GeoDataFrame] = {}
        with self._connect() as db:
            db.executescript(SCHEMA)
        self._sweep_orphans()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, timeout=30)
        db.row_factory = sqlite3.Row
        return db

    def _sweep_orphans(self) -> None:
        # Temporary files are what an interrupted publish leaves behind; they were never
        # referenced by the catalog, so removing them loses nothing.
        for tmp in (self.root / "layers").glob("*/.*.tmp.gpkg"):
            tmp.unlink(missing_ok=True)

    def is_empty(self) -> bool:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM layers").fetchone()[0] == 0

    def _info(self, row: sqlite3.Row) -> LayerInfo:
        return LayerInfo(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            version=row["version"],
            feature_count=row["feature_count"],
            geometry_type=row["geometry_type"],
            bbox=json.loads(row["bbox"]),
            source_crs=row["source_crs"],
            updated_at=row["created_at"],
            sha256=row["sha256"],
        )

    _SELECT = """
        SELECT l.id, l.name, l.kind, v.version, v.feature_count, v.geometry_type, v.bbox,
               v.source_crs, v.created_at, v.sha256, v.file
        FROM layers l JOIN layer_versions v ON v.layer_id = l.id AND v.version = l.current_version
    """

    def list_layers(self) -> list[LayerInfo]:
        with self._connect() as db:
            return [self._info(r) for r in db.execute(self._SELECT + " ORDER BY l.id")]

    def get_layer(self, layer_id: str) -> LayerInfo:
        with self._connect() as db:
            row = db.execute(self._SELECT + " WHERE l.id = ?", (layer_id,)).fetchone()
        if row is None:
            raise NotFound(f"图层不存在：{layer_id}", f"No layer {layer_id!r}", field="id", value=layer_id)
        return self._info(row)

    def read(self, layer_id: str, version: int | None = None) -> gpd.GeoDataFrame:
        info = self.get_layer(layer_id)
        version = version or info.version
        key = (layer_id, version)
        if key not in self._frames:
            with self._connect() as db:
                row = db.execute(
                    "SELECT file FROM layer_versions WHERE layer_id = ? AND version = ?", (layer_id, version)
                ).fetchone()
            if row is None:
                raise NotFound(
                    f"图层 {layer_id} 没有版本 {version}", f"Layer {layer_id!r} has no version {version}",
                    field="version", value=version,
                )
            import pyogrio

            frame = pyogrio.read_dataframe(self.root / row["file"])
            self._frames[key] = frame.to_crs(4326) if frame.crs is not None and frame.crs.to_epsg() != 4326 else frame
        return self._frames[key]

    def publish(self, layer_id: str, name: str, kind: str, frame: gpd.GeoDataFrame, source_crs: str) -> LayerInfo:
        """Write a new immutable version (WGS84) and make it current, all or nothing."""
        if not LAYER_ID.match(layer_id):
            raise InputError(
                f"图层 id 须为小写字母开头的 slug（a-z0-9_-，最长 64）：{layer_id}",
                f"Layer id must be a slug (a-z0-9_-, starting with a letter, at most 64): {layer_id!r}",
                field="id", value=layer_id,
            )
        import pyogrio

        frame = frame.to_crs(4326) if frame.crs is not None else frame.set_crs(4326)
        with self._lock:
            with self._connect() as db:
                row = db.execute("SELECT MAX(version) FROM layer_versions WHERE layer_id = ?", (layer_id,)).fetchone()
            version = (row[0] or 0) + 1
            rel = Path("layers") / layer_id / f"v{version}.gpkg"
            final = self.root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".v{version}.tmp.gpkg")
            pyogrio.write_dataframe(frame, tmp, layer=layer_id, driver="GPKG")
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            sha = content_digest(kind, frame)
            os.replace(tmp, final)
            bounds = shapely.total_bounds(frame.geometry.to_numpy())
            now = _now()
            with self._connect() as db:
                db.execute(
                    "INSERT INTO layers (id, name, kind, current_version, created_at, updated_at) VALUES (?,?,?,?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET name=excluded.name, current_version=excluded.current_version, "
                    "updated_at=excluded.updated_at",
                    (layer_id, name, kind, version, now, now),
                )
                db.execute(
                    "INSERT INTO layer_versions VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        layer_id, version, rel.as_posix(), sha, len(frame), _geometry_type(frame),
                        json.dumps([round(float(b), 6) for b in bounds]), source_crs, now,
                    ),
                )
        return self.get_layer(layer_id)
