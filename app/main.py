"""The FastAPI application factory."""

from __future__ import annotations

import logging
import os
import threading
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from ecozone import __version__
from ecozone.auth import require_role
from ecozone.deps import get_service
from ecozone.docs import install_offline_docs
from ecozone.errors import install_error_handlers
from ecozone.maps import install_maps
from ecozone.routers import batch, catalog, layers, projects, siting, suitability
from ecozone.routers.ogc import ogc_features_router
from ecozone.service import Service
from ecozone.settings import Settings


log = logging.getLogger("ecozone")


def _follow_store(service: Service, interval_s: float, stop: threading.Event) -> None:
    """Poll the store's generation, so that this worker serves what another one published
    (one cheap query per interval; the new zones come from the cache the publisher wrote)."""
    # Saved checks computed on older data (a new rule catalog, a publish while this worker was
    # down) are brought up to date first; then after every change another process made.
    service.reevaluate_saved_checks("catch-up at start")
    while not stop.wait(interval_s):
        try:
            if service.refresh():
                service.reevaluate_saved_checks("published by another process")
        except Exception:  # a store hiccup must not kill the follower; the next poll retries
            log.exception("could not refresh from the store")


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """Build the app. Tests inject a `service`; the CLI lets it open the configured store."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if getattr(app.state, "service", None) is None:
            app.state.service = Service.open(settings)
        stop = threading.Event()
        follower = threading.Thread(
            target=_follow_store, args=(app.state.service, settings.refresh_interval_s, stop),
            name="ecozone-store-follower", daemon=True,
        )
        follower.start()
        # Batch screening jobs: one runner thread per process (ecozone.jobs; claims are atomic).
        runner = None
        if settings.job_runner:
            from ecozone.jobs import JobRunner

            runner = JobRunner(app.state.service, settings)
            runner.start()
        app.state.job_runner = runner
        try:
            yield
        finally:
            stop.set()
            if runner is not None:
                runner.stop()
            follower.join(timeout=5)
            if service is None:  # a store the app opened is the app's to close
                app.state.service.store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="ecozone",
        version=__version__,
        description="重庆生态环境分区管控与选址核查服务 · Ecological zoning and siting checks for Chongqing",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.service = service
    install_error_handlers(app)
    install_offline_docs(app)
    # Auth is attached here, per router, as dependencies; routes never check roles themselves.
    reads = [Depends(require_role("viewer"))] if settings.private_reads else []
    app.include_router(siting.router, dependencies=reads)
    app.include_router(batch.router, dependencies=reads)
    app.include_router(suitability.router, dependencies=reads)
    app.include_router(catalog.router, dependencies=reads)
    app.include_router(layers.read_router, dependencies=reads)
    app.include_router(ogc_features_router("/ogc"), dependencies=reads)
    app.include_router(layers.write_router, dependencies=[Depends(require_role("editor"))])
    app.include_router(projects.read_router, dependencies=reads)
    app.include_router(projects.write_router, dependencies=[Depends(require_role("viewer"))])
    install_maps(app, settings, reads)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["*"],
            allow_headers=["Authorization", "Content-Type", "If-Match"], expose_headers=["ETag", "Location"],
        )

    @app.get("/healthz", tags=["meta"])
    def healthz(svc: Service = Depends(get_service)) -> dict:
        snap = svc.snapshot
        return {
            "status": "ok",
            "data_version": snap.data_version,
            "layers": len(snap.layers),
            "rules": len(svc.catalog.rules),
            "unbound_rules": len(snap.engine.index.unbound),
            "worker_pid": os.getpid(),
        }

    return app
