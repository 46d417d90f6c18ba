"""FastAPI dependencies: what routes get injected (the TiTiler factory idea, kept small).

They are ``async def`` on purpose: FastAPI runs a sync dependency in the threadpool, i.e. one
thread hop per dependency per request (~0.1–0.3 ms each under load), for what is an attribute
read. An async one runs inline on the event loop. Keep them free of I/O."""

from __future__ import annotations

from fastapi import Request

from ecozone.service import Service
from ecozone.settings import Settings


async def get_service(request: Request) -> Service:
    return request.app.state.service


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings
