"""Publishing a layer file, as the API and the CLI both do it (no web framework here).

read (layers.formats) → validate and convert to WGS84 (layers.validate) → Service.publish,
which compiles the new state inside the store's write transaction. Any failure before the
commit leaves the previous version serving, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from ecozone.layers.errors import InputError
from ecozone.layers.kinds import LAYER_KINDS
from ecozone.service import Service
from ecozone.settings import Settings


def limits(settings: Settings):
    from ecozone.layers.validate import Limits

    return Limits(
        max_features=settings.max_layer_features, max_vertices=settings.max_layer_vertices,
        max_feature_vertices=settings.max_feature_vertices,
    )


def publish_file(
    service: Service, settings: Settings, path: Path, filename: str, *, layer_id: str, kind: str | None,
    name: str | None, crs: str | None = None, table: str | None = None, source_crs: str | None = None,
    strict: bool = False, comment: str | None = None, actor: str | None = None, mode: str = "create",
    expect_version: int | None = None,
) -> dict:
    """Publish one uploaded file as a new version of ``layer_id``; returns the layer JSON with
    the validation report under ``validation``. ``kind``/``name`` default to the current
    layer's on an update (a new version cannot change the kind)."""
    from ecozone.layers.formats import RasterUpload, read_upload, with_crs
    from ecozone.layers.validate import validate_layer, validate_raster

    current = None
    if mode != "create":
        try:
            current = service.store.get_layer(layer_id)
        except InputError:
            if mode == "update":
                raise
    kind = kind or (current.kind if current is not None else None)
    if not kind:
        raise InputError("缺少图层类型 kind", "Missing the layer kind", field="kind",
                         allowed=sorted(LAYER_KINDS))
    name = name or (current.name if current is not None else layer_id)
    options = dict(mode=mode, expect_version=expect_version, actor=actor, comment=comment)

    upload = read_upload(path, filename, table=table)
    if isinstance(upload, RasterUpload):
        try:
            crs_label = validate_raster(kind, upload, crs=crs)
            if upload.crs is None:
                upload = with_crs(upload, crs_label)
            cog = upload.cog_path.read_bytes()
        finally:
            upload.cog_path.unlink(missing_ok=True)
        meta = {
            "crs": crs_label, "bounds_lonlat": upload.bounds_lonlat, "width": upload.width, "height": upload.height,
            "count": upload.count, "dtype": upload.dtype, "nodata": upload.nodata,
            "descriptions": upload.descriptions, "units": upload.units,
        }
        info = service.publish_raster(layer_id, name, cog, meta, **options)
        report = {"feature_count": 0, "source_crs": crs_label, "raster": {
            k: meta[k] for k in ("width", "height", "count", "dtype", "nodata", "descriptions", "units")}}
        return {**info.public(), "data_version": service.snapshot.data_version, "validation": report}

    # The layer's own extent is not required to lie within the loaded districts (a basin's
    # river network reaches beyond them); validation checks it against China's bounds.
    frame, report = validate_layer(kind, upload, crs=crs, source_crs=source_crs, strict=strict, limits=limits(settings))
    info = service.publish(layer_id, name, kind, frame, report.source_crs, **options)
    return {**info.public(), "data_version": service.snapshot.data_version, "validation": report.public()}
