"""Bearer tokens and roles, attached to routes as dependencies (as stac-fastapi's
``add_route_dependencies`` does): the app factory decides which routers need which role, so
a route's code never checks permissions itself."""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ecozone.layers.errors import InputError
from ecozone.layers.store import TokenInfo
from ecozone.layers.store.base import ROLES

_RANK = {role: i for i, role in enumerate(ROLES)}
_bearer = HTTPBearer(auto_error=False, description="`ecozone token create --role editor --name NAME` prints one")


class Unauthorized(InputError):
    code = "unauthorized"
    status = 401
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(InputError):
    code = "forbidden"
    status = 403


def require_role(role: str):
    """A dependency that admits a valid, unrevoked token of ``role`` or above."""

    def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> TokenInfo:
        if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
            raise Unauthorized(
                "需要令牌：请在请求头中加入 Authorization: Bearer <令牌>（用 ecozone token create 创建）",
                "A token is required: send Authorization: Bearer <token> (made with `ecozone token create`)",
                where="Authorization", required_role=role,
            )
        token = request.app.state.service.store.token_for(credentials.credentials)
        if token is None:
            raise Unauthorized("令牌无效或已吊销", "The token is not valid or has been revoked",
                               where="Authorization", required_role=role)
        if _RANK[token.role] < _RANK[role]:
            raise Forbidden(
                f"令牌 {token.name} 的角色为 {token.role}，此操作需要 {role} 或更高角色",
                f"Token {token.name!r} has role {token.role}; this needs {role} or above",
                where="Authorization", role=token.role, required_role=role,
            )
        request.state.token = token
        return token

    return dependency


def actor(request: Request) -> str | None:
    """The name of the token that authorised this request (recorded in the audit trail)."""
    token = getattr(request.state, "token", None)
    return token.name if token is not None else None
