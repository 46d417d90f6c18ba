"""The browser app (``GET /``), the editors' page (``GET /editor``), the change-impact page
(``GET /impact``: projects, their saved checks and what data changes did to them) and what the
app reads first (``GET /v1/app-config``).

The pages are plain HTML files in ``maps/static`` with their own JS and CSS (no build step, no
templating): everything they load comes from this service — their own files from ``/static/``
and Leaflet, Leaflet-Geoman and Leaflet.VectorGrid from ``/vendor/`` (``npm ci``). Without
those packages ``/`` still answers, with a page saying what to run instead of a broken map. No
basemap is drawn unless one is configured (``ECOZONE_BASEMAP=osm|tianditu``), so the app works
on an offline intranet.
"""

from __future__ import annotations

import html
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ecozone.deps import get_service, get_settings
from ecozone.maps.assets import MISSING, STATIC_DIR, missing_packages
from ecozone.maps.folium_maps import illustrative_layers
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter()

OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
# Tianditu's Web Mercator ("_w") WMTS: vector base map and its Chinese annotation layer. Tianditu
# is in CGCS2000, which matches WGS84 to centimetres, so the layers need no offset on it
# (unlike Gaode/Baidu maps, which are GCJ-02/BD-09 shifted).
TIANDITU_URL = ("https://t{{s}}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles"
                "&TILEMATRIX={{z}}&TILEROW={{y}}&TILECOL={{x}}&tk={token}")
TIANDITU_SUBDOMAINS = "01234567"


def basemap_config(settings: Settings) -> tuple[dict | None, dict | None]:
    """(basemap, note): the tile layer the app draws under the data, None unless configured;
    note says why a configured basemap is not used."""
    kind = (settings.basemap or "none").strip().lower()
    if kind in ("", "none"):
        return None, None
    if kind == "osm":
        return {
            "kind": "osm", "url": OSM_URL, "subdomains": "", "max_zoom": 19,
            "attribution": "© OpenStreetMap contributors", "overlay": None,
        }, None
    if kind == "tianditu":
        token = settings.tianditu_token.strip()
        if not token:
            return None, {
                "zh": "已设置 ECOZONE_BASEMAP=tianditu，但缺少 ECOZONE_TIANDITU_TOKEN（天地图密钥），故不显示底图。",
                "en": "ECOZONE_BASEMAP=tianditu is set but ECOZONE_TIANDITU_TOKEN (the Tianditu key) is missing, "
                      "so no basemap is drawn.",
            }
        return {
            "kind": "tianditu",
            "url": TIANDITU_URL.format(layer="vec", token=quote(token, safe="")),
            "subdomains": TIANDITU_SUBDOMAINS, "max_zoom": 18,
            "attribution": "天地图 · Tianditu (GS(2024)0568号)",
            "overlay": {"url": TIANDITU_URL.format(layer="cva", token=quote(token, safe="")), "subdomains": TIANDITU_SUBDOMAINS},
        }, None
    return None, {
        "zh": f"未知的底图设置 ECOZONE_BASEMAP={settings.basemap}（可用 none、osm、tianditu），故不显示底图。",
        "en": f"Unknown basemap setting ECOZONE_BASEMAP={settings.basemap!r} (use none, osm or tianditu), "
              "so no basemap is drawn.",
    }


def _tile_origins(basemap: dict | None) -> list[str]:
    """The hosts the page may load images from, for its Content-Security-Policy."""
    if basemap is None:
        return []
    urls = [basemap["url"]] + ([basemap["overlay"]["url"]] if basemap.get("overlay") else [])
    origins = set()
    for url in urls:
        parts = urlsplit(url)
        host = parts.netloc
        if "{s}" in host:  # t{s}.tianditu.gov.cn: CSP allows a wildcard only as the first label
            host = "*." + host.split(".", 1)[1]
        origins.add(f"{parts.scheme}://{host}")
    return sorted(origins)


def content_security_policy(settings: Settings) -> str:
    """Only this service may be contacted (plus the basemap's tile host, when one is set): a
    stray absolute URL in a page, a style or a vendor bundle is blocked by the browser."""
    images = " ".join(["'self'", "data:", "blob:"] + _tile_origins(basemap_config(settings)[0]))
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {images}; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
            # Large layers come as vector tiles (/v1/tiles/…mvt, fetched: connect-src), so no
            # blob: worker (VectorGrid's GeoJSON slicer) is ever started.
            "worker-src 'self'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'self'")


# --- illustrative layers ------------------------------------------------------------------------
# --- pages --------------------------------------------------------------------------------------
def _root(request: Request) -> str:
    return (request.scope.get("root_path") or "").rstrip("/")


def _page(name: str, request: Request, settings: Settings) -> HTMLResponse:
    """A page file from maps/static, its same-origin paths prefixed with the proxy's root path."""
    text = (STATIC_DIR / name).read_text(encoding="utf-8")
    root = _root(request)
    if root:
        for attr in ('src="/', 'href="/'):
            text = text.replace(attr, f"{attr[:-1]}{html.escape(root)}/")
    text = text.replace('data-root=""', f'data-root="{html.escape(root)}"', 1)
    return HTMLResponse(text, headers={
        "Cache-Control": "no-cache",
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
    })


def _missing_assets_page(request: Request, missing: list[str]) -> HTMLResponse:
    root = html.escape(_root(request))
    packages = html.escape(", ".join(missing))
    body = f"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ecozone · 前端依赖未安装 / front-end packages missing</title>
<link rel="icon" href="{root}/static/favicon.svg" type="image/svg+xml">
</head>
<body style="font-family: system-ui, 'Noto Sans CJK SC', sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.6; color: #1f2933">
<h1 style="font-size: 1.4rem">重庆生态环境分区管控与选址核查 · ecozone</h1>
<p lang="zh">{html.escape(MISSING["zh"])}</p>
<p lang="en">{html.escape(MISSING["en"])}</p>
<pre style="background: #f1f3f5; padding: .75rem 1rem; border-radius: 4px">cd ecozone &amp;&amp; npm ci</pre>
<p>缺少 / missing: <code>{packages}</code></p>
<p>接口仍可使用 · The API still works: <a href="{root}/docs">{root}/docs</a> ·
<a href="{root}/editor">图层编辑 / layer editor</a></p>
</body>
</html>
"""
    return HTMLResponse(body, headers={"Cache-Control": "no-cache"})


@router.get("/", include_in_schema=False)
def app_page(request: Request, settings: Settings = Depends(get_settings)) -> HTMLResponse:
    missing = missing_packages(settings)
    if missing:
        return _missing_assets_page(request, missing)
    return _page("index.html", request, settings)


@router.get("/editor", include_in_schema=False)
def editor_page(request: Request, settings: Settings = Depends(get_settings)) -> HTMLResponse:
    """Layer uploads, versions and rollbacks for GIS staff (needs no map packages)."""
    return _page("editor.html", request, settings)


@router.get("/impact", include_in_schema=False)
def impact_page(request: Request, settings: Settings = Depends(get_settings)) -> HTMLResponse:
    """Projects with their saved checks, and the checks whose verdict or rules changed when a layer
    or the rule catalog changed (GET /v1/projects, /v1/impact), newest first (needs no map packages)."""
    return _page("impact.html", request, settings)


@router.get("/v1/app-config", tags=["maps"])
def app_config(service: Service = Depends(get_service), settings: Settings = Depends(get_settings)) -> dict:
    """What the browser app needs before drawing: the basemap (null unless configured: the app
    works offline), vendor packages that are missing, and the layers holding illustrative
    (non-legal) data, for which the app shows a warning banner."""
    basemap, note = basemap_config(settings)
    return {
        "basemap": basemap,
        "basemap_note": note,
        "missing_assets": missing_packages(settings),
        "missing_assets_message": MISSING if missing_packages(settings) else None,
        "illustrative_layers": illustrative_layers(service),
        "data_version": service.snapshot.data_version,
    }
