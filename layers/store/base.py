"""The one interface every layer store implements (the pygeoapi provider idea), and what the
backends share: records, digests, token hashing and the errors a write can meet.

A store keeps immutable layer *versions*; a layer's current version is a pointer. Every write
(publish, rollback, delete) is one transaction that

1. stages the new content where no reader looks,
2. calls ``before_commit(candidate_layers, staged_frames)`` — the service compiles the zones
   the new state would give, so a layer that cannot be compiled is never visible —
3. then moves the pointer, appends an audit entry and bumps the store's *generation*.

Writers are serialised by the backend (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory
lock), so two workers publishing at once get consecutive versions, never the same one.
Readers are never blocked and see either the old state or the new one. ``generation()`` is a
cheap counter every worker polls to learn that another one has published.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Callable, Protocol

import shapely

from ecozone.layers.errors import InputError

if TYPE_CHECKING:  # geopandas is imported where frames are built
    import geopandas as gpd

LAYER_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
ROLES = ("viewer", "editor", "admin")
RASTER_GEOMETRY = "Raster"
TOKEN_PREFIX = "ecz_"


class LayerExists(InputError):
    code = "layer_exists"
    status = 409


class VersionMismatch(InputError):
    """If-Match named a version that is no longer current."""

    code = "version_mismatch"
    status = 412


class NotAVectorLayer(InputError):
    code = "not_a_vector_layer"


@dataclass(frozen=True)
class LayerInfo:
    """A layer at its current version, as GET /v1/layers lists it."""

    id: str
    name: str
    kind: str
    version: int
    feature_count: int
    geometry_type: str
    bbox: list[float]
    source_crs: str
    updated_at: str
    sha256: str  # content_digest() of this version: what data_version is built from

    def public(self) -> dict:
        d = asdict(self)
        d.pop("sha256")
        return d

    @property
    def etag(self) -> str:
        """The strong ETag of a layer: its current version (If-Match on PUT compares it)."""
        return f'"{self.id}-v{self.version}"'


@dataclass(frozen=True)
class VersionInfo:
    layer_id: str
    version: int
    feature_count: int
    geometry_type: str
    bbox: list[float]
    source_crs: str
    sha256: str
    created_at: str
    created_by: str | None
    comment: str | None
    restored_from: int | None  # a rollback is a new version holding an older one's content
    current: bool

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str | None
    action: str  # publish | rollback | delete | token_create | token_revoke
    layer_id: str | None
    version: int | None
    detail: dict = field(default_factory=dict)

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    role: str
    created_at: str
    revoked_at: str | None = None

    def public(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StagedVersion:
    """What a write is about to make current, handed to ``before_commit``."""

    info: LayerInfo
    frame: gpd.GeoDataFrame | None  # None for a raster


BeforeCommit = Callable[[list[LayerInfo], dict[str, StagedVersion]], None]


class LayerStore(Protocol):
    # -- reads ---------------------------------------------------------------------------
    def list_layers(self) -> list[LayerInfo]: ...

    def get_layer(self, layer_id: str) -> LayerInfo: ...

    def versions(self, layer_id: str) -> list[VersionInfo]: ...

    def read(self, layer_id: str, version: int | None = None) -> gpd.GeoDataFrame:
        """WGS84 features with a string ``feature_id`` column (vector layers only)."""

    def read_bbox(self, layer_id: str, bbox: tuple[float, float, float, float],
                  version: int | None = None) -> gpd.GeoDataFrame:
        """Features whose geometry intersects a WGS84 (west, south, east, north) box."""

    def raster_bytes(self, layer_id: str, version: int | None = None) -> bytes:
        """A raster layer's Cloud-Optimised GeoTIFF."""

    def audit(self, since: str | None = None, limit: int = 1000) -> list[AuditEntry]: ...

    def generation(self) -> int:
        """A counter that grows with every committed write, from any process."""

    def is_empty(self) -> bool: ...

    # -- writes --------------------------------------------------------------------------
    def publish(
        self, layer_id: str, name: str, kind: str, frame: gpd.GeoDataFrame, source_crs: str, *,
        mode: str = "upsert", expect_version: int | None = None, actor: str | None = None,
        comment: str | None = None, before_commit: BeforeCommit | None = None,
    ) -> LayerInfo:
        """A new immutable version. ``mode``: "create" (409 if the layer exists), "update"
        (404 if it does not), "upsert". ``expect_version``: 412 unless it is current."""

    def publish_raster(
        self, layer_id: str, name: str, cog: bytes, meta: dict, *, mode: str = "upsert",
        expect_version: int | None = None, actor: str | None = None, comment: str | None = None,
        before_commit: BeforeCommit | None = None,
    ) -> LayerInfo: ...

    def rollback(self, layer_id: str, version: int, *, actor: str | None = None, comment: str | None = None,
                 before_commit: BeforeCommit | None = None) -> LayerInfo:
        """A new version whose content is ``version``'s (history is never rewritten)."""

    def delete(self, layer_id: str, *, actor: str | None = None, comment: str | None = None,
               before_commit: BeforeCommit | None = None) -> None:
        """The layer stops serving; its versions stay for the audit trail. Publishing the
        same id again continues its version numbers."""

    # -- tokens --------------------------------------------------------------------------
    def create_token(self, name: str, role: str, *, actor: str | None = None) -> str:
        """Returns the secret once; only its hash is kept."""

    def list_tokens(self) -> list[TokenInfo]: ...

    def revoke_token(self, name: str, *, actor: str | None = None) -> None: ...

    def token_for(self, secret: str) -> TokenInfo | None:
        """The active token with this secret, or None."""

    # -- saved checks (planners' projects) and change impact --------------------------------
    def create_project(self, name: str, *, actor: str | None = None) -> dict: ...

    def list_projects(self) -> list[dict]: ...

    def get_project(self, project_id: str) -> dict:
        """The project with its saved checks (each with its current answer summary)."""

    def save_check(self, project_id: str, request: dict, summary: dict, *, actor: str | None = None) -> dict: ...

    def checks_not_at(self, data_version: str) -> list[dict]:
        """Saved checks whose current answer was computed on another data version."""

    def update_check(self, check_id: str, expected_data_version: str, summary: dict, impact: dict | None) -> bool:
        """Store a re-evaluated answer — only if the check is still at ``expected_data_version``
        (several workers may re-evaluate at once; exactly one wins) — and, with it, the impact
        record when the verdict or rules changed. True if this call stored it."""

    def impact(self, since: str | None = None, limit: int = 1000) -> list[dict]: ...

    def close(self) -> None: ...


# -- shared by the backends ------------------------------------------------------------------
class FrameCache:
    """Frames of immutable layer versions, the most recently used kept: a long-running server
    reads every version it is asked for (downloads of old versions, rollbacks) and must not
    keep them all."""

    def __init__(self, size: int = 256):
        self._size = size
        self._frames: OrderedDict[Any, gpd.GeoDataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> gpd.GeoDataFrame | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key, frame: gpd.GeoDataFrame) -> None:
        with self._lock:
            self._frames[key] = frame
            self._frames.move_to_end(key)
            while len(self._frames) > self._size:
                self._frames.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def check_layer_id(layer_id: str) -> None:
    if not isinstance(layer_id, str) or not LAYER_ID.match(layer_id):
        raise InputError(
            f"图层 id 须为小写字母开头的 slug（a-z0-9_-，最长 64）：{layer_id}",
            f"Layer id must be a slug (a-z0-9_-, starting with a letter, at most 64): {layer_id!r}",
            field="id", value=layer_id,
        )


def check_mode(mode: str) -> None:
    if mode not in ("create", "update", "upsert"):
        raise ValueError(f"mode must be create, update or upsert, not {mode!r}")


def check_role(role: str) -> None:
    if role not in ROLES:
        raise InputError(
            f"角色须为 {' / '.join(ROLES)} 之一：{role}", f"Role must be one of {', '.join(ROLES)}: {role!r}",
            field="role", value=role, allowed=list(ROLES),
        )


def layer_exists(layer_id: str) -> LayerExists:
    return LayerExists(
        f"图层 {layer_id} 已存在；发布新版本请用 PUT /v1/layers/{layer_id}",
        f"Layer {layer_id!r} exists; publish a new version with PUT /v1/layers/{layer_id}",
        field="id", value=layer_id,
    )


def no_layer(layer_id: str) -> InputError:
    from ecozone.layers.errors import NotFound

    return NotFound(f"图层不存在：{layer_id}", f"No layer {layer_id!r}", field="id", value=layer_id)


def no_version(layer_id: str, version: int) -> InputError:
    from ecozone.layers.errors import NotFound

    return NotFound(
        f"图层 {layer_id} 没有版本 {version}", f"Layer {layer_id!r} has no version {version}",
        field="version", value=version,
    )


def version_mismatch(layer_id: str, expected: int, current: int) -> VersionMismatch:
    return VersionMismatch(
        f"图层 {layer_id} 已被他人更新：If-Match 为版本 {expected}，当前为版本 {current}。请重新获取后再提交。",
        f"Layer {layer_id!r} has changed: If-Match names version {expected}, the current version is {current}. "
        "Fetch it again before publishing.",
        field="If-Match", expected=expected, current=current,
    )


def not_vector(layer_id: str) -> NotAVectorLayer:
    return NotAVectorLayer(
        f"图层 {layer_id} 为栅格图层，没有矢量要素", f"Layer {layer_id!r} is a raster; it has no features",
        field="id", value=layer_id,
    )


def content_digest(kind: str, frame: gpd.GeoDataFrame) -> str:
    """A digest of what a layer *says*, not of the file that holds it: normalised geometry
    (rings oriented and started canonically, coordinates rounded to 1e-9 degree) and
    attributes, feature by feature in a stable order. File bytes carry timestamps, so two
    stores holding the same data must not be told apart by them (data_version is built
    from this)."""
    geoms = shapely.normalize(shapely.set_precision(frame.geometry.to_numpy(), 1e-9, mode="pointwise"))
    wkb = shapely.to_wkb(geoms, hex=True, output_dimension=2)
    columns = sorted(c for c in frame.columns if c != frame.geometry.name)
    rows = []
    for k, record in enumerate(frame[columns].itertuples(index=False, name=None)):
        attrs = {c: (None if (isinstance(v, float) and v != v) or v is None else str(v)) for c, v in zip(columns, record)}
        rows.append(json.dumps(attrs, ensure_ascii=False, sort_keys=True) + "|" + str(wkb[k]))
    payload = kind + "\n" + "\n".join(sorted(rows))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def bytes_digest(kind: str, data: bytes) -> str:
    return hashlib.sha256(kind.encode() + b"\n" + data).hexdigest()


def geometry_type(frame: gpd.GeoDataFrame) -> str:
    types = sorted(set(frame.geometry.geom_type.dropna()))
    return types[0] if len(types) == 1 else "Geometry" if types else "None"


def frame_bbox(frame: gpd.GeoDataFrame) -> list[float]:
    return [round(float(b), 6) for b in shapely.total_bounds(frame.geometry.to_numpy())]


def prepare_frame(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """WGS84, with a string ``feature_id`` column (the row number when none is given)."""
    frame = frame.to_crs(4326) if frame.crs is not None else frame.set_crs(4326)
    if "feature_id" not in frame.columns:
        frame = frame.assign(feature_id=[str(i + 1) for i in range(len(frame))])
    else:
        frame = frame.assign(feature_id=frame["feature_id"].astype(str))
    return frame.reset_index(drop=True)


def staged_info(layer_id: str, name: str, kind: str, version: int, frame: gpd.GeoDataFrame,
                source_crs: str, at: str) -> LayerInfo:
    return LayerInfo(
        id=layer_id, name=name, kind=kind, version=version, feature_count=len(frame),
        geometry_type=geometry_type(frame), bbox=frame_bbox(frame), source_crs=source_crs,
        updated_at=at, sha256=content_digest(kind, frame),
    )


def rollback_staging(store: LayerStore, layer_id: str, version: int):
    """What a rollback stages, for any store: the current layer, and the staged-version builder
    (a new version holding ``version``'s content) its commit calls with the new number."""
    current = store.get_layer(layer_id)
    old = next((v for v in store.versions(layer_id) if v.version == version), None)
    if old is None:
        raise no_version(layer_id, version)
    frame = None if current.kind == "raster" else store.read(layer_id, version)

    def staged(new_version: int, at: str) -> StagedVersion:
        return StagedVersion(LayerInfo(
            id=layer_id, name=current.name, kind=current.kind, version=new_version,
            feature_count=old.feature_count, geometry_type=old.geometry_type, bbox=old.bbox,
            source_crs=old.source_crs, updated_at=at, sha256=old.sha256,
        ), frame)

    return current, staged


def new_id() -> str:
    return secrets.token_hex(6)


def no_project(project_id: str) -> InputError:
    from ecozone.layers.errors import NotFound

    return NotFound(f"项目不存在：{project_id}", f"No project {project_id!r}", field="project_id", value=project_id)


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """Tokens are 256 random bits, so one SHA-256 is enough (no password stretching needed)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def audit_detail(**detail: Any) -> str:
    return json.dumps({k: v for k, v in detail.items() if v is not None}, ensure_ascii=False)
