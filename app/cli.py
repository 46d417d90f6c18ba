"""The `ecozone` command: serve the API, or check a site from the terminal.

A warm `ecozone check` must start fast (it is called from planners' scripts, once per site):
this module imports nothing heavy at the top, and the compiled zones come from the cache in
the data directory (see ecozone.service), so geopandas, pyogrio, fastapi and uvicorn are only
imported when a layer file, a KML file or the server needs them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from ecozone.layers.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ecozone — 重庆生态环境分区管控与选址核查")

# Exit codes of `ecozone check`, for scripts (also with --json, where the JSON is printed too).
EXIT_CODES: dict[str, int] = {"permitted": 0, "notice": 3, "restricted": 4, "prohibited": 5, "not_covered": 6}
EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1

_VERDICT_STYLE = {"prohibited": "bold red", "restricted": "bold yellow", "notice": "bold cyan",
                  "permitted": "bold green", "not_covered": "bold white on magenta"}
_VERDICT_ZH = {"prohibited": "禁止", "restricted": "限制（须论证审批）", "notice": "提示", "permitted": "未见限制",
               "not_covered": "不在已载入规划范围内，未检查任何规则"}

CHECK_EPILOG = """\b
Exit codes / 退出码 (also with --json):
  0  permitted    未见限制
  3  notice       提示
  4  restricted   限制（须论证审批）
  5  prohibited   禁止
  6  not_covered  不在已载入规划范围内，未检查任何规则
  2  bad input or usage  输入或用法错误
  1  unexpected error    意外错误
"""


class GeometryFileError(InputError):
    """A --geometry file that cannot be used as one site."""

    code = "invalid_geometry_file"


class PortUnavailable(InputError):
    """`ecozone serve` cannot bind its port."""

    code = "port_unavailable"


def _stderr() -> "Console":
    from rich.console import Console

    return Console(stderr=True)


def _input_error(e: InputError) -> typer.Exit:
    from rich.markup import escape

    _stderr().print(f"[red]错误 / error[/red] ({e.code}): {escape(e.zh)}\n{escape(e.en)}", highlight=False,
                    soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def _usage_error(zh: str, en: str) -> typer.Exit:
    return _input_error(InputError(zh, en))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port"),
    workers: int = typer.Option(1, min=1, max=64, help="Worker processes (each follows the store's publishes)"),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log",
                                    help="Log every request (off by default: a line per check, on the hot path)"),
) -> None:
    """Run the HTTP service on the configured store (a fresh data dir gets the demo layers)."""
    from ecozone.settings import Settings

    settings = Settings()
    console = _stderr()
    sock = _bind(host, port)  # before the (possibly slow) compile: a taken port fails at once
    import uvicorn

    from ecozone.main import create_app
    from ecozone.service import Service

    data_dir = Path(settings.data_dir).expanduser().resolve()
    where = "PostGIS" if settings.database_url else str(data_dir)
    console.print(f"ecozone: data in {where} · 数据位于 {where}", highlight=False, soft_wrap=True)
    with console.status(f"Loading layers from {where} and compiling zones…"):
        service = _guard(lambda: Service.open(settings))  # also fills the zone cache the workers start from
    snap = service.snapshot
    console.print(
        f"ecozone: {len(snap.layers)} layers, {len(service.catalog.rules)} rules, "
        f"data_version {snap.data_version} (zones {'from cache' if service.from_cache else 'compiled'})"
        f" — {workers} worker{'s' if workers > 1 else ''} — http://{host}:{port}/docs",
        highlight=False, soft_wrap=True,
    )
    # http="auto" takes httptools (an ecozone dependency; h11 is the fallback): ~15% less CPU per
    # point check than h11. The loop stays asyncio even where uvloop is installed: uvloop serves a
    # little more per second but unfairly under load — at 64 clients a few requests waited 1–3 s
    # (p99 ~1 s against ~0.2 s on asyncio), since every point check is CPU on the loop.
    # No access log unless asked: a log line per check is work on the hot path.
    options = dict(host=host, port=port, log_level="info", access_log=access_log, http="auto", loop="asyncio")
    if workers == 1:
        config = uvicorn.Config(create_app(settings, service), **options)
        uvicorn.Server(config).run(sockets=[sock])
        return
    service.store.close()
    # Each worker builds its own app (and opens its own store connections) from the same
    # settings, on the socket bound above; they learn of each other's publishes by polling.
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config("ecozone.main:create_app", factory=True, workers=workers, **options)
    Multiprocess(config, sockets=[sock]).run()


def _guard(fn):
    """Run fn; bad input is a clear message and exit code 2, not a traceback."""
    try:
        return fn()
    except InputError as e:
        raise _input_error(e)


def _port_error(zh: str, en: str) -> typer.Exit:
    return _input_error(PortUnavailable(zh, en))


def _bind(host: str, port: int):
    """Bind host:port now (as uvicorn would), so that a taken port is a clear message and exit
    code 2 rather than a traceback after the zones are compiled; uvicorn serves on this socket."""
    import errno
    import socket

    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise _input_error(PortUnavailable(f"无法解析主机地址 {host}：{e}", f"Cannot resolve host {host!r}: {e}"))
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio sets TCP_NODELAY only on sockets it made as TCP; without it every keep-alive
    # response waits ~40 ms for a delayed ACK (accepted sockets inherit the option on Linux).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise _port_error(
                f"端口 {port} 已被占用（{host}:{port}，可能已有一个 ecozone 或其他服务在运行）。"
                f"请换一个端口，例如：ecozone serve --port {port + 1}",
                f"Port {port} is already in use on {host} (another ecozone or some other server is running). "
                f"Choose another port, e.g.: ecozone serve --port {port + 1}",
            )
        if e.errno == errno.EACCES:
            raise _port_error(
                f"无权限绑定 {host}:{port}（1024 以下端口通常需要管理员权限）。请换一个端口，例如：ecozone serve --port 8000",
                f"Permission denied binding {host}:{port} (ports below 1024 usually need root). "
                "Choose another port, e.g.: ecozone serve --port 8000",
            )
        raise _port_error(f"无法绑定 {host}:{port}：{e.strerror}", f"Cannot bind {host}:{port}: {e.strerror}")
    sock.set_inheritable(True)
    return sock


@app.command(epilog=CHECK_EPILOG)
def check(
    lon: float | None = typer.Option(None, help="Longitude (or easting for a projected --crs)"),
    lat: float | None = typer.Option(None, help="Latitude (or northing for a projected --crs)"),
    geometry: Path | None = typer.Option(
        None, "--geometry", "-g", dir_okay=False, metavar="FILE",
        help="Site from a file instead of --lon/--lat: GeoJSON (geometry, Feature, or a FeatureCollection "
        "of one feature), KML/KMZ, or WKT text",
    ),
    project_type: list[str] | None = typer.Option(
        None, "--project-type", "-t", metavar="TYPE",
        help="Code or Chinese name (e.g. heavy_chemical, 重化工项目); repeat or comma-separate for several",
    ),
    crs: str | None = typer.Option(
        None, help="CRS of the coordinates (also of a --geometry file): EPSG code or GCJ02 (default EPSG:4326)",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON answer"),
) -> None:
    """Check one site against every rule, in-process (no server needed).

    The exit code tells a script the verdict (table below); the answer is the API's.
    """
    try:
        answer = _run(lon, lat, geometry, project_type, crs)
    except typer.Exit:
        raise
    except InputError as e:
        raise _input_error(e)
    except Exception as e:  # a bug, a broken data dir: say so, with the traceback, and exit 1
        import traceback

        traceback.print_exc()
        from rich.markup import escape

        _stderr().print(f"[red]意外错误 / unexpected error[/red]: {type(e).__name__}: {escape(str(e))}", highlight=False)
        raise typer.Exit(EXIT_UNEXPECTED)
    verdict = effective_verdict(answer)
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_answer(answer, verdict)
    raise typer.Exit(EXIT_CODES.get(verdict, EXIT_UNEXPECTED))


def effective_verdict(answer: dict) -> str:
    """The answer's verdict; a `permitted` on a site that no loaded plan covers is reported as
    not_covered (nothing was checked), never as permitted."""
    verdict = answer["verdict"]
    coverage = answer.get("coverage") or {}
    if verdict == "permitted" and coverage.get("covered") is False:
        return "not_covered"
    return verdict


def split_project_types(values: list[str] | None) -> str | list[str] | None:
    from ecozone.checks import split_project_types as split

    return split(values, "--project-type")


def _run(lon, lat, geometry, project_type, crs) -> dict:
    if geometry is not None and (lon is not None or lat is not None):
        raise _usage_error("请只给出 --geometry 或 --lon/--lat 其中之一。",
                           "Give either --geometry FILE or --lon/--lat, not both.")
    if geometry is None and (lon is None or lat is None):
        raise _usage_error(
            "请给出选址：--lon 与 --lat，或 --geometry 文件（GeoJSON、KML/KMZ、WKT）。",
            "Give the site: --lon and --lat, or --geometry FILE (GeoJSON, KML/KMZ or WKT).",
        )
    types = split_project_types(project_type)
    if geometry is not None:
        site, file_crs = read_geometry_file(geometry)
        crs = crs or file_crs
    else:
        site = {"type": "Point", "coordinates": [lon, lat]}

    from ecozone.checks import SitingRequest, run_check
    from ecozone.service import Service
    from ecozone.settings import Settings

    from pydantic import ValidationError

    settings = Settings()
    try:
        req = SitingRequest(geometry=site, crs=crs or "EPSG:4326", project_type=types)
    except ValidationError as e:  # e.g. a GeoJSON file whose geometry is not an object
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "input"
        raise InputError(f"输入无效（{where}）：{first.get('msg')}", f"Invalid input at {where}: {first.get('msg')}",
                         field=where) from None
    return run_check(Service.open(settings), settings, req)


# --- --geometry FILE ----------------------------------------------------------------------
_GEOJSON_SUFFIXES = (".geojson", ".json")
_WKT_SUFFIXES = (".wkt", ".txt")


def read_geometry_file(path: Path) -> tuple[dict, str | None]:
    """One site from a file → (GeoJSON geometry dict, CRS the file declares or None).

    GeoJSON (a geometry, a Feature, or a FeatureCollection with exactly one feature), WKT text
    (optionally EWKT `SRID=4545;…`), or anything GDAL reads, KML/KMZ in particular (exactly one
    feature). The geometry itself is validated afterwards like any API input."""
    where = str(path)
    if not path.is_file():
        raise GeometryFileError(f"找不到几何文件：{path}", f"Geometry file not found: {path}", field="geometry", where=where)
    suffix = path.suffix.lower()
    if suffix in _GEOJSON_SUFFIXES or suffix in _WKT_SUFFIXES or suffix == "":
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            raise GeometryFileError(f"无法读取几何文件 {path}：{e}", f"Cannot read geometry file {path}: {e}",
                                    field="geometry", where=where) from None
        if suffix in _GEOJSON_SUFFIXES or text.lstrip().startswith("{"):
            return _from_geojson_text(text, where)
        if not text.lstrip().startswith("<"):
            return _from_wkt_text(text, where)
    return _from_gdal(path, where)


def _several_features(n: int, where: str) -> GeometryFileError:
    return GeometryFileError(
        f"文件含 {n} 个要素；一次核查只针对一个选址。多个选址请逐个核查或使用批量筛查。",
        f"The file holds {n} features; a check is for one site. Check them one by one or use batch screening.",
        field="geometry", where=where, features=n,
    )


def _no_feature(where: str) -> GeometryFileError:
    return GeometryFileError("文件中没有几何要素。", "The file holds no geometry.", field="geometry", where=where)


def _from_geojson_text(text: str, where: str) -> tuple[dict, str | None]:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise GeometryFileError(
            f"GeoJSON 解析失败（第 {e.lineno} 行第 {e.colno} 列）：{e.msg}",
            f"Not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}",
            field="geometry", where=where, line=e.lineno, column=e.colno,
        ) from None
    if not isinstance(obj, dict):
        raise GeometryFileError("GeoJSON 须为对象。", "GeoJSON must be an object.", field="geometry", where=where)
    file_crs = _geojson_crs(obj)
    if obj.get("type") == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list) or not features:
            raise _no_feature(where)
        if len(features) > 1:
            raise _several_features(len(features), where)
        obj = features[0]
        where += " features[0]"
    if isinstance(obj, dict) and obj.get("type") == "Feature":
        geom = obj.get("geometry")
        if geom is None:
            raise GeometryFileError("要素没有几何（geometry 为 null）。", "The feature has no geometry (null).",
                                    field="geometry", where=where)
        obj = geom
    return obj, file_crs


def _geojson_crs(obj: dict) -> str | None:
    """The legacy GeoJSON `crs` member (still written by many Chinese GIS exports in EPSG:4545 …)."""
    crs = obj.get("crs")
    if not isinstance(crs, dict):
        return None
    name = (crs.get("properties") or {}).get("name")
    if not isinstance(name, str):
        return None
    if name.upper().replace(":", "").endswith("CRS84"):
        return "EPSG:4326"
    return name


def _from_wkt_text(text: str, where: str) -> tuple[dict, str | None]:
    import shapely

    text = text.strip()
    file_crs = None
    if text.upper().startswith("SRID="):
        srid, _, text = text.partition(";")
        file_crs = "EPSG:" + srid.split("=", 1)[1].strip()
    if not text:
        raise _no_feature(where)
    try:
        geom = shapely.from_wkt(text)
    except Exception as e:  # shapely.errors.GEOSException: say what GEOS said
        raise GeometryFileError(f"WKT 解析失败：{e}", f"Not valid WKT: {e}", field="geometry", where=where) from None
    if geom is None or geom.is_empty:
        raise _no_feature(where)
    return shapely.geometry.mapping(shapely.force_2d(geom)), file_crs


def _from_gdal(path: Path, where: str) -> tuple[dict, str | None]:
    """KML/KMZ (and other GDAL vector formats): every layer's features, exactly one in all."""
    import pyogrio
    import shapely

    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        frames = [pyogrio.read_dataframe(path, layer=name) for name in layers]
    except Exception as e:  # pyogrio.errors.DataSourceError & co.: not a format GDAL reads
        raise GeometryFileError(
            f"无法读取几何文件 {path}（支持 GeoJSON、KML/KMZ、WKT）：{e}",
            f"Cannot read geometry file {path} (GeoJSON, KML/KMZ or WKT expected): {e}",
            field="geometry", where=where,
        ) from None
    geoms: list[Any] = []
    file_crs = None
    for frame in frames:
        for g in frame.geometry:
            if g is not None and not g.is_empty:
                geoms.append(g)
                if frame.crs is not None:
                    file_crs = frame.crs.to_string()
    if not geoms:
        raise _no_feature(where)
    if len(geoms) > 1:
        raise _several_features(len(geoms), where)
    return shapely.geometry.mapping(shapely.force_2d(geoms[0])), file_crs


# --- table output -------------------------------------------------------------------------
def _print_answer(a: dict, verdict: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    where = "、".join(f"{j['name']}({j['code']})" for j in a["jurisdictions"]) or "—"
    style = _VERDICT_STYLE.get(verdict, "bold")
    types = a.get("project_type")
    types = "、".join(types) if isinstance(types, list) else types
    if verdict == "not_covered":
        console.print(f"[{style}] NOT COVERED · 不在已载入规划范围内，未检查任何规则 [/]")
        console.print(f"project type: {types or '(all)'} — jurisdiction: {where}")
    else:
        console.print(
            f"[{style}]{verdict.upper()} · {_VERDICT_ZH.get(verdict, verdict)}[/] — project type: {types or '(all)'}"
            f" — jurisdiction: {where}"
        )
    coverage = a.get("coverage") or {}
    ratio = coverage.get("covered_ratio")
    note = coverage.get("note")
    if note and (verdict == "not_covered" or ratio is None or ratio < 1):
        pct = f" ({ratio:.0%} covered · 已覆盖 {ratio:.0%})" if isinstance(ratio, (int, float)) and 0 < ratio < 1 else ""
        console.print(f"[bold magenta]{note['zh']}[/]\n[bold magenta]{note['en']}[/]{pct}")
    for title, rows in (("Findings", a["findings"]), ("Would apply to a more specific project type", a["conditional_findings"])):
        if not rows:
            continue
        table = Table(title=title, show_lines=False)
        for col in ("effect", "rule", "feature", "distance_m", "threshold_m", "section"):
            table.add_column(col)
        for f in rows:
            table.add_row(
                f"[{_VERDICT_STYLE.get(f['effect'], 'bold')}]{f['effect']}[/]", f["rule_id"], f["feature_name"] or "—",
                f"{f['distance_m']:.1f}", "—" if f["threshold_m"] is None else f"{f['threshold_m']:.0f}",
                f["citation"]["section"],
            )
        console.print(table)
        for f in rows:
            console.print(f"[bold]{f['rule_id']}[/] {f['message']['zh']}\n  《{f['citation']['document']}》"
                          f"{f['citation']['section']}：“{f['citation']['text']}”")
    if "chainage_length_m" in a:
        _print_chainage(console, a)
    console.print(f"data_version {a['data_version']}")


from ecozone.cli_admin import demo_app, layers_app, suitability, token_app  # noqa: E402 — they use the helpers above

app.add_typer(layers_app, name="layers")
app.add_typer(token_app, name="token")
app.add_typer(demo_app, name="demo")
app.command()(suitability)

from ecozone.cli_screen import screen  # noqa: E402 — batch screening, in-process or on Dask

app.command()(screen)


def main() -> None:
    from ecozone.cli_screen import bare_dask_flag

    app(args=bare_dask_flag(sys.argv[1:]))


def _print_chainage(console, a: dict) -> None:
    """A route's intervals inside each rule's zone, in K notation (桩号), as route designers read them."""
    from rich.table import Table

    table = Table(title=f"Chainage · 桩号区间 (route {a['chainage_length_m'] / 1000:.3f} km)")
    for col in ("effect", "rule", "from", "to", "length_m"):
        table.add_column(col)
    for f in a["findings"]:
        for s in f.get("segments") or []:
            table.add_row(f"[{_VERDICT_STYLE.get(f['effect'], 'bold')}]{f['effect']}[/]", f["rule_id"],
                          s["from_k"], s["to_k"], f"{s['length_m']:.1f}")
    console.print(table)
