"""`ecozone layers …`, `ecozone token …` and `ecozone demo load`: the GIS staff's and the
administrator's commands. They use the same settings (ECOZONE_DATA_DIR, ECOZONE_DATABASE_URL)
as the server, so a token made here is one the running server accepts, and a layer imported
here is served by every running worker within a second."""

from __future__ import annotations

import getpass
import json
import sys
from pathlib import Path

import typer

from ecozone.cli import _guard, _stderr

layers_app = typer.Typer(no_args_is_help=True, help="Publish, list, export and roll back layers (GIS staff)")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: create, list, revoke (only hashes are stored)")
demo_app = typer.Typer(no_args_is_help=True, help="The illustrative demo layers (示意数据，非法定边界)")


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # no user name in some containers
        return "cli"


def _settings():
    from ecozone.settings import Settings

    return Settings()


def _service(settings=None):
    from ecozone.service import Service

    return _guard(lambda: Service.open(settings or _settings()))


def _store(settings=None):
    from ecozone.service import open_store

    return _guard(lambda: open_store(settings or _settings()))


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@layers_app.command("import")
def import_layer(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="GeoJSON, zipped Shapefile, GeoPackage, KML/KMZ, CSV, GeoTIFF"),
    layer_id: str = typer.Option(..., "--id", help="Layer id (slug); an existing id gets a new version"),
    kind: str | None = typer.Option(None, help="Layer kind (required for a new layer; see GET /v1/layer-kinds)"),
    name: str | None = typer.Option(None, help="Display name"),
    crs: str | None = typer.Option(None, help="The file's CRS when it carries none (e.g. EPSG:4545)"),
    table: str | None = typer.Option(None, "--layer", help="Table of a multi-table GeoPackage"),
    source_crs: str | None = typer.Option(None, help="GCJ02 or BD09 for data digitised on Gaode/Baidu maps"),
    strict: bool = typer.Option(False, help="Reject invalid geometries instead of repairing them"),
    comment: str | None = typer.Option(None, help="Why this version (kept in the audit trail)"),
) -> None:
    """Validate a file and publish it as a new layer version (all or nothing)."""
    from ecozone.publishing import publish_file

    settings = _settings()
    service = _service(settings)
    with _stderr().status(f"Validating {file.name}, compiling zones and publishing…"):
        answer = _guard(lambda: publish_file(
            service, settings, file, file.name, layer_id=layer_id, kind=kind, name=name, crs=crs, table=table,
            source_crs=source_crs, strict=strict, comment=comment, actor=_cli_actor(), mode="upsert",
        ))
    _print_json(answer)


@layers_app.command("export")
def export_layer(
    layer_id: str = typer.Argument(...),
    output: Path = typer.Option(..., "-o", "--output", dir_okay=False, help="File to write"),
    fmt: str | None = typer.Option(None, "--format", help="geojson, gpkg or shp (zip); from -o's suffix if omitted"),
    version: int | None = typer.Option(None, help="A past version (default: current)"),
) -> None:
    """Write a layer version to a file (GeoJSON, GeoPackage, zipped Shapefile; GeoTIFF for rasters)."""
    store = _store()
    info = _guard(lambda: store.get_layer(layer_id))
    if info.kind == "raster":
        body = _guard(lambda: store.raster_bytes(layer_id, version))
    else:
        from ecozone.layers.formats import write_download

        fmt = fmt or {".gpkg": "gpkg", ".zip": "shp", ".shp": "shp"}.get(output.suffix.lower(), "geojson")
        body, _, _ = _guard(lambda: write_download(store.read(layer_id, version), fmt, layer_id))
    output.write_bytes(body)
    _stderr().print(f"wrote {output} ({len(body)} bytes)")


@layers_app.command("list")
def list_layers() -> None:
    """The published layers at their current versions."""
    _print_json([i.public() for i in _store().list_layers()])


@layers_app.command("versions")
def list_versions(layer_id: str = typer.Argument(...)) -> None:
    """A layer's version history."""
    store = _store()
    _print_json([v.public() for v in _guard(lambda: store.versions(layer_id))])


@layers_app.command("rollback")
def rollback(
    layer_id: str = typer.Argument(...),
    version: int = typer.Option(..., help="The version whose content becomes current again"),
    comment: str | None = typer.Option(None),
) -> None:
    """Make an earlier version's content current again (as a new version)."""
    service = _service()
    _print_json(_guard(lambda: service.rollback(layer_id, version, actor=_cli_actor(), comment=comment)).public())


@layers_app.command("delete")
def delete(layer_id: str = typer.Argument(...), comment: str | None = typer.Option(None)) -> None:
    """Stop serving a layer (its versions stay in the history)."""
    service = _service()
    _guard(lambda: service.delete(layer_id, actor=_cli_actor(), comment=comment))
    _stderr().print(f"deleted {layer_id}")


@token_app.command("create")
def token_create(
    name: str = typer.Option(..., help="Who or what holds it (shown in the audit trail)"),
    role: str = typer.Option("editor", help="viewer, editor or admin"),
) -> None:
    """Make a token and print it once (only its hash is stored)."""
    store = _store()
    secret = _guard(lambda: store.create_token(name, role, actor=_cli_actor()))
    _stderr().print(f"token {name!r} ({role}) — shown once, store it now · 仅显示一次，请妥善保存:")
    sys.stdout.write(secret + "\n")


@token_app.command("list")
def token_list() -> None:
    """Token names, roles and dates (never the secrets)."""
    _print_json([t.public() for t in _store().list_tokens()])


@token_app.command("revoke")
def token_revoke(name: str = typer.Argument(...)) -> None:
    """Revoke a token at once, on every worker."""
    store = _store()
    _guard(lambda: store.revoke_token(name, actor=_cli_actor()))
    _stderr().print(f"revoked {name}")


@demo_app.command("load")
def demo_load() -> None:
    """Publish the illustrative demo layers into the configured store (PostGIS included), on purpose."""
    from ecozone.layers.demo import DEMO_LAYERS, read_demo_layer

    service = _service()
    for layer_id, name, kind in DEMO_LAYERS:
        _guard(lambda: service.publish(layer_id, name, kind, read_demo_layer(layer_id), "EPSG:4326",
                                       actor=_cli_actor(), comment="demo (示意数据，非法定边界)"))
    _stderr().print(f"loaded {len(DEMO_LAYERS)} demo layers; data_version {service.snapshot.data_version}")


def suitability(
    area: str = typer.Option(..., help="A jurisdiction code (500102) or a polygon file (GeoJSON, KML, WKT)"),
    project_type: list[str] | None = typer.Option(None, "--project-type", "-t", help="Code or Chinese name; repeat "
                                                  "or comma-separate for several"),
    output: Path = typer.Option(..., "-o", "--output", dir_okay=False,
                                help="GeoPackage or GeoJSON of the partition (a verdict per polygon)"),
    verdict: list[str] | None = typer.Option(None, help="Write only these verdicts (e.g. --verdict permitted)"),
    crs: str | None = typer.Option(None, help="CRS of a polygon file"),
) -> None:
    """Where may it go: partition an area by verdict for a project type."""
    import geopandas as gpd

    from ecozone.cli import read_geometry_file, split_project_types
    from ecozone.suitability import SuitabilityRequest
    from ecozone.suitability import suitability as run

    if Path(area).is_file():
        geometry, file_crs = _guard(lambda: read_geometry_file(Path(area)))
        req = SuitabilityRequest(area=geometry, crs=crs or file_crs or "EPSG:4326",
                                 project_type=_guard(lambda: split_project_types(project_type)))
    else:
        req = SuitabilityRequest(area=area, project_type=_guard(lambda: split_project_types(project_type)))
    service = _service()
    with _stderr().status("Partitioning the area by verdict…"):
        _, answer = _guard(lambda: run(service, req))
    features = [f for f in answer["features"] if not verdict or f["properties"]["verdict"] in verdict]
    frame = gpd.GeoDataFrame.from_features(features, crs=4326)
    if len(frame):
        frame["rule_ids"] = frame["rule_ids"].map(lambda ids: ",".join(ids))
    driver = "GPKG" if output.suffix.lower() == ".gpkg" else "GeoJSON"
    frame.to_file(output, driver=driver, engine="pyogrio")
    console = _stderr()
    for v, area_m2 in answer["summary"].items():
        console.print(f"{v:12} {area_m2 / 1e6:12.3f} km²")
    console.print(f"wrote {len(frame)} polygons to {output}")
