"""The API docs pages work on an offline intranet: /docs and /redoc, and everything they load,
come from the service itself, and no page the service serves makes the browser load anything
from another host."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

# Hosts of the public CDNs and font services FastAPI's default pages use.
CDN_HOST = re.compile(r"cdn\.|jsdelivr|unpkg|googleapis|gstatic|cdnjs|fastapi\.tiangolo\.com", re.I)
JS_TYPES = ("text/javascript", "application/javascript")
CSS_TYPES = ("text/css",)


class LoadedURLs(HTMLParser):
    """What an HTML page makes the browser load: script src, link href, img/iframe/source src,
    plus the inline scripts (searched separately for fetch/import/url literals)."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.icons: list[str] = []
        self.other: list[str] = []
        self.inline_scripts: list[str] = []
        self.inline_styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v for k, v in attrs if v is not None}
        if tag == "script":
            if "src" in a:
                self.scripts.append(a["src"])
            else:
                self._in = "script"
        elif tag == "link" and "href" in a:
            rel = a.get("rel", "").lower()
            if "stylesheet" in rel:
                self.stylesheets.append(a["href"])
            elif "icon" in rel:
                self.icons.append(a["href"])
            else:  # preload, prefetch, preconnect, manifest...: all make the browser connect
                self.other.append(a["href"])
        elif tag == "style":
            self._in = "style"
        elif tag in ("img", "iframe", "source", "embed", "audio", "video") and "src" in a:
            self.other.append(a["src"])
        if "style" in a:
            self.inline_styles.append(a["style"])

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in = None

    def handle_data(self, data):
        if self._in == "script":
            self.inline_scripts.append(data)
        elif self._in == "style":
            self.inline_styles.append(data)

    @property
    def loaded(self) -> list[str]:
        return self.scripts + self.stylesheets + self.icons + self.other


def parse_html(body: str) -> LoadedURLs:
    parser = LoadedURLs()
    parser.feed(body)
    return parser


CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)""", re.S)
CSS_IMPORT = re.compile(r"""@import\s+(['"])(.*?)\1""")
# In an inline script, things that make the browser load a URL: fetch(...), import(...) /
# import ... from "...", new Worker/EventSource/WebSocket(...), XMLHttpRequest.open(m, url),
# SwaggerUIBundle({url: ...}) / ReDoc spec-url, and any other string literal holding an absolute URL.
SCRIPT_URL_LITERAL = re.compile(r"""(['"`])((?:https?:)?//[^'"`\s]*)\1""", re.I)


# In a JS bundle, an element's hard-coded absolute src (React's createElement("img", {src: "https://..."})).
BUNDLE_HARDCODED_SRC = re.compile(r"""\bsrc:\s*(['"`])((?:https?:)?//[^'"`\s]+)\1""")


def csp_img_sources(csp: str) -> list[str] | None:
    """The sources a Content-Security-Policy allows images from (None: no image restriction)."""
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    return directives.get("img-src", directives.get("default-src"))


def csp_blocks_image(csp: str, url: str) -> bool:
    """Whether the policy stops the browser fetching an image from another host at `url`."""
    sources = csp_img_sources(csp)
    if sources is None:
        return False
    host = urlsplit(url if "://" in url else "https:" + url).hostname or ""
    for source in sources:
        if source in ("*", "http:", "https:"):
            return False
        if not source.startswith("'") and not source.endswith(":"):  # a host-source
            pattern = re.escape(urlsplit(source if "//" in source else "//" + source).hostname or source)
            if re.fullmatch(pattern.replace(r"\*", r"[^.]+"), host):
                return False
    return True


def css_urls(css: str) -> list[str]:
    return [m.group(2) for m in CSS_URL.finditer(css)] + [m.group(2) for m in CSS_IMPORT.finditer(css)]


def is_data(url: str) -> bool:
    """A data: (or blob:, about:, javascript:) URL carries its content inline: nothing is fetched."""
    return url.strip().lower().startswith(("data:", "blob:", "about:", "javascript:"))


def foreign(url: str, own_host: str) -> bool:
    """Whether loading `url` would contact a host other than the service's own."""
    if is_data(url) or url.startswith("#"):
        return False
    parts = urlsplit(url.strip())
    if parts.scheme and parts.scheme not in ("http", "https"):
        return True  # ftp:, ws: to elsewhere, ...: not a same-origin path either
    return bool(parts.netloc) and parts.netloc != own_host


def own_host(client) -> str:
    return urlsplit(str(client.base_url)).netloc


def fetch_asset(client, page: str, url: str):
    assert not foreign(url, own_host(client)), f"{page} loads {url} from another host"
    path = urljoin(page, url)
    assert path.startswith("/"), f"{page} refers to {url}, not a path on this service"
    return client.get(path)


def assert_page_assets_served(client, page: str, min_js_bytes: int) -> LoadedURLs:
    r = client.get(page)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = parse_html(r.text)
    assert html.scripts, f"{page} loads no script"
    for url in html.loaded:
        assert not foreign(url, own_host(client)), f"{page} loads {url} from another host"
        assert urlsplit(url).netloc == "" and url.startswith("/"), f"{page}: {url} is not a same-origin path"
    for url in html.scripts:
        asset = fetch_asset(client, page, url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(JS_TYPES), (url, asset.headers["content-type"])
        assert len(asset.content) > min_js_bytes, f"{url} is only {len(asset.content)} bytes"
        # The bundle is third-party code, so its hard-coded image URLs (ReDoc's Redocly logo on
        # cdn.redoc.ly) cannot be removed; the page's policy must stop the browser fetching them.
        csp = r.headers.get("content-security-policy", "")
        for m in BUNDLE_HARDCODED_SRC.finditer(asset.text):
            assert csp_blocks_image(csp, m.group(2)), f"{page}: {url} loads {m.group(2)} and CSP {csp!r} allows it"
    for url in html.stylesheets:
        asset = fetch_asset(client, page, url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(CSS_TYPES), (url, asset.headers["content-type"])
        assert len(asset.content) > 10_000, f"{url} is only {len(asset.content)} bytes"
    assert html.icons, f"{page} names no favicon (the browser would then ask for /favicon.ico)"
    for url in html.icons:
        asset = fetch_asset(client, page, url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith("image/"), (url, asset.headers["content-type"])
        assert len(asset.content) > 100
    return html


def test_swagger_ui_page_and_its_assets_come_from_the_service(client):
    html = assert_page_assets_served(client, "/docs", min_js_bytes=500_000)
    assert len(html.stylesheets) == 1
    script = "\n".join(html.inline_scripts)
    assert "SwaggerUIBundle(" in script
    assert "'/openapi.json'" in script
    # Without this Swagger UI shows a badge image loaded from validator.swagger.io.
    assert re.search(r'"validatorUrl"\s*:\s*null', script), "Swagger UI would load a badge from validator.swagger.io"
    assert "window.location.origin + '/docs/oauth2-redirect'" in script


def test_swagger_ui_serves_the_oauth2_redirect_page(client):
    r = client.get("/docs/oauth2-redirect")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "swaggerUIRedirectOauth2" in r.text
    assert not parse_html(r.text).loaded


def test_redoc_page_and_its_assets_come_from_the_service(client):
    html = assert_page_assets_served(client, "/redoc", min_js_bytes=500_000)
    r = client.get("/redoc")
    assert 'spec-url="/openapi.json"' in r.text
    assert "<redoc" in r.text
    assert not html.stylesheets  # fonts.googleapis.com is off; ReDoc's styles are in its bundle


def test_docs_pages_are_not_in_the_schema(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert not {p for p in paths if p.startswith(("/docs", "/redoc"))}


def test_docs_honour_a_proxy_root_path(client):
    behind_proxy = TestClient(client.app, root_path="/ecozone")
    docs = parse_html(behind_proxy.get("/docs").text)
    assert docs.loaded and all(u.startswith("/ecozone/docs-assets/") for u in docs.loaded)
    script = "\n".join(docs.inline_scripts)
    assert "'/ecozone/openapi.json'" in script
    assert "window.location.origin + '/ecozone/docs/oauth2-redirect'" in script
    redoc = behind_proxy.get("/redoc").text
    assert all(u.startswith("/ecozone/docs-assets/") for u in parse_html(redoc).loaded)
    assert 'spec-url="/ecozone/openapi.json"' in redoc


def get_paths_without_parameters(app) -> list[str]:
    # FastAPI 0.165 keeps included routers as lazy entries in app.routes; iter_route_contexts
    # flattens them into the routes a request can reach (older FastAPI lists them directly).
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        routes = list(app.routes)
    else:
        routes = list(iter_route_contexts(app.routes))
    paths = []
    for route in routes:
        if isinstance(getattr(route, "original_route", route), Mount):
            continue  # the static assets: reached by following the pages' links
        if not route.path or "GET" not in (route.methods or ()):
            continue
        if "{" in route.path:  # needs a path parameter: nothing to guess it from
            continue
        paths.append(route.path)
    return paths


def test_nothing_the_service_serves_loads_from_another_host(client):
    """Crawl every GET route without path parameters, and the assets their HTML loads.

    HTML pages: every src/href the browser loads, url()s in inline styles, and absolute URL
    literals in inline scripts (fetch, import, the spec URL...) must be on the service itself.
    CSS: every url() / @import must be a data: URL or a same-origin path.
    JSON: no CDN or font host may appear at all.
    Third-party JS bundles are fetched but not searched for URLs here: they hold many string
    URLs that are data, not loads (JSON-schema $ids, RFC and project links, examples). The two
    they do load are covered by the page tests: swagger-ui's validator.swagger.io badge (the
    /docs page must set validatorUrl to null) and ReDoc's hard-coded cdn.redoc.ly logo <img>
    (the page's Content-Security-Policy must block it).
    """
    host = own_host(client)
    paths = get_paths_without_parameters(client.app)
    for must in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz",
                 "/v1/rules", "/v1/project-types", "/v1/layers"):
        assert must in paths, f"{must} not among the app's GET routes"

    seen: set[str] = set()
    queue = list(paths)
    kinds: dict[str, int] = {"html": 0, "css": 0, "js": 0, "json": 0}
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        r = client.get(path)
        if path in ("/openapi.json", "/docs", "/redoc", "/healthz", "/v1/rules", "/v1/project-types", "/v1/layers"):
            assert r.status_code == 200, (path, r.status_code)
        ctype = r.headers.get("content-type", "")
        if ctype.startswith("text/html"):
            kinds["html"] += 1
            html = parse_html(r.text)
            loads = html.loaded + [u for s in html.inline_styles for u in css_urls(s)]
            loads += [m.group(2) for s in html.inline_scripts for m in SCRIPT_URL_LITERAL.finditer(s)]
            for url in loads:
                assert not foreign(url, host), f"{path} makes the browser load {url}"
                if not is_data(url):
                    queue.append(urljoin(path, url))
        elif ctype.startswith(CSS_TYPES):
            kinds["css"] += 1
            for url in css_urls(r.text):
                assert is_data(url) or not foreign(url, host), f"{path} makes the browser load {url}"
                if not is_data(url):
                    queue.append(urljoin(path, url))
        elif ctype.startswith(JS_TYPES):
            kinds["js"] += 1
            assert r.status_code == 200, path
        elif ctype.startswith("application/json"):
            kinds["json"] += 1
            hosts = {urlsplit(u).netloc for u in re.findall(r"(?:https?:)?//[\w.-]+", r.text)}
            assert not {h for h in hosts if CDN_HOST.search(h)}, f"{path} names a CDN host: {hosts}"
    # The crawl reached both pages, the redirect page, their CSS and JS bundles.
    assert kinds["html"] >= 3 and kinds["css"] >= 1 and kinds["js"] >= 2 and kinds["json"] >= 5, kinds


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_foreign_url_check_catches_fastapis_defaults(page):
    """The checks above would fail on FastAPI's stock pages (so they test something)."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    if page == "/docs":
        body = get_swagger_ui_html(openapi_url="/openapi.json", title="t").body.decode()
    else:
        body = get_redoc_html(openapi_url="/openapi.json", title="t").body.decode()
    html = parse_html(body)
    assert any(foreign(u, "testserver") for u in html.loaded)
    assert not foreign("/docs-assets/x.js", "testserver")
    assert not foreign("http://testserver/x.js", "testserver")
    assert foreign("//fonts.googleapis.com/css", "testserver")
    assert not foreign("data:image/svg+xml;charset=utf-8,<svg xmlns='http://www.w3.org/2000/svg'/>", "testserver")
    assert css_urls('a{background:url("data:x")} b{background:url(//cdn.example/x.png)}') == ["data:x", "//cdn.example/x.png"]
    logo = "https://cdn.redoc.ly/redoc/logo-mini.svg"
    assert [m.group(2) for m in BUNDLE_HARDCODED_SRC.finditer(f'createElement("img",{{alt:"x",src:"{logo}"}})')] == [logo]
    assert csp_blocks_image("img-src 'self' data:", logo)
    assert csp_blocks_image("default-src 'self'", logo)
    assert not csp_blocks_image("", logo)
    assert not csp_blocks_image("img-src 'self' https:", logo)
    assert not csp_blocks_image("img-src 'self' *.redoc.ly", logo)
    assert not csp_blocks_image("script-src 'self'; img-src https://cdn.redoc.ly", logo)


@pytest.mark.parametrize("page", [
    "/v1/maps/overview.html",
    "/v1/siting/map.html?lon=107.7543&lat=29.3250&project_type=heavy_chemical",
    "/v1/siting/map.html?lon=116.397&lat=39.909",  # not covered: a map with no finding
])
def test_folium_map_pages_load_only_from_the_service(client, page):
    """folium's Map would load Leaflet, jQuery, Bootstrap and Font Awesome from CDNs; the map
    pages load Leaflet from /vendor and nothing else, and their inline scripts and styles name
    no other host (the CSP says so too)."""
    html = assert_page_assets_served(client, page, min_js_bytes=100_000)
    assert html.scripts == ["/vendor/leaflet/leaflet.js"]
    assert html.stylesheets == ["/vendor/leaflet/leaflet.css"]
    host = own_host(client)
    inline = [u for s in html.inline_styles for u in css_urls(s)]
    inline += [m.group(2) for s in html.inline_scripts for m in SCRIPT_URL_LITERAL.finditer(s)]
    assert not [u for u in inline if foreign(u, host)], inline
    # Leaflet's own CSS pulls its control images from beside it, on the service.
    css = client.get(html.stylesheets[0]).text
    for url in css_urls(css):
        assert is_data(url) or client.get(urljoin(html.stylesheets[0], url)).status_code == 200, url
    r = client.get(page)
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert not re.search(r"https?://|//cdn|jsdelivr|cdnjs|jquery|bootstrap", r.text, re.I)


# --- the browser app (/) and the editors' page (/editor) --------------------------------------
APP_VENDOR_SCRIPTS = ["/vendor/leaflet/leaflet.js", "/vendor/geoman/leaflet-geoman.js",
                      "/vendor/vectorgrid/Leaflet.VectorGrid.bundled.min.js"]
OWN_SCRIPTS = ["/static/common.js", "/static/app.js", "/static/editor.js"]


def test_the_app_page_and_its_scripts_and_styles_come_from_the_service(client):
    # Our own scripts are small; the vendor bundles (Leaflet, Geoman, VectorGrid) are the big ones.
    html = assert_page_assets_served(client, "/", min_js_bytes=5_000)
    assert html.scripts == APP_VENDOR_SCRIPTS + ["/static/common.js", "/static/app.js"]
    assert html.stylesheets == ["/vendor/leaflet/leaflet.css", "/vendor/geoman/leaflet-geoman.css", "/static/app.css"]
    assert html.icons == ["/static/favicon.svg"]
    assert not html.inline_scripts
    for url in APP_VENDOR_SCRIPTS:
        assert len(client.get(url).content) > 40_000, url
    csp = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "script-src 'self'" in csp
    assert csp_blocks_image(csp, "https://tile.openstreetmap.org/1/1/1.png")  # no basemap by default


def test_the_editor_page_and_its_scripts_and_styles_come_from_the_service(client):
    html = assert_page_assets_served(client, "/editor", min_js_bytes=5_000)
    assert html.scripts == ["/static/common.js", "/static/editor.js"]
    assert html.stylesheets == ["/static/app.css"]
    assert not html.inline_scripts
    assert "default-src 'self'" in client.get("/editor").headers["content-security-policy"]


def test_the_apps_own_scripts_name_no_other_host(client):
    """Unlike the vendor bundles, our own JS can be searched: no absolute URL at all (the
    optional basemap's tile URL comes from /v1/app-config, and only when configured)."""
    for url in OWN_SCRIPTS:
        r = client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith(JS_TYPES), url
        assert not SCRIPT_URL_LITERAL.findall(r.text), url
    assert not css_urls(client.get("/static/app.css").text)


def test_app_pages_are_not_in_the_schema_but_app_config_is(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and "/editor" not in paths
    assert "/v1/app-config" in paths


def test_app_config_has_no_basemap_by_default_and_names_the_illustrative_layers(client):
    config = client.get("/v1/app-config").json()
    assert config["basemap"] is None
    assert config["missing_assets"] == []
    layers = client.get("/v1/layers").json()
    assert set(config["illustrative_layers"]) == {layer["id"] for layer in layers if layer["kind"] != "raster"}


def _app(demo_service, tmp_path, **settings):
    from ecozone.main import create_app
    from ecozone.settings import Settings

    return TestClient(create_app(Settings(data_dir=tmp_path / "unused", **settings), demo_service))


def test_app_config_gives_the_configured_basemap_and_the_page_allows_only_its_tiles(demo_service, tmp_path):
    osm = _app(demo_service, tmp_path, basemap="osm")
    config = osm.get("/v1/app-config").json()
    assert config["basemap"]["kind"] == "osm"
    assert config["basemap"]["url"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    csp = osm.get("/").headers["content-security-policy"]
    assert not csp_blocks_image(csp, "https://tile.openstreetmap.org/7/104/52.png")
    assert csp_blocks_image(csp, "https://cdn.example.com/x.png")

    tianditu = _app(demo_service, tmp_path, basemap="tianditu", tianditu_token="abc123")
    basemap = tianditu.get("/v1/app-config").json()["basemap"]
    assert basemap["kind"] == "tianditu"
    assert basemap["url"].startswith("https://t{s}.tianditu.gov.cn/vec_w/wmts?") and "LAYER=vec" in basemap["url"]
    assert "TILEMATRIXSET=w" in basemap["url"] and basemap["url"].endswith("&tk=abc123")
    assert basemap["overlay"]["url"].startswith("https://t{s}.tianditu.gov.cn/cva_w/wmts?")
    assert "{z}" in basemap["url"] and "{x}" in basemap["url"] and "{y}" in basemap["url"]
    csp = tianditu.get("/").headers["content-security-policy"]
    assert not csp_blocks_image(csp, "https://t3.tianditu.gov.cn/vec_w/wmts?tk=abc123")

    no_token = _app(demo_service, tmp_path, basemap="tianditu").get("/v1/app-config").json()
    assert no_token["basemap"] is None
    assert "ECOZONE_TIANDITU_TOKEN" in no_token["basemap_note"]["zh"]
    assert "ECOZONE_TIANDITU_TOKEN" in no_token["basemap_note"]["en"]


def test_without_the_vendor_packages_the_app_says_what_to_run(demo_service, tmp_path):
    from ecozone.maps.assets import MISSING

    (tmp_path / "empty").mkdir()
    bare = _app(demo_service, tmp_path, assets_dir=tmp_path / "empty")
    r = bare.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "npm ci" in r.text
    assert MISSING["zh"] in r.text and MISSING["en"].replace("`", "") in r.text.replace("`", "")
    html = parse_html(r.text)
    assert not html.scripts and html.icons == ["/static/favicon.svg"]  # no broken map
    assert not any(foreign(u, own_host(bare)) for u in html.loaded)
    vendor = bare.get("/vendor/leaflet/leaflet.js")
    assert vendor.status_code == 503 and vendor.json()["error"]["code"] == "assets_missing"
    config = bare.get("/v1/app-config").json()
    assert config["missing_assets"] == ["leaflet", "@geoman-io/leaflet-geoman-free", "leaflet.vectorgrid"]
    assert bare.get("/editor").status_code == 200  # the editors' page needs no map packages


def test_app_pages_honour_a_proxy_root_path(client):
    behind_proxy = TestClient(client.app, root_path="/ecozone")
    for page in ("/", "/editor"):
        r = behind_proxy.get(page)
        html = parse_html(r.text)
        assert html.loaded and all(u.startswith("/ecozone/") for u in html.loaded), html.loaded
        assert 'data-root="/ecozone"' in r.text
        assert 'href="/ecozone/"' in r.text  # the brand link back to the app


# --- the change-impact page (/impact) and the app's vector tiles --------------------------------
def test_the_impact_page_and_its_scripts_and_styles_come_from_the_service(client):
    html = assert_page_assets_served(client, "/impact", min_js_bytes=5_000)
    assert html.scripts == ["/static/common.js", "/static/impact.js"]
    assert html.stylesheets == ["/static/app.css"]
    assert html.icons == ["/static/favicon.svg"]
    assert not html.inline_scripts
    r = client.get("/impact")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert "connect-src 'self'" in r.headers["content-security-policy"]
    assert not SCRIPT_URL_LITERAL.findall(client.get("/static/impact.js").text)


def test_the_impact_page_is_not_in_the_schema_and_honours_a_proxy_root_path(client):
    assert "/impact" not in client.get("/openapi.json").json()["paths"]
    behind_proxy = TestClient(client.app, root_path="/ecozone")
    r = behind_proxy.get("/impact")
    html = parse_html(r.text)
    assert html.loaded and all(u.startswith("/ecozone/") for u in html.loaded), html.loaded
    assert 'data-root="/ecozone"' in r.text and 'href="/ecozone/editor"' in r.text


def test_the_app_draws_large_layers_from_vector_tiles_so_no_blob_worker_is_allowed(client):
    """VectorGrid's GeoJSON slicer (a blob: worker) is gone: large layers come as /v1/tiles MVT,
    fetched from the service (connect-src 'self')."""
    csp = client.get("/").headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["worker-src"] == ["'self'"]
    assert directives["connect-src"] == ["'self'"]
    app_js = client.get("/static/app.js").text
    assert "L.vectorGrid.protobuf(" in app_js and "/v1/tiles/" in app_js
    assert "vectorGrid.slicer" not in app_js
    for page in ("/", "/editor", "/impact"):
        assert 'href="/impact"' in client.get(page).text or page == "/impact", page
