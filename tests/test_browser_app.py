"""The browser app (/) and the editors' page (/editor) in a real headless Chromium, against the
real service (uvicorn on a free port, a fresh data directory: the demo layers load on first
start).

Every request a page makes is routed: anything for another host is aborted and counted, and
must never happen (the app works on an offline intranet). Console errors and uncaught page
errors fail the test too. Chromium is Debian's /usr/bin/chromium driven by Playwright from PyPI
(never `playwright install`). Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import shapely
import shapely.geometry
from pyproj import Geod, Transformer
from servers import free_port

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
ARTIFACTS = Path(__file__).parent / "artifacts"
GEOD = Geod(ellps="WGS84")
VIEWPORT = {"width": 1400, "height": 1000}


# --- the service ----------------------------------------------------------------------------
class LiveServer:
    def __init__(self, data_dir: Path):
        import uvicorn

        from ecozone.main import create_app
        from ecozone.settings import Settings

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.app = create_app(Settings(data_dir=data_dir))
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, name="ecozone-browser-test", daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 120  # the first start loads and compiles the demo layers
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the service did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)

    @property
    def service(self):
        return self.app.state.service

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("browser-data"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(live):
    with live.http() as client:
        yield client


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


# --- pages under watch -------------------------------------------------------------------------
class Watched:
    """A page whose every request is routed: other hosts are aborted and counted."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        self.page = self.context.new_page()
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.failed: list[str] = []
        self.requests: list[str] = []
        self.allowed_errors: list[re.Pattern] = []
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("response", self._response)

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base + "/") or url == self.base:
            self.requests.append(url)
            route.continue_()
        elif url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.foreign.append(url)
            route.abort()

    def _console(self, msg):
        if msg.type == "error" and not any(p.search(msg.text) for p in self.allowed_errors):
            self.errors.append(f"console: {msg.text} @ {msg.location}")

    def _response(self, response):
        if response.status >= 400 and not any(p.search(f"{response.status} {response.url}") for p in self.allowed_errors):
            self.failed.append(f"{response.status} {response.url}")

    def allow(self, pattern: str) -> None:
        self.allowed_errors.append(re.compile(pattern))

    def goto(self, path: str, ready: bool = True) -> None:
        self.page.goto(self.base + path)
        if not ready:
            return
        self.page.wait_for_selector("body[data-ready]", timeout=30_000)
        assert self.page.get_attribute("body", "data-ready") == "true"

    def check_clean(self) -> None:
        assert self.foreign == [], f"requests to other hosts: {self.foreign}"
        assert self.errors == [], self.errors
        assert self.failed == [], self.failed

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser, live):
    pages: list[Watched] = []

    def open_page(path: str = "/", ready: bool = True) -> Watched:
        w = Watched(browser, live.base)
        pages.append(w)
        w.goto(path, ready)
        return w

    yield open_page
    try:
        for w in pages:
            w.check_clean()
    finally:
        for w in pages:
            w.close()


# --- helpers ---------------------------------------------------------------------------------
def map_point(page, lon: float, lat: float) -> tuple[float, float]:
    """The page coordinates of a lon/lat on the app's Leaflet map."""
    return tuple(page.evaluate(
        """([lon, lat]) => {
            const p = window.ecozone.map.latLngToContainerPoint([lat, lon]);
            const r = document.getElementById('map').getBoundingClientRect();
            return [p.x + r.left, p.y + r.top];
        }""", [lon, lat]))


def lonlat_at(page, x: float, y: float) -> tuple[float, float]:
    ll = page.evaluate(
        """([x, y]) => {
            const r = document.getElementById('map').getBoundingClientRect();
            const ll = window.ecozone.map.containerPointToLatLng([x - r.left, y - r.top]);
            return [ll.lng, ll.lat];
        }""", [x, y])
    return ll[0], ll[1]


def view(page, lon: float, lat: float, zoom: int) -> None:
    # (braces: return nothing — serialising the Leaflet map back to Python takes seconds)
    page.evaluate("([lon, lat, z]) => { window.ecozone.map.setView([lat, lon], z, {animate: false}); }", [lon, lat, zoom])


IDLE = "() => !document.getElementById('result').classList.contains('busy')"


def choose_types(page, *codes: str) -> None:
    """Tick project types (with a site on the map, each tick re-checks it: wait for that)."""
    for code in codes:
        page.check(f"#type-{code}")
        page.wait_for_function(IDLE)


def run_check(page, action) -> dict:
    """Do `action` (a click, a drawing, a form submit), wait for the check it triggers and
    return the JSON the app posted."""
    with page.expect_response(lambda r: "/v1/siting/check" in r.url and r.request.method == "POST") as info:
        action()
    response = info.value
    assert response.status == 200, response.text()
    page.wait_for_selector("#verdict")
    page.wait_for_function(IDLE)
    return json.loads(response.request.post_data)


def panel_text(page) -> str:
    return page.inner_text("#result")


def posted_answer(api, body: dict) -> dict:
    r = api.post("/v1/siting/check", params={"include": "geometry"}, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def rule_citation(api, rule_id: str) -> dict:
    rules = {r["rule_id"]: r for r in api.get("/v1/rules").json()}
    return rules[rule_id]["citation"]


def feature_paths(page, layer_id: str) -> int:
    return page.locator(f".leaflet-ez-l-{layer_id}-pane path").count()


# --- tests -----------------------------------------------------------------------------------
def test_the_app_loads_everything_from_the_service_and_warns_about_illustrative_data(watched, api):
    w = watched("/")
    page = w.page
    banner = page.locator("#banner")
    assert banner.is_visible()
    assert "示意数据，非法定边界" in banner.inner_text()
    assert "Illustrative data, not legal boundaries" in banner.inner_text()
    config = api.get("/v1/app-config").json()
    assert config["basemap"] is None and config["missing_assets"] == []
    assert {"districts", "red_lines", "rivers"} <= set(config["illustrative_layers"])
    # Every vector layer is listed; districts, red lines and rivers are drawn at once.
    layers = [layer for layer in api.get("/v1/layers").json() if layer["kind"] != "raster"]
    rows = page.locator("#layer-list li[data-layer]")
    assert rows.count() == len(layers)
    for layer_id in ("districts", "red_lines", "rivers"):
        assert page.is_checked(f"#layer-{layer_id}")
        assert feature_paths(page, layer_id) > 0, layer_id
    assert not page.is_checked("#layer-noise_zones")
    assert feature_paths(page, "noise_zones") == 0
    # No basemap: no tile image requested at all.
    assert page.locator("img.leaflet-tile").count() == 0
    paths = {urlsplit(u).path for u in w.requests}
    assert {"/v1/app-config", "/v1/project-types", "/v1/layers", "/static/favicon.svg"} <= paths
    assert {f"/v1/layers/{i}/download" for i in ("districts", "red_lines", "rivers")} <= paths
    assert "/v1/layers/noise_zones/download" not in paths  # off: not fetched
    assert "/favicon.ico" not in paths
    # The zh/en toggle switches the UI text (and the layer labels).
    assert page.inner_text("#types-section h2") == "项目类型"
    page.click("#lang-toggle")
    assert page.inner_text("#types-section h2") == "Project type"
    assert "Ecological protection red line" in page.inner_text("#layer-list")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.click("#lang-toggle")
    assert page.inner_text("#types-section h2") == "项目类型"


def test_a_click_near_the_wu_river_is_prohibited_for_heavy_chemical_with_the_plan_citation(watched, api, wu_river_site):
    lon, lat, expected = wu_river_site(500)
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical")
    view(page, lon, lat, 16)
    body = run_check(page, lambda: page.mouse.click(*map_point(page, lon, lat)))
    assert body["project_type"] == "heavy_chemical" and body["crs"] == "EPSG:4326"
    sent_lon, sent_lat = body["geometry"]["coordinates"]
    assert abs(sent_lon - lon) < 5e-5 and abs(sent_lat - lat) < 5e-5  # within a few metres of the site

    text = panel_text(page)
    assert page.get_attribute("#verdict", "data-verdict") == "prohibited"
    assert "禁止" in page.inner_text("#verdict") and "prohibited" in page.inner_text("#verdict")
    citation = rule_citation(api, "wulong-wu-river-1km")
    assert citation["document"] == "重庆市武隆区生态环境保护“十四五”规划"
    card = page.locator('#findings article[data-rule="wulong-wu-river-1km"]')
    assert card.count() == 1
    card_text = card.inner_text()
    assert citation["document"] in card_text and citation["section"] in card_text
    assert citation["text"] in card_text  # in full, verbatim
    assert "武隆区 (500156)" in text

    answer = posted_answer(api, body)
    finding = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")
    shown = float(card.locator(".v-distance").get_attribute("data-m"))
    assert shown == finding["distance_m"]
    assert abs(shown - expected) / expected < 0.02  # the geodesic distance of the clicked point
    assert f"{finding['distance_m']:,.1f} m" in card_text
    assert "1,000 m" in card_text

    # On the map: the deciding buffer line (dashed), the river reach, the nearest line and its label.
    boundary = page.locator("path.ez-boundary-prohibited")
    assert boundary.count() == 1
    assert boundary.first.get_attribute("stroke-dasharray")
    assert page.locator("path.ez-zone-prohibited").count() == 1
    assert page.locator("path.ez-reference").count() >= 1
    assert page.locator("path.ez-nearest").count() == 1
    label = page.locator(".ez-distance-label").first.inner_text()
    assert label == f"{finding['distance_m']:,.1f} m"
    card.locator(".show-on-map").click()  # fits the map to the zone, the river and the site
    page.wait_for_timeout(400)
    assert page.evaluate("window.ecozone.map.getZoom()") < 16
    page.screenshot(path=ARTIFACTS / "app-verdict.png")

    # English: the verdict keeps both words; the rule's message turns English.
    page.click("#lang-toggle")
    assert "禁止" in page.inner_text("#verdict") and "prohibited" in page.inner_text("#verdict")
    assert finding["message"]["en"] in card.inner_text()
    page.click("#lang-toggle")
    assert finding["message"]["zh"] in card.inner_text()


def test_a_drawn_polygon_shows_its_area_and_overlaps_as_the_api_computes_them(watched, api, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical", "noisy_industry")
    view(page, lon, lat, 15)
    page.click('#modes [data-mode="polygon"]')
    cx, cy = map_point(page, lon, lat)
    corners = [(cx - 160, cy - 110), (cx + 170, cy - 120), (cx + 150, cy + 130), (cx - 140, cy + 120)]
    for x, y in corners:
        page.mouse.click(x, y)
        page.wait_for_timeout(60)
    body = run_check(page, lambda: page.mouse.click(*corners[0]))  # the first vertex closes the ring
    assert body["geometry"]["type"] == "Polygon"
    assert body["project_type"] == ["heavy_chemical", "noisy_industry"]

    # The site's area: independently, the geodesic area of the clicked vertices.
    vertices = [lonlat_at(page, x, y) for x, y in corners]
    area, _ = GEOD.polygon_area_perimeter([v[0] for v in vertices], [v[1] for v in vertices])
    shown_area = float(page.get_attribute("#site-area", "data-m2"))
    assert abs(shown_area / abs(area) - 1) < 0.005, (shown_area, area)
    assert f"{shown_area:,.1f} m²" in page.inner_text("#site-area")

    # Overlaps: as the API answers for the very polygon the app sent.
    answer = posted_answer(api, body)
    assert answer["verdict"] == page.get_attribute("#verdict", "data-verdict") == "prohibited"
    overlapping = [f for f in answer["findings"] if f["overlap_area_m2"] is not None]
    assert overlapping, answer["findings"]
    for i, f in enumerate(answer["findings"]):
        card = page.locator(f'#findings article[data-key="f:{i}"]')
        assert card.get_attribute("data-rule") == f["rule_id"]
        if f["overlap_area_m2"] is None:
            assert card.locator(".v-overlap").count() == 0
            continue
        assert float(card.locator(".v-overlap").get_attribute("data-m2")) == f["overlap_area_m2"]
        assert f"{f['overlap_area_m2']:,.1f} m²" in card.inner_text()
        assert float(card.locator(".v-ratio").get_attribute("data-ratio")) == f["overlap_ratio"]
        assert f"{f['overlap_ratio'] * 100:.1f}%" in card.inner_text()
    river = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")
    assert 0 < river["overlap_ratio"] <= 1
    # The polygon is drawn as the site.
    assert page.locator("path.ez-site").count() == 1
    page.screenshot(path=ARTIFACTS / "app-polygon.png")


def test_typed_cgcs2000_gauss_kruger_coordinates_give_the_same_verdict_as_the_click(watched, api, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True).transform(lon, lat)
    assert 300_000 < x < 700_000 and 3_000_000 < y < 3_500_000
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical")
    page.click('#modes [data-mode="coords"]')
    page.select_option("#crs", "EPSG:4545")
    page.fill("#coords", f"{x:.2f}, {y:.2f}")
    body = run_check(page, lambda: page.click("#coords-submit"))
    assert body == {"geometry": {"type": "Point", "coordinates": [round(x, 2), round(y, 2)]}, "crs": "EPSG:4545",
                    "project_type": "heavy_chemical"}
    assert page.get_attribute("#verdict", "data-verdict") == "prohibited"
    clicked = posted_answer(api, {"geometry": {"type": "Point", "coordinates": [lon, lat]}, "project_type": "heavy_chemical"})
    shown_rules = page.locator("#findings article").evaluate_all("cards => cards.map(c => c.dataset.rule)")
    assert shown_rules == [f["rule_id"] for f in clicked["findings"]]
    assert "EPSG:4545" in panel_text(page)
    # The site is drawn where the service put it: back at the lon/lat.
    site = page.evaluate("() => { const l = window.ecozone.siteLayer.getBounds().getCenter(); return [l.lng, l.lat]; }")
    assert abs(site[0] - lon) < 1e-6 and abs(site[1] - lat) < 1e-6
    # A typo is caught before anything is sent.
    page.fill("#coords", "107.7 abc")
    page.click("#coords-submit")
    assert "第 1 行" in page.inner_text("#coords-error")


def test_switching_a_layer_off_removes_its_features_from_the_map(watched):
    w = watched("/")
    page = w.page
    assert feature_paths(page, "red_lines") > 0
    page.uncheck("#layer-red_lines")
    assert feature_paths(page, "red_lines") == 0
    assert page.evaluate("window.ecozone.layerOnMap('red_lines')") is False
    page.check("#layer-red_lines")
    assert feature_paths(page, "red_lines") > 0
    # A layer off by default is fetched and drawn when switched on.
    assert feature_paths(page, "industrial_parks") == 0
    with page.expect_response(lambda r: "/v1/layers/industrial_parks/download" in r.url):
        page.check("#layer-industrial_parks")
    page.wait_for_function("() => window.ecozone.layerOnMap('industrial_parks')")
    assert feature_paths(page, "industrial_parks") == 16
    assert page.evaluate("window.ecozone.layerMode('industrial_parks')") == "geojson"


def test_a_site_in_beijing_is_shown_as_not_covered_never_as_permitted(watched):
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical")
    page.click('#modes [data-mode="coords"]')
    page.fill("#coords", "116.3975, 39.9087")
    run_check(page, lambda: page.click("#coords-submit"))
    assert page.get_attribute("#verdict", "data-verdict") == "not_covered"
    verdict = page.inner_text("#verdict")
    assert "不在已载入规划范围内" in verdict and "not covered — nothing was checked" in verdict
    assert "未见限制" not in verdict and "permitted" not in verdict
    assert "未检查任何规则" in page.inner_text("#coverage-note")
    page.screenshot(path=ARTIFACTS / "app-not-covered.png")


def test_links_to_the_folium_map_and_the_pdf_report_carry_the_checks_parameters(watched, api, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical", "noisy_industry")
    page.click('#modes [data-mode="coords"]')
    page.fill("#coords", f"{lon:.6f}, {lat:.6f}")
    body = run_check(page, lambda: page.click("#coords-submit"))
    answer = posted_answer(api, body)
    map_href = page.get_attribute("#link-map", "href")
    pdf_href = page.get_attribute("#link-pdf", "href")
    assert map_href == answer["map_url"]
    assert urlsplit(map_href).path == "/v1/siting/map.html"
    assert urlsplit(pdf_href).path == "/v1/siting/report.pdf"
    for href in (map_href, pdf_href):
        q = parse_qs(urlsplit(href).query)
        assert q["lon"] == [f"{lon:.6f}"] and q["lat"] == [f"{lat:.6f}"]
        assert q["project_type"] == ["heavy_chemical,noisy_industry"]
    # A polygon site: the geometry parameter.
    polygon = {"type": "Polygon", "coordinates": [[[lon - 0.003, lat - 0.002], [lon + 0.003, lat - 0.002],
                                                  [lon + 0.003, lat + 0.002], [lon - 0.003, lat - 0.002]]]}
    page.fill("#coords", json.dumps(polygon))
    body = run_check(page, lambda: page.click("#coords-submit"))
    pdf_q = parse_qs(urlsplit(page.get_attribute("#link-pdf", "href")).query)
    map_q = parse_qs(urlsplit(page.get_attribute("#link-map", "href")).query)
    assert pdf_q == map_q and "lon" not in pdf_q
    sent = shapely.normalize(shapely.from_geojson(pdf_q["geometry"][0]))
    assert sent.equals_exact(shapely.normalize(shapely.geometry.shape(polygon)), 1e-6)

    # Those routes belong to the map/report module: open them only once they answer.
    r = api.get(map_href)
    if r.status_code == 200:
        assert r.headers["content-type"].startswith("text/html")
        folium = watched(map_href, ready=False)  # loads nothing from another host either
        folium.page.wait_for_load_state("load")
    r = api.get(pdf_href)
    if r.status_code == 200:
        assert r.headers["content-type"].startswith("application/pdf")
        assert r.content.startswith(b"%PDF")


# --- layers written by GDAL (pyogrio), published through the API and the editors' page ----------
def _squares(centres, size_deg: float, **attrs):
    import geopandas as gpd

    h = size_deg / 2
    geoms = [shapely.box(x - h, y - h, x + h, y + h) for x, y in centres]
    return gpd.GeoDataFrame({**{k: [v] * len(geoms) for k, v in attrs.items()}}, geometry=geoms, crs="EPSG:4326")


def _write_geojson(frame, path: Path) -> Path:
    frame.to_file(path, driver="GeoJSON", engine="pyogrio")
    return path


# Landslide-prone zones bind no demo rule (those name danger-grade or other hazards), so these
# uploads change no verdict of the other tests; they lie far from the Wu River sites anyway.
NO_RULE_HAZARD = {"hazard": "landslide", "grade": "prone"}


@pytest.fixture(scope="module")
def editor_token(live):
    return live.service.store.create_token("browser-editor", "editor")


def test_a_layer_of_more_than_3000_features_is_drawn_from_vector_tiles_never_downloaded_whole(
        watched, api, editor_token, tmp_path):
    import numpy as np

    xs, ys = np.meshgrid(np.linspace(108.60, 108.80, 64), np.linspace(30.60, 30.75, 50))
    frame = _squares(list(zip(xs.ravel(), ys.ravel())), 0.001, name="bulk", **NO_RULE_HAZARD)
    assert len(frame) == 3200
    path = _write_geojson(frame, tmp_path / "bulk.geojson")
    auth = {"Authorization": f"Bearer {editor_token}"}
    with open(path, "rb") as f:
        r = api.post("/v1/layers", headers=auth, files={"file": ("bulk.geojson", f, "application/geo+json")},
                     data={"id": "bulk_hazards", "kind": "geohazard_zone", "name": "批量测试（滑坡易发）"})
    assert r.status_code == 201, r.text
    try:
        w = watched("/")
        page = w.page
        assert not page.is_checked("#layer-bulk_hazards")
        assert "矢量切片" in page.inner_text('#layer-list li[data-layer="bulk_hazards"]')
        view(page, 108.70, 30.675, 12)
        with page.expect_response(lambda r: "/v1/tiles/bulk_hazards/" in r.url and r.status == 200):
            page.check("#layer-bulk_hazards")
        page.wait_for_function("() => window.ecozone.layerOnMap('bulk_hazards')")
        assert page.evaluate("window.ecozone.layerMode('bulk_hazards')") == "mvt"
        assert page.evaluate("window.ecozone.layerMode('red_lines')") == "geojson"
        # Every square lies in the view: all 3,200 are drawn (those on a tile edge in both tiles).
        tiles = ".leaflet-ez-l-bulk_hazards-pane .leaflet-tile path"
        page.wait_for_function(f"() => document.querySelectorAll({tiles!r}).length >= 3200", timeout=20_000)
        tile_paths = [urlsplit(u).path for u in w.requests if "/v1/tiles/bulk_hazards/" in u]
        assert tile_paths and all(re.fullmatch(r"/v1/tiles/bulk_hazards/12/\d+/\d+\.mvt", p) for p in tile_paths), tile_paths
        # Exactly the tiles over the layer's bbox are asked for (the view holds all of it).
        import morecantile

        def cover(pad):
            w_, s_, e_, n_ = frame.total_bounds
            dx, dy = (e_ - w_) * pad, (n_ - s_) * pad
            return {f"/v1/tiles/bulk_hazards/{t.z}/{t.x}/{t.y}.mvt"
                    for t in morecantile.tms.get("WebMercatorQuad").tiles(w_ - dx, s_ - dy, e_ + dx, n_ + dy, [12])}
        assert cover(0.0) <= set(tile_paths) <= cover(0.02), sorted(tile_paths)
        paths = {urlsplit(u).path for u in w.requests}
        assert "/v1/layers/bulk_hazards/download" not in paths  # never downloaded whole
        page.wait_for_timeout(400)  # the last tiles' fade-in
        page.screenshot(path=ARTIFACTS / "app-mvt.png")
        page.uncheck("#layer-bulk_hazards")
        assert page.locator(tiles).count() == 0
    finally:
        assert api.delete("/v1/layers/bulk_hazards", headers=auth).status_code == 204


def test_the_editor_uploads_shows_the_validation_report_and_rolls_back(watched, api, editor_token, tmp_path):
    bowtie = shapely.Polygon([(109.00, 30.90), (109.01, 30.91), (109.01, 30.90), (109.00, 30.91), (109.00, 30.90)])
    assert not bowtie.is_valid
    v1 = _squares([(109.03, 30.90)], 0.01, name="测试滑坡区", **NO_RULE_HAZARD)
    v1.loc[1] = {"name": "自相交地块", **NO_RULE_HAZARD, "geometry": bowtie}
    first = _write_geojson(v1, tmp_path / "hazards-v1.geojson")
    second = _write_geojson(_squares([(109.05, 30.92)], 0.01, name="修订后", **NO_RULE_HAZARD),
                            tmp_path / "hazards-v2.geojson")

    w = watched("/editor")
    page = w.page
    assert page.locator("#f-kind option").count() == len(api.get("/v1/layer-kinds").json())
    # Without a token: the error, in both languages, with its code.
    w.allow(r"401")
    page.set_input_files("#f-file", str(first))
    page.fill("#f-id", "browser_hazards")
    page.select_option("#f-kind", "geohazard_zone")
    page.fill("#f-name", "浏览器测试图层")
    page.fill("#f-comment", "first upload")
    page.click("#upload-submit")
    error = page.locator("#upload-result .error-box")
    error.wait_for()
    assert error.get_attribute("data-code") == "unauthorized"
    assert "需要令牌" in error.inner_text() and "A token is required" in error.inner_text()
    assert "Authorization" in error.inner_text()  # detail.where

    # With the editor token (kept in sessionStorage only).
    page.fill("#token", editor_token)
    page.click("#token-form button[type=submit]")
    assert page.evaluate("sessionStorage.getItem('ecozone.token')") == editor_token
    assert page.evaluate("localStorage.getItem('ecozone.token')") is None
    assert "创建" in page.inner_text("#upload-mode") or "新建" in page.inner_text("#upload-mode")
    page.click("#upload-submit")
    report = page.locator("#validation-report")
    report.wait_for()
    assert report.get_attribute("data-repaired") == "1"
    assert "已发布 browser_hazards v1" in report.inner_text()
    assert page.locator('#validation-report li[data-code="geometry_repaired"]').count() == 1
    page.locator('#versions-table tr[data-version="1"]').wait_for()

    # A new version of the same id goes to PUT.
    page.set_input_files("#f-file", str(second))
    page.fill("#f-id", "browser_hazards")
    page.dispatch_event("#f-id", "input")
    assert "新版本" in page.inner_text("#upload-mode")
    assert page.is_disabled("#f-kind")
    with page.expect_request(lambda r: r.url.endswith("/v1/layers/browser_hazards") and r.method == "PUT"):
        page.click("#upload-submit")
    page.locator('#validation-report h3:has-text("v2")').wait_for()
    page.locator('#versions-table tr.current[data-version="2"]').wait_for()

    # Roll back to v1: a confirming second click, then v3 holds v1's content.
    button = page.locator('#versions-table tr[data-version="1"] button.rollback')
    button.click()
    assert "v1" in button.inner_text()
    button.click()
    page.locator("#rollback-result").wait_for()
    current = page.locator("#versions-table tr.current")
    assert current.get_attribute("data-version") == "3"
    assert "回滚自 v1" in current.inner_text()
    versions = {v["version"]: v for v in api.get("/v1/layers/browser_hazards/versions").json()}
    assert versions[3]["current"] and versions[3]["restored_from"] == 1
    assert versions[3]["created_by"] == "browser-editor"
    assert page.locator('#layers-table tr[data-layer="browser_hazards"] .layer-version').inner_text() == "v3"
    page.screenshot(path=ARTIFACTS / "editor.png", full_page=True)
    page.click("#lang-toggle")
    assert "Versions of browser_hazards" in page.inner_text("#versions")
    assert "restored from v1" in page.inner_text("#versions-table")


def _type_site(page, geometry, crs: str = "EPSG:4326") -> dict:
    page.click('#modes [data-mode="coords"]')
    page.select_option("#crs", crs)
    page.fill("#coords", json.dumps(geometry))
    return run_check(page, lambda: page.click("#coords-submit"))


def test_conditional_findings_exceptions_and_partial_coverage_are_shown(watched, api, wu_river_site, demo_layer):
    lon, lat, _ = wu_river_site(500)
    w = watched("/")
    page = w.page
    # "industrial" in general: the 1 km rule binds only some of its sub-types → listed apart.
    choose_types(page, "industrial")
    body = _type_site(page, {"type": "Point", "coordinates": [lon, lat]})
    answer = posted_answer(api, body)
    assert [f["rule_id"] for f in answer["conditional_findings"]] == ["wulong-wu-river-1km"]
    assert page.get_attribute("#verdict", "data-verdict") == answer["verdict"] != "prohibited"
    conditional = page.locator('#conditional-findings article[data-rule="wulong-wu-river-1km"]')
    assert conditional.count() == 1
    assert page.locator('#findings article[data-rule="wulong-wu-river-1km"]').count() == 0
    assert page.locator("path.ez-conditional").count() >= 1

    # Inside Wulong's red line, any construction: prohibited, with the plan's exception.
    page.uncheck("#type-industrial")
    page.wait_for_function(IDLE)
    choose_types(page, "construction")
    reds = demo_layer("red_lines")
    inside = reds[reds["district_code"] == "500156"].geometry.iloc[0].representative_point()
    body = _type_site(page, {"type": "Point", "coordinates": [inside.x, inside.y]})
    answer = posted_answer(api, body)
    finding = next(f for f in answer["findings"] if f["rule_id"] == "wulong-red-line")
    card = page.locator('#findings article[data-rule="wulong-red-line"]')
    assert finding["exception"] and finding["exception"]["zh"] in card.locator(".exception").inner_text()
    if finding["exception"].get("text"):
        assert finding["exception"]["text"] in card.locator(".exception").inner_text()
    assert page.get_attribute("#verdict", "data-verdict") == "prohibited"

    # A parcel across Wulong's border with a district whose plan is not loaded: the share is said.
    districts = demo_layer("districts")
    loaded = shapely.union_all(districts.geometry.to_numpy())
    wulong = districts[districts["code"] == "500156"].geometry.iloc[0]
    border = shapely.get_exterior_ring(shapely.get_geometry(wulong, 0))
    for f in [i / 40 for i in range(40)]:
        p = border.interpolate(f, normalized=True)
        square = shapely.box(p.x - 0.004, p.y - 0.004, p.x + 0.004, p.y + 0.004)
        if 0.3 < square.intersection(loaded).area / square.area < 0.7:
            break
    else:
        raise AssertionError("no parcel across the border")
    body = _type_site(page, shapely.geometry.mapping(square))
    answer = posted_answer(api, body)
    ratio = answer["coverage"]["covered_ratio"]
    assert 0 < ratio < 1
    note = page.inner_text("#coverage-note")
    assert f"{ratio * 100:.1f}%" in note and answer["coverage"]["note"]["zh"] in note


# --- routes, where may it go, saved checks and their change impact ------------------------------
WU_ROUTE = [(107.70, 29.25), (107.745, 29.33), (107.80, 29.42)]  # ~21 km, across the 乌江 in 武隆


def _along(coords, metres: float) -> tuple[float, float]:
    """The point `metres` along a lon/lat polyline, measured geodesically (pyproj)."""
    for (x0, y0), (x1, y1) in zip(coords, coords[1:]):
        _, _, length = GEOD.inv(x0, y0, x1, y1)
        if metres <= length:
            k = metres / length
            return x0 + (x1 - x0) * k, y0 + (y1 - y0) * k
        metres -= length
    return coords[-1]


def test_a_drawn_route_across_the_wu_river_lists_its_chainage_and_bands_the_intervals_on_the_map(watched, api):
    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical")
    view(page, 107.75, 29.335, 12)
    page.click('#modes [data-mode="line"]')
    clicks = [map_point(page, lon, lat) for lon, lat in WU_ROUTE]
    for x, y in clicks:
        page.mouse.click(x, y)
        page.wait_for_timeout(60)
    body = run_check(page, lambda: page.mouse.click(*clicks[-1]))  # the last vertex again ends the line
    sent = body["geometry"]["coordinates"]
    assert body["geometry"]["type"] == "LineString" and len(sent) == 3
    assert all(abs(a - b) < 5e-4 for v, r in zip(sent, WU_ROUTE) for a, b in zip(v, r))  # within a pixel

    # The same route, asked independently.
    answer = posted_answer(api, body)
    assert answer["verdict"] == page.get_attribute("#verdict", "data-verdict") == "prohibited"
    river = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")
    assert river["segments"], "the route crosses the 乌江"
    rows = page.locator('#chainage-table tbody tr[data-rule="wulong-wu-river-1km"]')
    shown = rows.evaluate_all("rows => rows.map(r => [r.cells[2].innerText, r.cells[3].innerText, +r.dataset.lengthM, r.cells[4].innerText])")
    assert shown == [[s["from_k"], s["to_k"], s["length_m"], f"{s['length_m']:,.1f}"] for s in river["segments"]]
    assert rows.first.get_attribute("data-effect") == "prohibited"
    every = [(f["rule_id"], s["from_k"], s["to_k"]) for f in answer["findings"] for s in f.get("segments") or []]
    listed = page.locator("#chainage-table tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.rule, r.cells[2].innerText, r.cells[3].innerText])")
    assert sorted(map(tuple, listed)) == sorted(every)
    assert float(page.get_attribute("#route-length", "data-m")) == answer["chainage_length_m"]
    assert f"{answer['chainage_length_m']:,.1f} m" in page.inner_text("#route-length")
    _, _, geodesic = zip(*[GEOD.inv(*a, *b) for a, b in zip(sent, sent[1:])])
    assert abs(answer["chainage_length_m"] / sum(geodesic) - 1) < 0.005

    # The bands on the route: one per interval, coloured by effect, at the right chainage.
    assert page.locator("path.ez-chainage").count() == len(every)
    assert page.locator("path.ez-rule-wulong-wu-river-1km").count() == len(river["segments"])
    assert page.locator("path.ez-rule-wulong-wu-river-1km.ez-chainage-prohibited").count() == len(river["segments"])
    overlays = [o for o in page.evaluate("window.ecozone.chainageOverlays()") if o["rule_id"] == "wulong-wu-river-1km"]
    for o, seg in zip(overlays, river["segments"]):
        start, end = o["latlngs"][0][0], o["latlngs"][-1][-1]
        for drawn, metres in ((start, seg["from_m"]), (end, seg["to_m"])):
            expected = _along(sent, metres)
            _, _, off = GEOD.inv(*drawn, *expected)
            assert off < 15, (metres, drawn, expected, off)
    page.evaluate("() => { window.ecozone.map.fitBounds(window.ecozone.siteLayer.getBounds(), "
                  "{animate: false, paddingTopLeft: [40, 40], paddingBottomRight: [320, 40]}); }")
    page.locator("#chainage").scroll_into_view_if_needed()
    page.mouse.move(5, 5)  # no feature tooltip in the picture
    page.screenshot(path=ARTIFACTS / "app-route.png")


def test_where_may_chemical_projects_go_in_fuling_shades_the_partition_and_sums_it(watched, api):
    w = watched("/")
    page = w.page
    page.click("#tab-suit")
    assert page.is_hidden("#result-section") and page.is_visible("#suit-section")
    page.wait_for_function("() => document.querySelectorAll('#suit-jurisdiction option').length > 0")
    options = page.locator("#suit-jurisdiction option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
    assert ["500102", "涪陵区 (500102)"] in options and ["500156", "武隆区 (500156)"] in options
    choose_types(page, "chemical")
    page.select_option("#suit-jurisdiction", "500102")
    with page.expect_response(lambda r: "/v1/siting/suitability" in r.url and r.request.method == "POST") as info:
        page.click("#suit-run")
    assert info.value.status == 200
    assert json.loads(info.value.request.post_data) == {"area": "500102", "project_type": "chemical"}
    page.wait_for_selector("#suit-summary")
    page.wait_for_function("() => !document.getElementById('suit-result').classList.contains('busy')")

    answer = api.post("/v1/siting/suitability", json={"area": "500102", "project_type": "chemical"}).json()
    features = answer["features"]
    assert page.locator("path.ez-suit").count() == len(features)
    for verdict in ("prohibited", "restricted", "notice", "permitted", "not_covered"):
        n = sum(f["properties"]["verdict"] == verdict for f in features)
        assert page.locator(f"path.ez-suit-{verdict}").count() == n, verdict
        cell = page.locator(f'#suit-summary tr[data-verdict="{verdict}"] td.km2')
        assert float(cell.get_attribute("data-m2")) == answer["summary"][verdict]
        assert cell.inner_text() == f"{answer['summary'][verdict] / 1e6:,.2f}"
    assert answer["summary"]["permitted"] > 0
    assert page.inner_text('#suit-summary tr[data-verdict="permitted"] td.km2') == f"{answer['summary']['permitted'] / 1e6:,.2f}"
    legend = page.locator("#suit-legend")
    assert legend.is_visible() and f"{answer['summary']['permitted'] / 1e6:,.2f} km²" in legend.inner_text()
    assert page.locator("path.ez-suit-not_covered").count() == 0 or \
        page.locator("path.ez-suit-not_covered").first.get_attribute("fill") == "url(#ez-hatch)"

    # The raster of the same question.
    href = page.get_attribute("#link-tif", "href")
    assert urlsplit(href).path == "/v1/constraints.tif"
    assert parse_qs(urlsplit(href).query) == {"jurisdiction": ["500102"], "project_type": ["chemical"], "resolution": ["30"]}
    page.select_option("#suit-resolution", "100")
    href = page.get_attribute("#link-tif", "href")
    assert parse_qs(urlsplit(href).query)["resolution"] == ["100"]
    tif = api.get(href)
    assert tif.status_code == 200 and tif.headers["content-type"].startswith("image/tiff")
    assert tif.content[:4] in (b"II*\x00", b"MM\x00*")

    # Clicking a shaded polygon names the rules that bind there.
    for i in sorted(range(len(features)), key=lambda i: -features[i]["properties"]["area_m2"]):
        inside = shapely.geometry.shape(features[i]["geometry"]).representative_point()
        x, y = map_point(page, inside.x, inside.y)
        if page.evaluate("([x, y]) => { const e = document.elementFromPoint(x, y); "
                         "return !!e && e.classList.contains('ez-suit'); }", [x, y]):
            break
    else:
        raise AssertionError("no shaded polygon clickable")
    props = features[i]["properties"]
    page.mouse.click(x, y)
    selected = page.locator("#suit-selected")
    selected.wait_for()
    assert selected.get_attribute("data-verdict") == props["verdict"]
    assert selected.locator("li[data-rule]").evaluate_all("ls => ls.map(l => l.dataset.rule)") == props["rule_ids"]
    popup = page.locator(".ez-suit-pop").inner_text()
    assert all(rule in popup for rule in props["rule_ids"])
    page.locator("#suit-summary").scroll_into_view_if_needed()
    page.wait_for_timeout(300)  # the popup's fade-in
    page.screenshot(path=ARTIFACTS / "app-suitability.png")

    # Back to the check tab: the partition leaves the map, the check's panel returns.
    page.click("#tab-check")
    assert page.locator("path.ez-suit").count() == 0 and page.is_visible("#result-section")


def test_checks_saved_into_a_project_and_the_impact_of_a_moved_red_line(watched, api, live, editor_token, demo_layer,
                                                                       wu_river_site, tmp_path):
    import pyogrio

    viewer = live.service.store.create_token("browser-viewer", "viewer")
    red = demo_layer("red_lines")
    wulong = red.index[red["feature_id"] == "wulong-red-line"][0]
    parts = sorted(shapely.get_parts(red.geometry[wulong]), key=lambda g: -g.area)
    site_a = parts[0].representative_point()
    lon_b, lat_b, _ = wu_river_site(500)

    w = watched("/")
    page = w.page
    choose_types(page, "heavy_chemical")
    _type_site(page, {"type": "Point", "coordinates": [round(site_a.x, 6), round(site_a.y, 6)]})
    assert page.locator('#findings article[data-rule="wulong-red-line"]').count() == 1
    with page.expect_response(lambda r: r.url.endswith("/v1/projects") and r.request.method == "GET"):
        page.click("#save-box > summary")
    page.fill("#save-token", viewer)
    page.fill("#save-new", "浏览器测试：武隆备选址")
    with page.expect_response(lambda r: r.url.endswith("/v1/projects") and r.request.method == "POST") as created:
        page.click("#save-create")
    assert created.value.status == 201
    pid = created.value.json()["id"]
    page.wait_for_function(f"() => document.getElementById('save-project').value === {pid!r}")
    page.fill("#save-label", "备选址 A")
    with page.expect_response(lambda r: r.url.endswith(f"/v1/projects/{pid}/checks")) as saved:
        page.click("#save-submit")
    assert saved.value.status == 201
    assert json.loads(saved.value.request.post_data) == {
        "geometry": {"type": "Point", "coordinates": [round(site_a.x, 6), round(site_a.y, 6)]}, "crs": "EPSG:4326",
        "project_type": "heavy_chemical", "label": "备选址 A"}
    page.wait_for_selector("#save-ok")
    assert page.evaluate("sessionStorage.getItem('ecozone.token')") == viewer
    # A second site: the box stays open with its token and project.
    _type_site(page, {"type": "Point", "coordinates": [round(lon_b, 6), round(lat_b, 6)]})
    assert page.input_value("#save-project") == pid and page.input_value("#save-token") == viewer
    page.fill("#save-label", "备选址 B")
    with page.expect_response(lambda r: r.url.endswith(f"/v1/projects/{pid}/checks")) as saved:
        page.click("#save-submit")
    assert saved.value.status == 201
    page.wait_for_selector("#save-ok")
    page.locator("#save-box").scroll_into_view_if_needed()
    page.screenshot(path=ARTIFACTS / "app-save.png")
    project = api.get(f"/v1/projects/{pid}").json()
    assert [c["request"]["label"] for c in project["checks"]] == ["备选址 A", "备选址 B"]
    assert project["checks"][0]["summary"]["verdict"] == "prohibited"
    assert "wulong-red-line" in project["checks"][0]["summary"]["rule_ids"]

    # An editor republishes the red lines with Wulong's largest part moved west, off site A.
    moved = red.copy()
    width = parts[0].bounds[2] - parts[0].bounds[0]
    moved.loc[wulong, "geometry"] = shapely.union_all(
        [shapely.affinity.translate(parts[0], -(width + 0.01), 0.0)] + parts[1:])
    path = tmp_path / "red_lines.gpkg"
    pyogrio.write_dataframe(moved, path, driver="GPKG")
    auth = {"Authorization": f"Bearer {editor_token}"}
    version = api.get("/v1/layers/red_lines").json()["version"]
    r = api.put("/v1/layers/red_lines", headers=auth,
                files={"file": (path.name, path.read_bytes(), "application/geopackage+sqlite3")})
    assert r.status_code == 200, r.text
    try:
        impact = api.get("/v1/impact").json()
        check_a = project["checks"][0]["id"]
        assert check_a in {i["check_id"] for i in impact}
        entry_a = next(i for i in impact if i["check_id"] == check_a)
        assert "wulong-red-line" in entry_a["rules_removed"]
        assert {"id": "red_lines", "version_before": version, "version_after": version + 1} in entry_a["layers"]

        v = watched("/impact")
        impact_page = v.page
        rows = impact_page.locator("#impact-table tbody tr")
        newest_first = sorted(impact, key=lambda i: (i["at"], i["id"]), reverse=True)
        assert rows.count() == len(newest_first)
        shown = rows.evaluate_all("""rows => rows.map(r => ({
            id: +r.dataset.entry, check_id: r.dataset.check, project_id: r.dataset.project,
            at: r.querySelector('.c-time time').getAttribute('datetime'),
            before: r.dataset.before, after: r.dataset.after,
            added: [...r.querySelectorAll('.c-added li')].map(l => l.dataset.rule),
            removed: [...r.querySelectorAll('.c-removed li')].map(l => l.dataset.rule),
            layers: [...r.querySelectorAll('.c-layers li')].map(l => l.textContent),
            label: r.querySelector('.c-check').innerText,
            cause: r.querySelector('.c-cause').innerText}))""")
        assert shown == [{
            "id": i["id"], "check_id": i["check_id"], "project_id": i["project_id"], "at": i["at"],
            "before": i["before"]["verdict"], "after": i["after"]["verdict"],
            "added": i["rules_added"], "removed": i["rules_removed"],
            "layers": [f"{x['id']} v{x['version_before']} → v{x['version_after']}" for x in i["layers"]],
            "label": f"{i['label']}\n{i['check_id']}", "cause": i["cause"]} for i in newest_first]
        # The project's saved checks, with their answers on the current data.
        now = api.get(f"/v1/projects/{pid}").json()
        block = impact_page.locator(f"#project-{pid}")
        assert block.locator("h3 .project-name").inner_text() == "浏览器测试：武隆备选址"
        checks = block.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => [r.dataset.check, r.dataset.verdict, r.classList.contains('changed'), "
            "[...r.querySelectorAll('.c-rules li')].map(l => l.dataset.rule)])")
        changed = {i["check_id"] for i in impact}
        assert checks == [[c["id"], c["summary"]["verdict"], c["id"] in changed, c["summary"]["rule_ids"]]
                          for c in now["checks"]]
        assert "wulong-red-line" not in now["checks"][0]["summary"]["rule_ids"]
        impact_page.screenshot(path=ARTIFACTS / "impact.png", full_page=True)
        impact_page.click("#lang-toggle")
        assert "Rules removed" in impact_page.inner_text("#impact-table thead")
    finally:  # the other tests expect the demo red lines: publish v1's content again
        r = api.post("/v1/layers/red_lines/rollback", json={"version": version}, headers=auth)
        assert r.status_code == 200, r.text
