"""Front-end packages, served by the service itself at ``/vendor/…`` (never from a CDN).

They come from the npm registry at install time (`npm ci`, pinned by the committed
package-lock.json) into ``node_modules`` beside the source tree, or wherever
``ECOZONE_ASSETS_DIR`` points. Only each package's ``dist`` folder is exposed.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ecozone.errors import error_body
from ecozone.settings import Settings

# URL prefix → folder inside node_modules.
VENDOR_PACKAGES = {
    "leaflet": "leaflet/dist",
    "geoman": "@geoman-io/leaflet-geoman-free/dist",
    "vectorgrid": "leaflet.vectorgrid/dist",
}
# The files pages load, as /vendor/… URLs.
LEAFLET_JS = "/vendor/leaflet/leaflet.js"
LEAFLET_CSS = "/vendor/leaflet/leaflet.css"
GEOMAN_JS = "/vendor/geoman/leaflet-geoman.js"
GEOMAN_CSS = "/vendor/geoman/leaflet-geoman.css"
VECTORGRID_JS = "/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js"
STATIC_DIR = Path(__file__).parent / "static"

MISSING = {
    "zh": "前端依赖未安装：请在 ecozone 源码目录运行 npm ci（或设置 ECOZONE_ASSETS_DIR 指向 node_modules）后重启服务。",
    "en": "The front-end packages are not installed: run `npm ci` in the ecozone source folder (or point "
          "ECOZONE_ASSETS_DIR at a node_modules folder) and restart the service.",
}


def node_modules(settings: Settings) -> Path:
    if settings.assets_dir is not None:
        return Path(settings.assets_dir)
    return Path(__file__).resolve().parents[1] / "node_modules"


def missing_packages(settings: Settings) -> list[str]:
    root = node_modules(settings)
    return [folder.split("/dist")[0] for folder in VENDOR_PACKAGES.values() if not (root / folder).is_dir()]


def mount_assets(app: FastAPI, settings: Settings) -> None:
    """/vendor/<package>/… from node_modules, /static/… from the app's own files. A missing
    package answers 503 saying what to run, instead of a bare 404."""
    root = node_modules(settings)
    for prefix, folder in VENDOR_PACKAGES.items():
        directory = root / folder
        if directory.is_dir():
            app.mount(f"/vendor/{prefix}", StaticFiles(directory=directory), name=f"vendor-{prefix}")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/vendor/{path:path}", include_in_schema=False)
    def vendor_missing(path: str) -> JSONResponse:
        return JSONResponse(
            error_body("assets_missing", MISSING["zh"], MISSING["en"],
                       {"where": f"/vendor/{path}", "missing": missing_packages(settings)}),
            status_code=503,
        )
