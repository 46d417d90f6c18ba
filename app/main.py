"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import Depends, FastAPI

from ecozone import __version__
from ecozone.deps import get_service
from ecozone.docs import install_offline_docs
from ecozone.errors import install_error_handlers
from ecozone.routers import catalog, layers, siting
from ecozone.service import Service
from ecozone.settings import Settings


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """Build the app. Tests inject a `service`; the CLI lets it open the configured store."""
    settings = settings or Settings()
    app = FastAPI(
        title="ecozone",
        version=__version__,
        description="重庆生态环境分区管控与选址核查服务 · Ecological zoning and siting checks for Chongqing",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service or Service.open(settings)
    install_error_handlers(app)
    install_offline_docs(app)
    app.include_router(siting.router)
    app.include_router(catalog.router)
    app.include_router(layers.router)

    @app.get("/healthz", tags=["meta"])
    def healthz(svc: Service = Depends(get_service)) -> dict:
        snap = svc.snapshot
        return {
            "status": "ok",
            "data_version": snap.data_version,
            "layers": len(snap.layers),
            "rules": len(svc.catalog.rules),
            "unbound_rules": len(snap.engine.index.unbound),
        }

    return app
