"""Maps of the service's answers: the browser app, folium maps and the printable report.

Only the app factory (and the CLI) wire this package in; it draws what the app answers.
"""

from __future__ import annotations

from fastapi import FastAPI

from ecozone.settings import Settings


def install_maps(app: FastAPI, settings: Settings, read_dependencies: list) -> None:
    """Mount the front-end assets and include the map routers (reads: public unless configured)."""
    from ecozone.maps import folium_maps, report, web
    from ecozone.maps.assets import mount_assets
    from ecozone.maps.tiles import tiles_router

    app.include_router(web.router, dependencies=read_dependencies)
    app.include_router(folium_maps.router, dependencies=read_dependencies)
    app.include_router(report.router, dependencies=read_dependencies)
    app.include_router(tiles_router(), dependencies=read_dependencies)
    mount_assets(app, settings)
