"""FastAPI dependencies: what routes get injected (the TiTiler factory idea, kept small)."""

from __future__ import annotations

from fastapi import Request

from ecozone.service import Service
from ecozone.settings import Settings


def get_service(request: Request) -> Service:
    return request.app.state.service


def get_settings(request: Request) -> Settings:
    return request.app.state.settings
