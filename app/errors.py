"""One error table: every rejected request gets the contract's shape
``{"error": {"code", "message": {"zh", "en"}, "detail"}}`` and a 4xx status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ecozone.layers.errors import InputError, NotFound  # noqa: F401 — maps raise them through the app

log = logging.getLogger("ecozone")

_HTTP_MESSAGES = {
    400: ("请求有误", "Bad request"),
    401: ("需要身份验证", "Authentication required"),
    403: ("无权执行此操作", "Not allowed"),
    404: ("未找到请求的资源", "Not found"),
    405: ("不支持该请求方法", "Method not allowed"),
    409: ("资源已存在", "Conflict"),
    413: ("请求体过大", "Request body too large"),
    412: ("资源已被修改", "Precondition failed"),
    415: ("不支持的内容类型", "Unsupported media type"),
}


def error_body(code: str, zh: str, en: str, detail=None) -> dict:
    return {"error": {"code": code, "message": {"zh": zh, "en": en}, "detail": detail or {}}}


def _where(loc) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


async def _input_error(request: Request, exc: InputError) -> JSONResponse:
    return JSONResponse(error_body(exc.code, exc.zh, exc.en, exc.detail), status_code=exc.status,
                        headers=getattr(exc, "headers", None))


def _unknown_field(e: dict) -> JSONResponse:
    ctx = e.get("ctx") or {}
    field, close, allowed = ctx.get("field"), ctx.get("did_you_mean"), ", ".join(ctx.get("allowed") or [])
    hint_zh = f"是否应为 {close}？" if close else ""
    hint_en = f" Did you mean {close}?" if close else ""
    return JSONResponse(
        error_body(
            "unknown_field",
            f"未知的请求字段：{field}。{hint_zh}可用字段：{allowed}",
            f"Unknown request field {field!r}.{hint_en} Allowed fields: {allowed}",
            {"where": str(field), "did_you_mean": close, "allowed": ctx.get("allowed")},
        ),
        status_code=422,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    for e in exc.errors():
        if e.get("type") == "unknown_field":
            return _unknown_field(e)
    problems = [
        {"where": _where(e.get("loc", ())), "problem": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    first = problems[0] if problems else {"where": "body", "problem": "invalid"}
    return JSONResponse(
        error_body(
            "invalid_request",
            f"请求内容不符合要求：{first['where']} — {first['problem']}",
            f"Invalid request: {first['where']} — {first['problem']}",
            {"where": first["where"], "problems": problems},
        ),
        status_code=422,
    )


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    zh, en = _HTTP_MESSAGES.get(exc.status_code, ("请求失败", "Request failed"))
    detail = {"where": request.url.path}
    if isinstance(exc.detail, str) and exc.detail not in ("Not Found", "Method Not Allowed"):
        detail["reason"] = exc.detail
    return JSONResponse(
        error_body(f"http_{exc.status_code}", zh, en, detail), status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse(
        error_body("internal_error", "服务器内部错误", "Internal server error", {"where": request.url.path}),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
