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


class WrongKindForFile(InputError):
    code = "wrong_kind_for_file"


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
    from ecozone.layers.formats import RasterUpload, read_upload
    from ecozone.layers.validate import validate_layer

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
        if kind != "raster":
            raise WrongKindForFile(
                f"上传的是栅格（GeoTIFF），图层类型须为 raster，而不是 {kind}",
                f"The file is a raster (GeoTIFF); its layer kind must be raster, not {kind}",
                field="kind", value=kind,
            )
        try:
            cog = upload.cog_path.read_bytes()
        finally:
            upload.cog_path.unlink(missing_ok=True)
        crs_label = upload.crs or crs
        if not crs_label:
            raise InputError(
                "GeoTIFF 没有坐标参考系；请先用 gdal_edit.py -a_srs EPSG:4545 等写入坐标系再上传",
                "The GeoTIFF carries no CRS; assign one first (e.g. gdal_edit.py -a_srs EPSG:4545) and upload again",
                field="file",
            )
        meta = {
            "crs": crs_label, "bounds_lonlat": upload.bounds_lonlat, "width": upload.width, "height": upload.height,
            "count": upload.count, "dtype": upload.dtype, "nodata": upload.nodata,
            "descriptions": upload.descriptions, "units": upload.units,
        }
        info = service.publish_raster(layer_id, name, cog, meta, **options)
        report = {"feature_count": 0, "source_crs": crs_label, "raster": {
            k: meta[k] for k in ("width", "height", "count", "dtype", "nodata", "descriptions", "units")}}
        return {**info.public(), "data_version": service.snapshot.data_version, "validation": report}

    if kind == "raster":
        raise WrongKindForFile(
            "图层类型为 raster，但上传的是矢量文件；栅格请上传 GeoTIFF",
            "Kind raster needs a GeoTIFF, but the file holds vector features",
            field="kind", value=kind,
        )
    frame, report = validate_layer(
        kind, upload, crs=crs, source_crs=source_crs, strict=strict, limits=limits(settings),
    )
    info = service.publish(layer_id, name, kind, frame, report.source_crs, **options)
    return {**info.public(), "data_version": service.snapshot.data_version, "validation": report.public()}
