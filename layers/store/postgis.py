"""The PostGIS store: the same catalog as the embedded store, in PostgreSQL schema ``ecozone``.

Features live in one table (a row per feature, ``geometry(Geometry, 4326)`` with a GiST
index, attributes as ``jsonb``); a version's attribute schema (column names, order and
dtypes) is kept with the version so ``read()`` gives back the frame that was published.
Versions are immutable; a version row names the ``content_version`` whose features (or raster)
it uses, so a rollback shares rows instead of copying them.

Every write is one transaction that first takes ``pg_advisory_xact_lock(WRITE_LOCK)``: writers
are serialised across processes and hosts exactly like SQLite's ``BEGIN IMMEDIATE``, and the
next version number (MAX + 1, read after the lock) can never be taken twice. Within it the
features are staged with one binary ``COPY`` (invisible to readers until commit), then
``before_commit`` runs, then the layer pointer moves, an audit row is appended and the
generation counter is bumped. Readers are never blocked (MVCC).
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import threading
from contextlib import contextmanager
from datetime import date, datetime, time as dtime
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import shapely

from ecozone.layers.errors import InputError
from ecozone.layers.store.base import (
    RASTER_GEOMETRY, AuditEntry, BeforeCommit, FrameCache, LayerInfo, StagedVersion, TokenInfo, VersionInfo,
    audit_detail, bytes_digest, check_layer_id, check_mode, check_role, hash_token, layer_exists,
    new_id, new_token_secret, no_layer, no_project, no_version, not_vector, now_iso, prepare_frame, staged_info,
    rollback_staging, version_mismatch,
)

if TYPE_CHECKING:
    import geopandas as gpd
    import psycopg

# Advisory lock keys (per database): one serialises writers, one the idempotent DDL at start.
WRITE_LOCK = 0x65637A6E_0001  # "eczn" + 1
SETUP_LOCK = 0x65637A6E_0002
SCHEMA_VERSION = 2  # meta 'schema_version': the DDL below is run when a database has less

DDL = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS ecozone;
CREATE TABLE IF NOT EXISTS ecozone.layers (
    id text PRIMARY KEY,
    name text NOT NULL,
    kind text NOT NULL,
    current_version integer NOT NULL,
    created_at text NOT NULL,   -- ISO-8601 UTC (now_iso()), as the embedded store keeps them
    updated_at text NOT NULL,
    deleted_at text
);
CREATE TABLE IF NOT EXISTS ecozone.layer_versions (
    layer_id text NOT NULL REFERENCES ecozone.layers(id),
    version integer NOT NULL,
    content_version integer NOT NULL, -- the version whose features / raster this one serves
    sha256 text NOT NULL,             -- content_digest(): geometry + attributes
    feature_count integer NOT NULL,
    geometry_type text NOT NULL,
    bbox double precision[] NOT NULL,
    source_crs text NOT NULL,
    columns jsonb,                    -- [{"name", "dtype"}] in published order (vector layers)
    created_at text NOT NULL,
    created_by text,
    comment text,
    restored_from integer,
    PRIMARY KEY (layer_id, version)
);
CREATE TABLE IF NOT EXISTS ecozone.features (
    layer_id text NOT NULL,
    version integer NOT NULL,         -- a content version
    feature_index integer NOT NULL,   -- row order of the published frame
    feature_id text NOT NULL,
    properties jsonb NOT NULL,
    geom geometry(Geometry, 4326),
    PRIMARY KEY (layer_id, version, feature_index)  -- also the btree on (layer_id, version)
);
CREATE INDEX IF NOT EXISTS features_geom_gist ON ecozone.features USING gist (geom);
CREATE TABLE IF NOT EXISTS ecozone.rasters (
    layer_id text NOT NULL,
    version integer NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (layer_id, version)
);
CREATE TABLE IF NOT EXISTS ecozone.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at text NOT NULL,
    actor text,
    action text NOT NULL,
    layer_id text,
    version integer,
    detail jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_at ON ecozone.audit (at);
CREATE TABLE IF NOT EXISTS ecozone.tokens (
    name text NOT NULL,
    role text NOT NULL,
    hash text NOT NULL UNIQUE,
    created_at text NOT NULL,
    revoked_at text
);
CREATE TABLE IF NOT EXISTS ecozone.projects (
    id text PRIMARY KEY,
    name text NOT NULL,
    created_at text NOT NULL,
    created_by text
);
CREATE TABLE IF NOT EXISTS ecozone.saved_checks (
    id text PRIMARY KEY,
    project_id text NOT NULL REFERENCES ecozone.projects(id),
    created_at text NOT NULL,
    created_by text,
    request jsonb NOT NULL,   -- label, WGS84 site, project types
    summary jsonb NOT NULL,   -- the current answer (verdict, rules, versions)
    data_version text NOT NULL,
    updated_at text NOT NULL
);
CREATE TABLE IF NOT EXISTS ecozone.impact (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at text NOT NULL,
    check_id text NOT NULL,
    project_id text NOT NULL,
    record jsonb NOT NULL
);
CREATE TABLE IF NOT EXISTS ecozone.meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO ecozone.meta VALUES ('generation', 0) ON CONFLICT (key) DO NOTHING;
"""

_SELECT = """
    SELECT l.id, l.name, l.kind, v.version, v.feature_count, v.geometry_type, v.bbox,
           v.source_crs, v.created_at, v.sha256, v.content_version, v.columns
    FROM ecozone.layers l
    JOIN ecozone.layer_versions v ON v.layer_id = l.id AND v.version = l.current_version
    WHERE l.deleted_at IS NULL
"""

# PostgreSQL's binary COPY framing: signature, flags, header extension; a -1 field count ends it.
_COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_COPY_TRAILER = struct.pack("!h", -1)
_NULL = struct.pack("!i", -1)


# -- attribute (de)serialisation ------------------------------------------------------------
def _jsonable(v: Any) -> Any:
    """A JSON value for one attribute: None/NaN/NA → null, numpy scalars → Python numbers,
    dates → ISO text; strings, ints, floats and bools as they are."""
    if v is None or isinstance(v, str | bool | int):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return None
        return v if math.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, np.generic):
        return _jsonable(v.item())
    if isinstance(v, datetime | date | dtime):
        return v.isoformat()
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
        if isinstance(v, pd.Timestamp):
            return v.isoformat()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple | np.ndarray):
        return [_jsonable(x) for x in v]
    if isinstance(v, bytes):
        return v.hex()
    return str(v)


def _column_values(series) -> list:
    import pandas as pd

    if series.dtype.kind == "M":  # datetime64, with or without a time zone
        return [None if pd.isna(v) else v.isoformat() for v in series]
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "iub":
        return series.tolist()  # Python ints / bools, no missing values possible
    return [_jsonable(v) for v in series.astype(object).tolist()]


def _rebuild_column(values: list, dtype: str):
    """A Series of ``dtype`` (as str(dtype) wrote it) from JSON values; object when the dtype
    cannot be rebuilt."""
    import pandas as pd

    try:
        if dtype.startswith("datetime64"):
            return pd.Series(pd.to_datetime(values, format="ISO8601")).astype(dtype)
        target = pd.api.types.pandas_dtype(dtype)
        if getattr(target, "kind", "O") == "f":
            values = [float(v) if isinstance(v, str) else v for v in values]  # "Infinity"
            return pd.Series(values, dtype=object).astype(target)
        return pd.Series(values, dtype=target)
    except (TypeError, ValueError, OverflowError):
        return pd.Series(values, dtype=object)


class PostGISStore:
    """The layer store in PostgreSQL/PostGIS (schema ``ecozone``)."""

    def __init__(self, database_url: str, *, min_size: int = 1, max_size: int = 8):
        import psycopg
        from psycopg_pool import ConnectionPool

        self.database_url = database_url
        # Setup first on a plain connection, so an unreachable database fails at once with
        # psycopg's own message rather than a pool timeout.
        with psycopg.connect(database_url, connect_timeout=30) as conn:
            if self._schema_version(conn) < SCHEMA_VERSION:
                # Two processes starting at once: the second waits here, then finds it done
                # (every statement is IF NOT EXISTS anyway).
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SETUP_LOCK,))
                conn.execute(DDL)
                conn.execute(
                    "INSERT INTO ecozone.meta VALUES ('schema_version', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (SCHEMA_VERSION,),
                )
        self._pool = ConnectionPool(database_url, min_size=min_size, max_size=max_size, open=True,
                                    name="ecozone-layers")
        self._frames = FrameCache()  # versions are immutable: cached frames never go stale
        # Writers of this process queue here rather than each holding a pooled connection
        # while waiting for the advisory lock: the one holding it may need a second connection
        # (before_commit reads other layers), and the pool must not run dry.
        self._writer = threading.Lock()
        self._closed = False

    @staticmethod
    def _schema_version(conn) -> int:
        """The schema version this database holds (0 when it has none), without taking locks
        a running publish holds, so a worker starting mid-publish is not held up."""
        if conn.execute("SELECT to_regclass('ecozone.meta')").fetchone()[0] is None:
            return 0
        row = conn.execute("SELECT value FROM ecozone.meta WHERE key = 'schema_version'").fetchone()
        return int(row[0]) if row else 0

    # -- plumbing --------------------------------------------------------------------------
    def _rows(self, sql: str, args: tuple = (), *, binary: bool = False) -> list[tuple]:
        with self._pool.connection() as conn, conn.cursor(binary=binary) as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    @contextmanager
    def _write(self) -> Iterator[psycopg.Cursor]:
        """One write transaction: the write lock first, the generation bump last. Any exception
        (a refused write, a failing before_commit) rolls all of it back: the pool's connection
        context commits on a clean exit only."""
        with self._writer, self._pool.connection() as conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK,))
            yield cur
            cur.execute("UPDATE ecozone.meta SET value = value + 1 WHERE key = 'generation'")

    # -- reads ---------------------------------------------------------------------------
    def is_empty(self) -> bool:
        return not self._rows("SELECT EXISTS (SELECT 1 FROM ecozone.layers)")[0][0]

    def generation(self) -> int:
        return int(self._rows("SELECT value FROM ecozone.meta WHERE key = 'generation'")[0][0])

    @staticmethod
    def _info(row) -> LayerInfo:
        return LayerInfo(
            id=row[0], name=row[1], kind=row[2], version=row[3], feature_count=row[4], geometry_type=row[5],
            bbox=list(row[6]), source_crs=row[7], updated_at=row[8], sha256=row[9],
        )

    def list_layers(self) -> list[LayerInfo]:
        return [self._info(r) for r in self._rows(_SELECT + " ORDER BY l.id")]

    def _current(self, layer_id: str):
        rows = self._rows(_SELECT + " AND l.id = %s", (layer_id,))
        if not rows:
            raise no_layer(layer_id)
        return rows[0]

    def get_layer(self, layer_id: str) -> LayerInfo:
        return self._info(self._current(layer_id))

    def versions(self, layer_id: str) -> list[VersionInfo]:
        current = self.get_layer(layer_id).version
        rows = self._rows(
            "SELECT layer_id, version, feature_count, geometry_type, bbox, source_crs, sha256, created_at, "
            "created_by, comment, restored_from FROM ecozone.layer_versions WHERE layer_id = %s ORDER BY version",
            (layer_id,),
        )
        return [
            VersionInfo(
                layer_id=r[0], version=r[1], feature_count=r[2], geometry_type=r[3], bbox=list(r[4]),
                source_crs=r[5], sha256=r[6], created_at=r[7], created_by=r[8], comment=r[9],
                restored_from=r[10], current=r[1] == current,
            )
            for r in rows
        ]

    def _content(self, layer_id: str, version: int | None) -> tuple[str, int, list | None]:
        """(kind, content_version, columns) of a version of a live layer."""
        row = self._current(layer_id)
        kind = row[2]
        if not version:
            return kind, row[10], row[11]
        rows = self._rows(
            "SELECT content_version, columns FROM ecozone.layer_versions WHERE layer_id = %s AND version = %s",
            (layer_id, version),
        )
        if not rows:
            raise no_version(layer_id, version)
        return kind, rows[0][0], rows[0][1]

    def _frame(self, rows: list[tuple], columns: list[dict], index=None) -> gpd.GeoDataFrame:
        """A frame from (feature_index, feature_id, properties as JSON text, WKB) rows, with the
        published columns in their published order and dtypes."""
        import geopandas as gpd
        import pandas as pd

        n = len(rows)
        fids = [r[1] for r in rows]
        # One json.loads over the whole column is several times faster than one per row.
        props = json.loads("[" + ",".join([r[2] for r in rows]) + "]")
        wkb = np.empty(n, dtype=object)
        wkb[:] = [r[3] for r in rows]
        geoms = shapely.from_wkb(wkb)
        geom_name = next((c["name"] for c in columns if c["dtype"] == "geometry"), "geometry")
        idx = pd.RangeIndex(n) if index is None else pd.Index(index)
        data: dict[str, Any] = {}
        for c in columns:
            name, dtype = c["name"], c["dtype"]
            if dtype == "geometry":
                data[name] = gpd.GeoSeries(geoms, crs=4326, index=idx)
                continue
            column = _rebuild_column(fids if name == "feature_id" else [p.get(name) for p in props], dtype)
            column.index = idx
            data[name] = column
        return gpd.GeoDataFrame(pd.DataFrame(data, index=idx), geometry=geom_name, crs=4326)

    def read(self, layer_id: str, version: int | None = None) -> gpd.GeoDataFrame:
        kind, content_version, columns = self._content(layer_id, version)
        if kind == "raster":
            raise not_vector(layer_id)
        key = (layer_id, content_version)
        frame = self._frames.get(key)
        if frame is None:
            rows = self._rows(
                "SELECT feature_index, feature_id, properties::text, ST_AsBinary(geom) FROM ecozone.features "
                "WHERE layer_id = %s AND version = %s ORDER BY feature_index",
                (layer_id, content_version), binary=True,
            )
            frame = self._frame(rows, columns)
            self._frames.put(key, frame)
        return frame

    def read_bbox(self, layer_id: str, bbox: tuple[float, float, float, float],
                  version: int | None = None) -> gpd.GeoDataFrame:
        kind, content_version, columns = self._content(layer_id, version)
        if kind == "raster":
            raise not_vector(layer_id)
        w, s, e, n = (float(b) for b in bbox)
        rows = self._rows(
            "SELECT feature_index, feature_id, properties::text, ST_AsBinary(geom) FROM ecozone.features "
            "WHERE layer_id = %s AND version = %s AND geom && ST_MakeEnvelope(%s, %s, %s, %s, 4326) "
            "AND ST_Intersects(geom, ST_MakeEnvelope(%s, %s, %s, %s, 4326)) ORDER BY feature_index",
            (layer_id, content_version, w, s, e, n, w, s, e, n), binary=True,
        )
        # The index is the feature's row number in the whole layer, as in the embedded store.
        return self._frame(rows, columns, index=[r[0] for r in rows])

    def raster_bytes(self, layer_id: str, version: int | None = None) -> bytes:
        kind, content_version, _ = self._content(layer_id, version)
        if kind != "raster":
            raise InputError(
                f"图层 {layer_id} 不是栅格图层", f"Layer {layer_id!r} is not a raster", field="id", value=layer_id
            )
        rows = self._rows("SELECT data FROM ecozone.rasters WHERE layer_id = %s AND version = %s",
                          (layer_id, content_version), binary=True)
        return bytes(rows[0][0])

    def audit(self, since: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        rows = self._rows(
            "SELECT id, at, actor, action, layer_id, version, detail FROM ecozone.audit "
            "WHERE at >= %s ORDER BY id DESC LIMIT %s",
            (since or "", int(limit)),
        )
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], r[5], dict(r[6] or {})) for r in rows]

    # -- writes --------------------------------------------------------------------------
    @staticmethod
    def _copy_payload(frame: gpd.GeoDataFrame) -> tuple[list[dict], list[bytes]]:
        """(column schema, one binary-COPY row tail per feature). The tails hold everything
        but the (layer_id, version) head — feature_index, feature_id, the jsonb properties and
        the EWKB geometry in PostgreSQL's binary wire formats — so all the per-feature work is
        done before the write lock is taken."""
        geom_name = frame.geometry.name
        columns = []
        values: dict[str, list] = {}
        for name in frame.columns:
            if name == geom_name:
                columns.append({"name": name, "dtype": "geometry"})
                continue
            series = frame[name]
            columns.append({"name": str(name), "dtype": str(series.dtype)})
            if name != "feature_id":
                values[str(name)] = _column_values(series)
        names = list(values)
        dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
        if names:
            props = [dumps(dict(zip(names, row))).encode("utf-8") for row in zip(*(values[k] for k in names))]
        else:
            props = [b"{}"] * len(frame)
        ewkb = shapely.to_wkb(shapely.set_srid(frame.geometry.to_numpy(), 4326), include_srid=True,
                              output_dimension=2).tolist()
        pack = struct.Struct("!iii").pack  # int4 field: length 4, value; then the next length
        tails = []
        for i, (fid, prop, geom) in enumerate(zip(frame["feature_id"].tolist(), props, ewkb)):
            fid = fid.encode("utf-8")
            # jsonb's binary format is a version byte (1) and the JSON text; geometry's is EWKB.
            tail = pack(4, i, len(fid)) + fid + struct.pack("!ib", len(prop) + 1, 1) + prop
            tails.append(tail + (_NULL if geom is None else struct.pack("!i", len(geom)) + geom))
        return columns, tails

    def publish(
        self, layer_id: str, name: str, kind: str, frame: gpd.GeoDataFrame, source_crs: str, *,
        mode: str = "upsert", expect_version: int | None = None, actor: str | None = None,
        comment: str | None = None, before_commit: BeforeCommit | None = None,
    ) -> LayerInfo:
        check_layer_id(layer_id)
        check_mode(mode)
        frame = prepare_frame(frame)
        columns, tails = self._copy_payload(frame)
        template = staged_info(layer_id, name, kind, 0, frame, source_crs, "")

        def stage(cur, version: int) -> None:
            lid = layer_id.encode("utf-8")
            head = struct.pack("!hi", 6, len(lid)) + lid + struct.pack("!ii", 4, version)
            with cur.copy(
                "COPY ecozone.features (layer_id, version, feature_index, feature_id, properties, geom) "
                "FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.write(_COPY_SIGNATURE)
                for k in range(0, len(tails), 10_000):
                    copy.write(head + head.join(tails[k:k + 10_000]))
                copy.write(_COPY_TRAILER)

        return self._commit_new_version(
            layer_id, name, kind, mode, expect_version, actor, comment, before_commit,
            staged=lambda version, at: StagedVersion(dataclasses.replace(template, version=version, updated_at=at),
                                                     frame),
            stage=stage, columns=columns, cache=frame,
        )

    def publish_raster(
        self, layer_id: str, name: str, cog: bytes, meta: dict, *, mode: str = "upsert",
        expect_version: int | None = None, actor: str | None = None, comment: str | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> LayerInfo:
        check_layer_id(layer_id)
        check_mode(mode)
        digest = bytes_digest("raster", cog)
        bbox = [round(float(b), 6) for b in meta["bounds_lonlat"]]
        crs = str(meta.get("crs") or "")

        def staged(version: int, at: str) -> StagedVersion:
            return StagedVersion(LayerInfo(
                id=layer_id, name=name, kind="raster", version=version, feature_count=0,
                geometry_type=RASTER_GEOMETRY, bbox=bbox, source_crs=crs, updated_at=at, sha256=digest,
            ), None)

        def stage(cur, version: int) -> None:
            cur.execute("INSERT INTO ecozone.rasters (layer_id, version, data) VALUES (%s, %s, %s)",
                        (layer_id, version, cog))

        return self._commit_new_version(
            layer_id, name, "raster", mode, expect_version, actor, comment, before_commit, staged, stage=stage,
        )

    def _check_target(self, cur, layer_id: str, kind: str | None, mode: str, expect_version: int | None):
        cur.execute("SELECT kind, current_version, deleted_at FROM ecozone.layers WHERE id = %s", (layer_id,))
        row = cur.fetchone()
        live = row is not None and row[2] is None
        if mode == "create" and live:
            raise layer_exists(layer_id)
        if mode == "update" and not live:
            raise no_layer(layer_id)
        if expect_version is not None:
            current = row[1] if live else 0
            if current != expect_version:
                raise version_mismatch(layer_id, expect_version, current)
        if live and kind is not None and row[0] != kind:
            raise InputError(
                f"图层 {layer_id} 的类型为 {row[0]}，不能以 {kind} 发布新版本；请另建图层。",
                f"Layer {layer_id!r} is of kind {row[0]}; a new version cannot change it to {kind}. "
                "Publish a new layer instead.",
                field="kind", value=kind, current=row[0],
            )
        return row

    def _candidates(self, cur, replacing: str, staged: StagedVersion | None) -> list[LayerInfo]:
        cur.execute(_SELECT + " AND l.id <> %s ORDER BY l.id", (replacing,))
        infos = [self._info(r) for r in cur.fetchall()]
        if staged is not None:
            infos.append(staged.info)
            infos.sort(key=lambda i: i.id)
        return infos

    def _commit_new_version(self, layer_id, name, kind, mode, expect_version, actor, comment, before_commit,
                            staged, *, stage=None, columns=None, cache=None, restored_from=None) -> LayerInfo:
        with self._write() as cur:
            self._check_target(cur, layer_id, kind, mode, expect_version)
            cur.execute("SELECT COALESCE(MAX(version), 0) + 1 FROM ecozone.layer_versions WHERE layer_id = %s",
                        (layer_id,))
            version = cur.fetchone()[0]
            at = now_iso()
            if stage is not None:  # new content, invisible to readers until COMMIT
                stage(cur, version)
                content_version = version
            else:  # a rollback shares the restored version's rows
                cur.execute(
                    "SELECT content_version, columns FROM ecozone.layer_versions WHERE layer_id = %s AND version = %s",
                    (layer_id, restored_from),
                )
                content_version, columns = cur.fetchone()
            s = staged(version, at)
            if before_commit is not None:
                before_commit(self._candidates(cur, layer_id, s), {layer_id: s})
            info = s.info
            cur.execute(
                "INSERT INTO ecozone.layers (id, name, kind, current_version, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
                "kind = excluded.kind, current_version = excluded.current_version, "
                "updated_at = excluded.updated_at, deleted_at = NULL",
                (layer_id, name, info.kind, version, at, at),
            )
            cur.execute(
                "INSERT INTO ecozone.layer_versions (layer_id, version, content_version, sha256, feature_count, "
                "geometry_type, bbox, source_crs, columns, created_at, created_by, comment, restored_from) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (layer_id, version, content_version, info.sha256, info.feature_count, info.geometry_type,
                 [float(b) for b in info.bbox], info.source_crs, _jsonb(columns), at, actor, comment,
                 restored_from),
            )
            action = "rollback" if restored_from is not None else "publish"
            self._audit(cur, actor, action, layer_id, version, comment=comment, restored_from=restored_from,
                        feature_count=info.feature_count, sha256=info.sha256)
        if cache is not None:
            self._frames.put((layer_id, content_version), cache)
        # The version this write created — not get_layer(), which may already name a version
        # another process committed since.
        return info

    def rollback(self, layer_id: str, version: int, *, actor: str | None = None, comment: str | None = None,
                 before_commit: BeforeCommit | None = None) -> LayerInfo:
        current, staged = rollback_staging(self, layer_id, version)
        return self._commit_new_version(
            layer_id, current.name, current.kind, "update", None, actor, comment, before_commit, staged,
            restored_from=version,
        )

    def delete(self, layer_id: str, *, actor: str | None = None, comment: str | None = None,
               before_commit: BeforeCommit | None = None) -> None:
        with self._write() as cur:
            row = self._check_target(cur, layer_id, None, "update", None)
            if before_commit is not None:
                before_commit(self._candidates(cur, layer_id, None), {})
            at = now_iso()
            cur.execute("UPDATE ecozone.layers SET deleted_at = %s, updated_at = %s WHERE id = %s",
                        (at, at, layer_id))
            self._audit(cur, actor, "delete", layer_id, row[1], comment=comment)

    @staticmethod
    def _audit(cur, actor, action, layer_id=None, version=None, **detail) -> None:
        cur.execute(
            "INSERT INTO ecozone.audit (at, actor, action, layer_id, version, detail) "
            "VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
            (now_iso(), actor, action, layer_id, version, audit_detail(**detail)),
        )

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, name: str, role: str, *, actor: str | None = None) -> str:
        check_role(role)
        if not name or len(name) > 100:
            raise InputError("令牌名称须为 1–100 个字符", "A token name must be 1–100 characters", field="name")
        secret = new_token_secret()
        with self._write() as cur:
            cur.execute("SELECT 1 FROM ecozone.tokens WHERE name = %s AND revoked_at IS NULL", (name,))
            if cur.fetchone():
                raise InputError(
                    f"已有同名的有效令牌：{name}（请先吊销，或换一个名称）",
                    f"An active token named {name!r} exists (revoke it first, or choose another name)",
                    field="name", value=name,
                )
            cur.execute("INSERT INTO ecozone.tokens (name, role, hash, created_at) VALUES (%s, %s, %s, %s)",
                        (name, role, hash_token(secret), now_iso()))
            self._audit(cur, actor, "token_create", name=name, role=role)
        return secret

    def list_tokens(self) -> list[TokenInfo]:
        return [TokenInfo(*r) for r in self._rows(
            "SELECT name, role, created_at, revoked_at FROM ecozone.tokens ORDER BY created_at")]

    def revoke_token(self, name: str, *, actor: str | None = None) -> None:
        with self._write() as cur:
            cur.execute("UPDATE ecozone.tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL",
                        (now_iso(), name))
            if not cur.rowcount:
                raise InputError(f"没有名为 {name} 的有效令牌", f"No active token named {name!r}",
                                 field="name", value=name)
            self._audit(cur, actor, "token_revoke", name=name)

    def token_for(self, secret: str) -> TokenInfo | None:
        rows = self._rows("SELECT name, role, created_at FROM ecozone.tokens WHERE hash = %s AND revoked_at IS NULL",
                          (hash_token(secret),))
        return TokenInfo(*rows[0]) if rows else None

    # -- saved checks and change impact -------------------------------------------------------
    # Not layer writes: no write lock, no generation bump (no worker recompiles for them).
    def create_project(self, name: str, *, actor: str | None = None) -> dict:
        project = {"id": new_id(), "name": name, "created_at": now_iso(), "created_by": actor}
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO ecozone.projects VALUES (%(id)s, %(name)s, %(created_at)s, %(created_by)s)",
                         project)
        return project

    def list_projects(self) -> list[dict]:
        return [dict(zip(("id", "name", "created_at", "created_by"), r))
                for r in self._rows("SELECT id, name, created_at, created_by FROM ecozone.projects ORDER BY created_at")]

    _CHECK_COLUMNS = ("id", "project_id", "created_at", "created_by", "updated_at", "data_version", "request", "summary")

    def _checks(self, where: str, args: tuple) -> list[dict]:
        rows = self._rows(f"SELECT {', '.join(self._CHECK_COLUMNS)} FROM ecozone.saved_checks WHERE {where} "
                          "ORDER BY created_at", args)
        return [dict(zip(self._CHECK_COLUMNS, r)) for r in rows]

    def get_project(self, project_id: str) -> dict:
        rows = self._rows("SELECT id, name, created_at, created_by FROM ecozone.projects WHERE id = %s", (project_id,))
        if not rows:
            raise no_project(project_id)
        return {**dict(zip(("id", "name", "created_at", "created_by"), rows[0])),
                "checks": self._checks("project_id = %s", (project_id,))}

    def save_check(self, project_id: str, request: dict, summary: dict, *, actor: str | None = None) -> dict:
        from psycopg.types.json import Jsonb

        self.get_project(project_id)
        check_id, at = new_id(), now_iso()
        with self._pool.connection() as conn:
            conn.execute("INSERT INTO ecozone.saved_checks VALUES (%s,%s,%s,%s,%s,%s,%s,%s)",
                         (check_id, project_id, at, actor, Jsonb(request), Jsonb(summary), summary["data_version"], at))
        return self._checks("id = %s", (check_id,))[0]

    def checks_not_at(self, data_version: str) -> list[dict]:
        return self._checks("data_version != %s", (data_version,))

    def update_check(self, check_id: str, expected_data_version: str, summary: dict, impact: dict | None) -> bool:
        from psycopg.types.json import Jsonb

        at = now_iso()
        with self._pool.connection() as conn:
            n = conn.execute(
                "UPDATE ecozone.saved_checks SET summary = %s, data_version = %s, updated_at = %s "
                "WHERE id = %s AND data_version = %s",
                (Jsonb(summary), summary["data_version"], at, check_id, expected_data_version),
            ).rowcount
            if n and impact is not None:
                conn.execute("INSERT INTO ecozone.impact (at, check_id, project_id, record) VALUES (%s,%s,%s,%s)",
                             (at, check_id, impact["project_id"], Jsonb(impact)))
        return bool(n)

    def impact(self, since: str | None = None, limit: int = 1000) -> list[dict]:
        rows = self._rows("SELECT id, at, record FROM ecozone.impact WHERE at >= %s ORDER BY id LIMIT %s",
                          (since or "", int(limit)))
        return [{"id": r[0], "at": r[1], **r[2]} for r in rows]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pool.close()
        self._frames.clear()


def _jsonb(value):
    if value is None:
        return None
    from psycopg.types.json import Jsonb

    return Jsonb(value)
