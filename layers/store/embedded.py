"""The embedded store: a data directory holding a SQLite catalog (WAL) and one immutable file
per layer version (GeoPackage for features, Cloud-Optimised GeoTIFF for rasters).

A version file is written under a unique temporary name, fsynced, and renamed to its unique
final name inside the write transaction, just before the catalog row that points at it is
committed: a failure at any moment leaves the previous version serving, byte for byte, and at
worst an unreferenced file that a later sweep removes. Writers are serialised across
processes by ``BEGIN IMMEDIATE``; readers (WAL) are never blocked.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import shapely

from ecozone.layers.errors import InputError
from ecozone.layers.store.base import (
    RASTER_GEOMETRY, AuditEntry, BeforeCommit, FrameCache, LayerInfo, StagedVersion, TokenInfo, VersionInfo,
    audit_detail, bytes_digest, check_layer_id, check_mode, check_role, hash_token,
    layer_exists, new_id, new_token_secret, no_layer, no_project, no_version, not_vector, now_iso, prepare_frame,
    rollback_staging, staged_info, version_mismatch,
)

if TYPE_CHECKING:
    import geopandas as gpd

SCHEMA = """
CREATE TABLE IF NOT EXISTS layers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deleted_at TEXT
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
    created_by TEXT,
    comment TEXT,
    restored_from INTEGER,
    PRIMARY KEY (layer_id, version)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT,
    action TEXT NOT NULL,
    layer_id TEXT,
    version INTEGER,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS tokens (
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE TABLE IF NOT EXISTS saved_checks (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    created_at TEXT NOT NULL,
    created_by TEXT,
    request TEXT NOT NULL,  -- JSON: label, WGS84 site, project types
    summary TEXT NOT NULL,  -- JSON: the current answer (verdict, rules, versions)
    data_version TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS impact (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    check_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('generation', 0);
"""
# Columns added after the first release, for data directories it created.
_MIGRATIONS = {
    "layers": {"deleted_at": "TEXT"},
    "layer_versions": {"created_by": "TEXT", "comment": "TEXT", "restored_from": "INTEGER"},
}
# Temporary and unreferenced files younger than this may belong to a publish in flight in
# another process; only older ones are swept.
ORPHAN_AGE_S = 3600.0


class EmbeddedStore:
    """SQLite catalog + immutable per-version files in one directory."""

    def __init__(self, data_dir: str | os.PathLike):
        self.root = Path(data_dir)
        (self.root / "layers").mkdir(parents=True, exist_ok=True)
        self._db_path = self.root / "catalog.sqlite"
        self._frames = FrameCache()  # versions are immutable: cached frames never go stale
        self._readers = threading.local()
        self._set_up()
        self.sweep_orphans()

    def _set_up(self) -> None:
        """WAL mode, tables and migrations — skipped (no write, no lock) when already done, so
        that workers opening the store never wait for a publish in flight. Setting WAL needs a
        moment with no other connection: several processes opening a fresh directory at once
        retry it."""
        db = self._connect()
        try:
            if self._schema_current(db):
                return
            for attempt in range(50):
                try:
                    db.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
            db.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, columns in _MIGRATIONS.items():
                have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
                for column, decl in columns.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")
            db.execute("COMMIT")
        finally:
            db.close()

    @staticmethod
    def _schema_current(db: sqlite3.Connection) -> bool:
        if db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            return False
        for table in ("layers", "layer_versions", "audit", "tokens", "meta", "projects", "saved_checks", "impact"):
            have = {r["name"] for r in db.execute(f"PRAGMA table_info({table})")}
            if not have or not set(_MIGRATIONS.get(table, {})) <= have:
                return False
        return True

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._db_path, timeout=60, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=60000")
        return db

    @contextmanager
    def _transaction(self, layer_write: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from the start so that version
        numbers are allocated and committed by one writer at a time, across processes. A layer
        write also bumps the generation every worker polls; saved checks and projects do not
        (no worker needs to recompile for them)."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            if layer_write:
                db.execute("UPDATE meta SET value = value + 1 WHERE key = 'generation'")
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def _read(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        # One connection per thread for reads (autocommit: each query sees the latest commit);
        # opening one per query cost more than the query itself on hot paths (tiles, checks).
        db = getattr(self._readers, "db", None)
        if db is None:
            db = self._readers.db = self._connect()
        return db.execute(sql, args).fetchall()

    def sweep_orphans(self, older_than_s: float = ORPHAN_AGE_S) -> int:
        """Remove files no catalog row points at: temporary files of interrupted publishes and
        version files renamed into place by a transaction that then failed. Young files are
        left alone: another process may be publishing them right now."""
        referenced = {r["file"] for r in self._read("SELECT file FROM layer_versions")}
        cutoff = time.time() - older_than_s
        removed = 0
        for path in (self.root / "layers").glob("*/*"):
            rel = path.relative_to(self.root).as_posix()
            try:
                if rel not in referenced and path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                pass
        return removed

    # -- reads ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return self._read("SELECT COUNT(*) FROM layers")[0][0] == 0

    def generation(self) -> int:
        return int(self._read("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    @staticmethod
    def _info(row: sqlite3.Row) -> LayerInfo:
        return LayerInfo(
            id=row["id"], name=row["name"], kind=row["kind"], version=row["version"],
            feature_count=row["feature_count"], geometry_type=row["geometry_type"], bbox=json.loads(row["bbox"]),
            source_crs=row["source_crs"], updated_at=row["created_at"], sha256=row["sha256"],
        )

    _SELECT = """
        SELECT l.id, l.name, l.kind, v.version, v.feature_count, v.geometry_type, v.bbox,
               v.source_crs, v.created_at, v.sha256, v.file
        FROM layers l JOIN layer_versions v ON v.layer_id = l.id AND v.version = l.current_version
        WHERE l.deleted_at IS NULL
    """

    def list_layers(self) -> list[LayerInfo]:
        return [self._info(r) for r in self._read(self._SELECT + " ORDER BY l.id")]

    def get_layer(self, layer_id: str) -> LayerInfo:
        rows = self._read(self._SELECT + " AND l.id = ?", (layer_id,))
        if not rows:
            raise no_layer(layer_id)
        return self._info(rows[0])

    def versions(self, layer_id: str) -> list[VersionInfo]:
        current = self.get_layer(layer_id).version
        rows = self._read("SELECT * FROM layer_versions WHERE layer_id = ? ORDER BY version", (layer_id,))
        return [
            VersionInfo(
                layer_id=r["layer_id"], version=r["version"], feature_count=r["feature_count"],
                geometry_type=r["geometry_type"], bbox=json.loads(r["bbox"]), source_crs=r["source_crs"],
                sha256=r["sha256"], created_at=r["created_at"], created_by=r["created_by"], comment=r["comment"],
                restored_from=r["restored_from"], current=r["version"] == current,
            )
            for r in rows
        ]

    def _version_file(self, layer_id: str, version: int | None) -> tuple[str, Path]:
        """(kind, file) of a live layer's version (the current one when None), in one query."""
        rows = self._read(
            "SELECT l.kind, v.file FROM layers l JOIN layer_versions v ON v.layer_id = l.id "
            "WHERE l.id = ? AND l.deleted_at IS NULL AND v.version = COALESCE(?, l.current_version)",
            (layer_id, version),
        )
        if not rows:
            self.get_layer(layer_id)  # no such layer → 404 naming it
            raise no_version(layer_id, version)
        return rows[0]["kind"], self.root / rows[0]["file"]

    def read(self, layer_id: str, version: int | None = None) -> gpd.GeoDataFrame:
        kind, path = self._version_file(layer_id, version)
        if kind == "raster":
            raise not_vector(layer_id)
        key = path.as_posix()
        frame = self._frames.get(key)
        if frame is None:
            import pyogrio

            frame = prepare_frame(pyogrio.read_dataframe(path))
            self._frames.put(key, frame)
        return frame

    def read_bbox(self, layer_id: str, bbox: tuple[float, float, float, float],
                  version: int | None = None) -> gpd.GeoDataFrame:
        frame = self.read(layer_id, version)
        hits = frame.sindex.query(shapely.box(*bbox), predicate="intersects")
        return frame.iloc[sorted(hits.tolist())]

    def raster_bytes(self, layer_id: str, version: int | None = None) -> bytes:
        kind, path = self._version_file(layer_id, version)
        if kind != "raster":
            raise InputError(
                f"图层 {layer_id} 不是栅格图层", f"Layer {layer_id!r} is not a raster", field="id", value=layer_id
            )
        return path.read_bytes()

    def audit(self, since: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        rows = self._read(
            "SELECT * FROM audit WHERE at >= ? ORDER BY id DESC LIMIT ?", (since or "", int(limit))
        )
        return [
            AuditEntry(r["id"], r["at"], r["actor"], r["action"], r["layer_id"], r["version"], json.loads(r["detail"]))
            for r in rows
        ]

    # -- writes --------------------------------------------------------------------------
    def _tmp(self, layer_id: str, suffix: str) -> Path:
        directory = self.root / "layers" / layer_id
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f".{os.getpid()}-{uuid.uuid4().hex}.tmp{suffix}"

    @staticmethod
    def _fsync(path: Path) -> None:
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())

    def publish(
        self, layer_id: str, name: str, kind: str, frame: gpd.GeoDataFrame, source_crs: str, *,
        mode: str = "upsert", expect_version: int | None = None, actor: str | None = None,
        comment: str | None = None, before_commit: BeforeCommit | None = None,
    ) -> LayerInfo:
        check_layer_id(layer_id)
        check_mode(mode)
        import pyogrio

        frame = prepare_frame(frame)
        tmp = self._tmp(layer_id, ".gpkg")
        try:
            pyogrio.write_dataframe(frame, tmp, layer=layer_id, driver="GPKG")
            self._fsync(tmp)
            return self._commit_new_version(
                layer_id, name, kind, tmp, ".gpkg", mode, expect_version, actor, comment, before_commit,
                staged=lambda version, at: StagedVersion(
                    staged_info(layer_id, name, kind, version, frame, source_crs, at), frame
                ),
                cache=frame,
            )
        finally:
            tmp.unlink(missing_ok=True)

    def publish_raster(
        self, layer_id: str, name: str, cog: bytes, meta: dict, *, mode: str = "upsert",
        expect_version: int | None = None, actor: str | None = None, comment: str | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> LayerInfo:
        check_layer_id(layer_id)
        check_mode(mode)
        tmp = self._tmp(layer_id, ".tif")
        try:
            tmp.write_bytes(cog)
            self._fsync(tmp)
            digest = bytes_digest("raster", cog)

            def staged(version: int, at: str) -> StagedVersion:
                return StagedVersion(LayerInfo(
                    id=layer_id, name=name, kind="raster", version=version, feature_count=0,
                    geometry_type=RASTER_GEOMETRY, bbox=[round(float(b), 6) for b in meta["bounds_lonlat"]],
                    source_crs=str(meta.get("crs") or ""), updated_at=at, sha256=digest,
                ), None)

            return self._commit_new_version(
                layer_id, name, "raster", tmp, ".tif", mode, expect_version, actor, comment, before_commit, staged,
            )
        finally:
            tmp.unlink(missing_ok=True)

    def _current_row(self, db: sqlite3.Connection, layer_id: str) -> sqlite3.Row | None:
        return db.execute("SELECT * FROM layers WHERE id = ?", (layer_id,)).fetchone()

    def _check_target(self, db, layer_id: str, kind: str | None, mode: str, expect_version: int | None):
        row = self._current_row(db, layer_id)
        live = row is not None and row["deleted_at"] is None
        if mode == "create" and live:
            raise layer_exists(layer_id)
        if mode == "update" and not live:
            raise no_layer(layer_id)
        if expect_version is not None:
            current = row["current_version"] if live else 0
            if current != expect_version:
                raise version_mismatch(layer_id, expect_version, current)
        if live and kind is not None and row["kind"] != kind:
            raise InputError(
                f"图层 {layer_id} 的类型为 {row['kind']}，不能以 {kind} 发布新版本；请另建图层。",
                f"Layer {layer_id!r} is of kind {row['kind']}; a new version cannot change it to {kind}. "
                "Publish a new layer instead.",
                field="kind", value=kind, current=row["kind"],
            )
        return row

    def _candidates(self, db, replacing: str, staged: StagedVersion | None) -> list[LayerInfo]:
        rows = db.execute(self._SELECT + " AND l.id != ? ORDER BY l.id", (replacing,)).fetchall()
        infos = [self._info(r) for r in rows]
        if staged is not None:
            infos.append(staged.info)
            infos.sort(key=lambda i: i.id)
        return infos

    def _commit_new_version(self, layer_id, name, kind, tmp, suffix, mode, expect_version, actor, comment,
                            before_commit, staged, cache=None, restored_from=None) -> LayerInfo:
        with self._transaction() as db:
            self._check_target(db, layer_id, kind, mode, expect_version)
            version = (db.execute(
                "SELECT MAX(version) FROM layer_versions WHERE layer_id = ?", (layer_id,)
            ).fetchone()[0] or 0) + 1
            at = now_iso()
            stage = staged(version, at)
            if before_commit is not None:
                before_commit(self._candidates(db, layer_id, stage), {layer_id: stage})
            if tmp is not None:
                rel = f"layers/{layer_id}/v{version}-{uuid.uuid4().hex[:8]}{suffix}"
                os.replace(tmp, self.root / rel)
            else:  # a rollback shares the restored version's immutable file
                rel = db.execute(
                    "SELECT file FROM layer_versions WHERE layer_id = ? AND version = ?", (layer_id, restored_from)
                ).fetchone()["file"]
            info = stage.info
            db.execute(
                "INSERT INTO layers (id, name, kind, current_version, created_at, updated_at) VALUES (?,?,?,?,?,?) "
                "ON CONFLICT(id) DO UPDATE SET name=excluded.name, kind=excluded.kind, "
                "current_version=excluded.current_version, updated_at=excluded.updated_at, deleted_at=NULL",
                (layer_id, name, info.kind, version, at, at),
            )
            db.execute(
                "INSERT INTO layer_versions (layer_id, version, file, sha256, feature_count, geometry_type, bbox, "
                "source_crs, created_at, created_by, comment, restored_from) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (layer_id, version, rel, info.sha256, info.feature_count, info.geometry_type, json.dumps(info.bbox),
                 info.source_crs, at, actor, comment, restored_from),
            )
            action = "rollback" if restored_from is not None else "publish"
            self._audit(db, actor, action, layer_id, version, comment=comment, restored_from=restored_from,
                        feature_count=info.feature_count, sha256=info.sha256)
        if cache is not None:
            self._frames.put((self.root / rel).as_posix(), cache)
        return info  # what this write made current (another process may have written since)

    def rollback(self, layer_id: str, version: int, *, actor: str | None = None, comment: str | None = None,
                 before_commit: BeforeCommit | None = None) -> LayerInfo:
        current, staged = rollback_staging(self, layer_id, version)
        return self._commit_new_version(
            layer_id, current.name, current.kind, None, None, "update", None, actor, comment, before_commit,
            staged, restored_from=version,
        )

    def delete(self, layer_id: str, *, actor: str | None = None, comment: str | None = None,
               before_commit: BeforeCommit | None = None) -> None:
        with self._transaction() as db:
            row = self._check_target(db, layer_id, None, "update", None)
            if before_commit is not None:
                before_commit(self._candidates(db, layer_id, None), {})
            at = now_iso()
            db.execute("UPDATE layers SET deleted_at = ?, updated_at = ? WHERE id = ?", (at, at, layer_id))
            self._audit(db, actor, "delete", layer_id, row["current_version"], comment=comment)

    @staticmethod
    def _audit(db, actor, action, layer_id=None, version=None, **detail) -> None:
        db.execute(
            "INSERT INTO audit (at, actor, action, layer_id, version, detail) VALUES (?,?,?,?,?,?)",
            (now_iso(), actor, action, layer_id, version, audit_detail(**detail)),
        )

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, name: str, role: str, *, actor: str | None = None) -> str:
        check_role(role)
        if not name or len(name) > 100:
            raise InputError("令牌名称须为 1–100 个字符", "A token name must be 1–100 characters", field="name")
        secret = new_token_secret()
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM tokens WHERE name = ? AND revoked_at IS NULL", (name,)).fetchone():
                raise InputError(
                    f"已有同名的有效令牌：{name}（请先吊销，或换一个名称）",
                    f"An active token named {name!r} exists (revoke it first, or choose another name)",
                    field="name", value=name,
                )
            db.execute("INSERT INTO tokens VALUES (?,?,?,?,NULL)", (name, role, hash_token(secret), now_iso()))
            self._audit(db, actor, "token_create", name=name, role=role)
        return secret

    def list_tokens(self) -> list[TokenInfo]:
        return [TokenInfo(r["name"], r["role"], r["created_at"], r["revoked_at"])
                for r in self._read("SELECT * FROM tokens ORDER BY created_at")]

    def revoke_token(self, name: str, *, actor: str | None = None) -> None:
        with self._transaction() as db:
            n = db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL", (now_iso(), name)
            ).rowcount
            if not n:
                raise InputError(f"没有名为 {name} 的有效令牌", f"No active token named {name!r}",
                                 field="name", value=name)
            self._audit(db, actor, "token_revoke", name=name)

    def token_for(self, secret: str) -> TokenInfo | None:
        rows = self._read("SELECT * FROM tokens WHERE hash = ? AND revoked_at IS NULL", (hash_token(secret),))
        return TokenInfo(rows[0]["name"], rows[0]["role"], rows[0]["created_at"]) if rows else None

    # -- saved checks and change impact -------------------------------------------------------
    def create_project(self, name: str, *, actor: str | None = None) -> dict:
        project = {"id": new_id(), "name": name, "created_at": now_iso(), "created_by": actor}
        with self._transaction(layer_write=False) as db:
            db.execute("INSERT INTO projects VALUES (:id, :name, :created_at, :created_by)", project)
        return project

    def list_projects(self) -> list[dict]:
        return [dict(r) for r in self._read("SELECT * FROM projects ORDER BY created_at")]

    @staticmethod
    def _check(row) -> dict:
        return {"id": row["id"], "project_id": row["project_id"], "created_at": row["created_at"],
                "created_by": row["created_by"], "updated_at": row["updated_at"], "data_version": row["data_version"],
                "request": json.loads(row["request"]), "summary": json.loads(row["summary"])}

    def get_project(self, project_id: str) -> dict:
        rows = self._read("SELECT * FROM projects WHERE id = ?", (project_id,))
        if not rows:
            raise no_project(project_id)
        checks = self._read("SELECT * FROM saved_checks WHERE project_id = ? ORDER BY created_at", (project_id,))
        return {**dict(rows[0]), "checks": [self._check(r) for r in checks]}

    def save_check(self, project_id: str, request: dict, summary: dict, *, actor: str | None = None) -> dict:
        self.get_project(project_id)
        at = now_iso()
        row = (new_id(), project_id, at, actor, json.dumps(request, ensure_ascii=False),
               json.dumps(summary, ensure_ascii=False), summary["data_version"], at)
        with self._transaction(layer_write=False) as db:
            db.execute("INSERT INTO saved_checks VALUES (?,?,?,?,?,?,?,?)", row)
        return self._check(self._read("SELECT * FROM saved_checks WHERE id = ?", (row[0],))[0])

    def checks_not_at(self, data_version: str) -> list[dict]:
        return [self._check(r) for r in self._read(
            "SELECT * FROM saved_checks WHERE data_version != ? ORDER BY created_at", (data_version,))]

    def update_check(self, check_id: str, expected_data_version: str, summary: dict, impact: dict | None) -> bool:
        at = now_iso()
        with self._transaction(layer_write=False) as db:
            n = db.execute(
                "UPDATE saved_checks SET summary = ?, data_version = ?, updated_at = ? WHERE id = ? AND data_version = ?",
                (json.dumps(summary, ensure_ascii=False), summary["data_version"], at, check_id, expected_data_version),
            ).rowcount
            if n and impact is not None:
                db.execute("INSERT INTO impact (at, check_id, project_id, record) VALUES (?,?,?,?)",
                           (at, check_id, impact["project_id"], json.dumps(impact, ensure_ascii=False)))
        return bool(n)

    def impact(self, since: str | None = None, limit: int = 1000) -> list[dict]:
        rows = self._read("SELECT * FROM impact WHERE at >= ? ORDER BY id LIMIT ?", (since or "", int(limit)))
        return [{"id": r["id"], "at": r["at"], **json.loads(r["record"])} for r in rows]

    def close(self) -> None:
        self._frames.clear()
        db = getattr(self._readers, "db", None)
        if db is not None:
            db.close()
            self._readers.db = None
