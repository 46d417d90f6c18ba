"""The `ecozone` command: serve the API, or check a site from the terminal."""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console
from rich.table import Table

from ecozone.layers.errors import InputError
from ecozone.settings import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ecozone — 重庆生态环境分区管控与选址核查")
_VERDICT_STYLE = {"prohibited": "bold red", "restricted": "bold yellow", "notice": "bold cyan", "permitted": "bold green"}
_VERDICT_ZH = {"prohibited": "禁止", "restricted": "限制（须论证审批）", "notice": "提示", "permitted": "未见限制"}


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to bind"),
    port: int = typer.Option(8000, help="Port"),
) -> None:
    """Run the HTTP service on the configured store (a fresh data dir gets the demo layers)."""
    import uvicorn

    from ecozone.main import create_app

    settings = Settings()
    console = Console(stderr=True)
    with console.status(f"Loading layers from {settings.data_dir} and compiling zones…"):
        application = create_app(settings)
    snap = application.state.service.snapshot
    console.print(
        f"ecozone: {len(snap.layers)} layers, {len(application.state.service.catalog.rules)} rules, "
        f"data_version {snap.data_version} — http://{host}:{port}/docs"
    )
    uvicorn.run(application, host=host, port=port, log_level="info")


@app.command()
def check(
    lon: float = typer.Option(..., help="Longitude (or easting for a projected --crs)"),
    lat: float = typer.Option(..., help="Latitude (or northing for a projected --crs)"),
    project_type: str | None = typer.Option(None, "--project-type", "-t", help="e.g. heavy_chemical"),
    crs: str = typer.Option("EPSG:4326", help="EPSG code or GCJ02"),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON answer"),
) -> None:
    """Check one point against every rule, in-process (no server needed)."""
    from ecozone.checks import SitingRequest, run_check
    from ecozone.service import Service

    settings = Settings()
    try:
        req = SitingRequest(geometry={"type": "Point", "coordinates": [lon, lat]}, crs=crs, project_type=project_type)
        answer = run_check(Service.open(settings), settings, req)
    except InputError as e:
        Console(stderr=True).print(f"[red]错误 / error[/red] ({e.code}): {e.zh}\n{e.en}")
        raise typer.Exit(2)
    if as_json:
        sys.stdout.write(json.dumps(answer, ensure_ascii=False, indent=2) + "\n")
        return
    _print_answer(answer)


def _print_answer(a: dict) -> None:
    console = Console()
    where = "、".join(f"{j['name']}({j['code']})" for j in a["jurisdictions"]) or "—"
    v = a["verdict"]
    console.print(
        f"[{_VERDICT_STYLE[v]}]{v.upper()} · {_VERDICT_ZH[v]}[/] — project type: {a['project_type'] or '(all)'}"
        f" — jurisdiction: {where}"
    )
    if a["coverage"]["note"]:
        console.print(a["coverage"]["note"]["zh"] + " / " + a["coverage"]["note"]["en"])
    for title, rows in (("Findings", a["findings"]), ("Would apply to a more specific project type", a["conditional_findings"])):
        if not rows:
            continue
        table = Table(title=title, show_lines=False)
        for col in ("effect", "rule", "feature", "distance_m", "threshold_m", "section"):
            table.add_column(col)
        for f in rows:
            table.add_row(
                f"[{_VERDICT_STYLE[f['effect']]}]{f['effect']}[/]", f["rule_id"], f["feature_name"] or "—",
                f"{f['distance_m']:.1f}", "—" if f["threshold_m"] is None else f"{f['threshold_m']:.0f}",
                f["citation"]["section"],
            )
        console.print(table)
        for f in rows:
            console.print(f"[bold]{f['rule_id']}[/] {f['message']['zh']}\n  《{f['citation']['document']}》"
                          f"{f['citation']['section']}：“{f['citation']['text']}”")
    console.print(f"data_version {a['data_version']}")


def main() -> None:
    app()
