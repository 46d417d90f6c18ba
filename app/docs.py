"""API docs pages (Swagger UI at /docs, ReDoc at /redoc) that work on an offline intranet.

FastAPI's default pages load Swagger UI and ReDoc from a public CDN, plus a favicon from
fastapi.tiangolo.com and (for ReDoc) Google Fonts; on a network without internet access
/docs is then a blank page. Here every asset comes from this service instead: the
JavaScript, CSS and favicon are the files shipped in the `fastapi-offline` package from
PyPI (Swagger UI 5 and ReDoc 2 bundles), served straight from its installed directory,
so no third-party bundle is ever committed to this repository.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
DOCS_ASSETS_URL = "/docs-assets"

# (installed package, folder inside it) holding swagger-ui-bundle.js, swagger-ui.css,
# redoc.standalone.js and favicon.png.
DOCS_ASSETS_PACKAGE = ("fastapi_offline", "static")
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"

# Swagger UI's default validatorUrl makes the page load a badge image from
# validator.swagger.io (sending it the spec's URL); offline that is a broken request.
OFFLINE_SWAGGER_UI_PARAMETERS = {"validatorUrl": None}

# ReDoc 2 always renders its "API docs by Redocly" logo as <img src="https://cdn.redoc.ly/...">
# and has no option to turn it off; this policy makes the browser refuse it (the logo then
# hides itself) instead of reaching for the internet. Swagger UI's icons are data: URLs.
DOCS_PAGE_CSP = "img-src 'self' data:"


def install_offline_docs(app: FastAPI) -> None:
    """Serve /docs, its OAuth2 redirect page and /redoc with assets from the installed package.

    Call on an app built with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off.
    """
    openapi_url = app.openapi_url
    if not openapi_url:
        return  # no schema, nothing for the pages to show (FastAPI skips them too)

    app.mount(DOCS_ASSETS_URL, StaticFiles(packages=[DOCS_ASSETS_PACKAGE]), name="docs-assets")
    oauth2_redirect_url = app.swagger_ui_oauth2_redirect_url

    # The root path is read per request so the pages still work behind a reverse proxy
    # that mounts the service under a prefix (as FastAPI's own doc routes do).
    async def swagger_ui_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/{SWAGGER_JS}",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/{SWAGGER_CSS}",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/{FAVICON}",
            oauth2_redirect_url=root + oauth2_redirect_url if oauth2_redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), **OFFLINE_SWAGGER_UI_PARAMETERS},
        )
        page.headers["Content-Security-Policy"] = DOCS_PAGE_CSP
        return page

    async def swagger_ui_oauth2_redirect_page(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc_page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=root + openapi_url,
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS_URL}/{REDOC_JS}",
            redoc_favicon_url=f"{root}{DOCS_ASSETS_URL}/{FAVICON}",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_PAGE_CSP
        return page

    app.add_route(DOCS_URL, swagger_ui_page, include_in_schema=False)
    if oauth2_redirect_url:
        app.add_route(oauth2_redirect_url, swagger_ui_oauth2_redirect_page, include_in_schema=False)
    app.add_route(REDOC_URL, redoc_page, include_in_schema=False)
