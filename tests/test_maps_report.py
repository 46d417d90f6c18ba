"""The folium maps (/v1/siting/map.html, /v1/maps/overview.html) and the PDF siting report
(/v1/siting/report.pdf): what they show is what the API answers, the rule texts come from
/v1/rules, the pages load nothing from another host, and the PDF carries the verdict, the
verbatim citation, an embedded CJK font and the map image (read back with poppler)."""

from __future__ import annotations

import html as htmllib
import io
import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from test_offline_pages import css_urls, fetch_asset, foreign, own_host, parse_html, SCRIPT_URL_LITERAL

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
ILLUSTRATIVE = "示意数据，非法定边界"
RULE = "wulong-wu-river-1km"
BEIJING = (116.397, 39.909)
POPPLER = ("pdftotext", "pdffonts", "pdfimages", "pdftoppm")


def rule_from_api(client, rule_id: str) -> dict:
    rules = client.get("/v1/rules").json()
    return next(r for r in rules if r["rule_id"] == rule_id)


def squash(text: str) -> str:
    """Text without any whitespace (pdftotext wraps lines and spaces CJK runs its own way)."""
    return re.sub(r"\s+", "", text)


def readable(page: str) -> str:
    """The page as a reader sees it: HTML entities and JSON \\uXXXX escapes decoded."""
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), page)
    return htmllib.unescape(text)


def check_api(client, **body) -> dict:
    r = client.post("/v1/siting/check", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def assert_error_shape(r, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    err = body["error"]
    assert {"code", "message", "detail"} <= set(err)
    assert err["message"]["zh"] and err["message"]["en"]
    if code is not None:
        assert err["code"] == code, err
    return err


def assert_offline_page(client, r) -> None:
    """Nothing in the page makes the browser load from another host: src/href, inline CSS
    url()s, absolute URL literals in inline scripts; and the CSP says 'self' only."""
    host = own_host(client)
    page = parse_html(r.text)
    loads = page.loaded + [u for s in page.inline_styles for u in css_urls(s)]
    loads += [m.group(2) for s in page.inline_scripts for m in SCRIPT_URL_LITERAL.finditer(s)]
    for url in loads:
        assert not foreign(url, host), f"the page loads {url}"
    assert page.scripts == ["/vendor/leaflet/leaflet.js"], page.scripts
    assert page.stylesheets == ["/vendor/leaflet/leaflet.css"], page.stylesheets
    for url in page.scripts + page.stylesheets + page.icons:
        assert fetch_asset(client, "/v1/maps/", url).status_code == 200, url
    # No absolute http(s) or protocol-relative URL anywhere in the page text, scripts included.
    for m in re.finditer(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", r.text):
        raise AssertionError(f"absolute URL in the page: {m.group(0)}")
    for cdn in ("jsdelivr", "cdnjs", "jquery", "bootstrap", "fontawesome", "unpkg"):
        assert cdn not in r.text.lower(), cdn
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp


# --- the siting map -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def wu_site(wu_river_site):
    lon, lat, expected = wu_river_site(500)
    return lon, lat, expected


def test_siting_map_shows_the_rule_the_verdict_and_the_citation(client, wu_site):
    lon, lat, _ = wu_site
    api = check_api(client, geometry={"type": "Point", "coordinates": [lon, lat]}, project_type="heavy_chemical")
    assert api["verdict"] == "prohibited"
    finding = next(f for f in api["findings"] if f["rule_id"] == RULE)
    rule = rule_from_api(client, RULE)  # an independent source of the plan's words

    r = client.get("/v1/siting/map.html", params={"lon": lon, "lat": lat, "project_type": "heavy_chemical"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    page = readable(r.text)
    assert RULE in page
    assert "结论：禁止" in page and "Verdict: Prohibited" in page
    assert rule["citation"]["text"] in page
    assert rule["citation"]["section"] in page and rule["citation"]["document"] in page
    assert f"{finding['distance_m']:,.1f} m" in page  # the distance the API answers, on the nearest line
    assert ILLUSTRATIVE in page
    assert "L.control.layers(" in r.text
    assert "dashArray" in r.text and "8 6" in r.text  # the deciding buffer line, dashed
    assert "fitBounds(" in r.text
    assert "/v1/siting/report.pdf?" in page
    assert_offline_page(client, r)


def test_siting_map_takes_a_polygon_and_chinese_type_names(client, wu_site):
    lon, lat, _ = wu_site
    d = 0.0008
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    geometry = {"type": "Polygon", "coordinates": [ring]}
    api = check_api(client, geometry=geometry, project_type="heavy_chemical")
    r = client.get("/v1/siting/map.html", params={"geometry": json.dumps(geometry), "project_type": "重化工项目"})
    assert r.status_code == 200, r.text
    page = readable(r.text)
    assert RULE in page and "结论：禁止" in page
    assert f"面积 area {api['site']['area_m2']:,.0f} m²" in page
    # a second type, comma-separated, is part of the same request
    r2 = client.get("/v1/siting/map.html", params={"lon": lon, "lat": lat, "project_type": "heavy_chemical,textile"})
    assert r2.status_code == 200
    assert "(heavy_chemical), " in readable(r2.text) and "(textile)" in readable(r2.text)


def test_the_map_link_in_check_answers_opens_the_map(client, wu_site):
    lon, lat, _ = wu_site
    api = check_api(client, geometry={"type": "Point", "coordinates": [lon, lat]}, project_type="heavy_chemical")
    r = client.get(api["map_url"])
    assert r.status_code == 200 and RULE in r.text


@pytest.mark.parametrize("params, code", [
    ({"lon": 200, "lat": 29.3}, "coordinates_out_of_range"),
    ({"lon": 107.7, "lat": 29.3, "project_type": "no_such_type"}, "unknown_project_type"),
    ({"lon": 107.7}, None),
    ({"geometry": "{not json"}, "invalid_geometry"),
    ({"geometry": json.dumps({"type": "Polygon", "coordinates": [[[107, 29], [107.1, 29]]]})}, "invalid_geometry"),
    ({"lon": 107.7, "lat": 29.3, "crs": "EPSG:999999"}, "unknown_crs"),
])
@pytest.mark.parametrize("path", ["/v1/siting/map.html", "/v1/siting/report.pdf"])
def test_bad_input_gets_the_api_error_shape(client, path, params, code):
    assert_error_shape(client.get(path, params=params), 422, code)


def test_map_pages_without_leaflet_say_to_run_npm_ci(demo_service, tmp_path):
    from ecozone.main import create_app
    from ecozone.settings import Settings

    settings = Settings(data_dir=tmp_path / "unused", assets_dir=tmp_path / "empty-node-modules")
    c = TestClient(create_app(settings, demo_service))
    for path in ("/v1/maps/overview.html", "/v1/siting/map.html?lon=107.76&lat=29.33"):
        err = assert_error_shape(c.get(path), 503, "assets_missing")
        assert "npm ci" in err["message"]["en"] and "npm ci" in err["message"]["zh"]
        assert "leaflet" in err["detail"]["missing"]


def test_folium_class_defaults_are_left_alone(client, wu_site):
    """The pages set Leaflet on each map instance; folium's own class lists keep their CDNs
    (a mutated class list would leak into every other folium user in the process)."""
    import folium

    lon, lat, _ = wu_site
    client.get("/v1/siting/map.html", params={"lon": lon, "lat": lat})
    assert any("cdn" in url for _, url in folium.Map.default_js)
    assert not any(url.startswith("/vendor") for _, url in folium.Map.default_js + folium.Map.default_css)


def test_data_from_layers_cannot_inject_script():
    from ecozone.maps.folium_maps import finding_html, js_string

    assert "</script>" not in js_string("</script><script>alert(1)</script>")
    assert json.loads(js_string("a</script>b")) == "a</script>b"
    f = {"rule_id": "r", "effect": "prohibited", "feature_name": "<img src=x onerror=alert(1)>",
         "citation": {"text": "${alert(1)}`"}, "message": {}}
    out = finding_html(f)
    assert "<img" not in out and "&lt;img" in out


# --- the overview ---------------------------------------------------------------------------
def test_overview_has_one_switchable_group_per_layer(client):
    layers = [x for x in client.get("/v1/layers").json() if x["kind"] != "raster"]
    r = client.get("/v1/maps/overview.html")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "L.control.layers(" in r.text
    assert r.text.count("L.featureGroup(") == len(layers)
    page = readable(r.text)
    for layer in layers:
        assert f"{layer['name']} ({layer['id']})" in page
    assert ILLUSTRATIVE in page
    assert len(r.content) < 3_000_000, len(r.content)
    assert "bindTooltip(p._tip" in r.text and "乌江" in page  # feature names as tooltips
    assert_offline_page(client, r)


# --- the PDF report -------------------------------------------------------------------------
def poppler(tool: str, *args: str) -> str:
    exe = shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} not found: install poppler-utils", pytrace=False)
    return subprocess.run([exe, *args], capture_output=True, text=True, check=True).stdout


def pdf_text(pdf: bytes, tmp_path: Path, name: str = "r.pdf") -> str:
    path = tmp_path / name
    path.write_bytes(pdf)
    return poppler("pdftotext", "-enc", "UTF-8", str(path), "-")


@pytest.mark.slow
def test_report_pdf_carries_verdict_citation_font_and_map(client, wu_site, tmp_path):
    lon, lat, _ = wu_site
    query = {"lon": lon, "lat": lat, "project_type": "heavy_chemical"}
    api = check_api(client, geometry={"type": "Point", "coordinates": [lon, lat]}, project_type="heavy_chemical")
    rule = rule_from_api(client, RULE)

    client.get("/v1/siting/report.pdf", params=query)  # warm: fonts, matplotlib
    start = time.perf_counter()
    r = client.get("/v1/siting/report.pdf", params=query)
    seconds = time.perf_counter() - start
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    disposition = r.headers["content-disposition"]
    assert re.fullmatch(r'inline; filename="siting-report-[A-Za-z0-9_.-]+\.pdf"', disposition), disposition
    assert r.content.startswith(b"%PDF-")

    ARTIFACTS.mkdir(exist_ok=True)
    pdf_path = ARTIFACTS / "siting-report.pdf"
    pdf_path.write_bytes(r.content)
    (ARTIFACTS / "report-timing.txt").write_text(
        f"GET /v1/siting/report.pdf (one point, heavy_chemical, demo layers, warm): {seconds:.3f} s, "
        f"{len(r.content) / 1024:.0f} KiB\n")
    print(f"\nreport: {seconds:.3f} s, {len(r.content) / 1024:.0f} KiB -> {pdf_path}")
    poppler("pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(pdf_path), str(ARTIFACTS / "siting-report-page"))

    text = pdf_text(r.content, tmp_path)
    flat = squash(text)
    assert "结论：禁止" in flat and "Verdict:Prohibited" in flat
    assert squash(rule["citation"]["text"]) in flat
    assert squash(rule["citation"]["document"]) in flat
    assert RULE in flat
    assert "武隆区" in flat
    assert api["data_version"] in flat
    assert squash("示意数据，非法定边界 — illustrative data, not legal boundaries") in flat
    finding = next(f for f in api["findings"] if f["rule_id"] == RULE)
    assert f"{finding['distance_m']:,.1f}" in flat and f"{finding['threshold_m']:,.0f}" in flat
    for layer_id, version in api["layer_versions"].items():
        assert layer_id in flat
    assert "UTC+8" in flat and re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00", flat)

    fonts = poppler("pdffonts", str(pdf_path))
    cjk = [line for line in fonts.splitlines() if re.search(r"Noto-?Sans-?CJK", line, re.I)]
    assert cjk, fonts
    assert all(line.split()[-5] == "yes" for line in cjk), fonts  # the emb column
    images = poppler("pdfimages", "-list", str(pdf_path)).splitlines()[2:]
    assert any(line.split()[2] == "image" and int(line.split()[3]) >= 1000 for line in images), images


@pytest.mark.slow
def test_report_by_post_matches_the_check(client, wu_site, tmp_path):
    lon, lat, _ = wu_site
    d = 0.0008
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d], [lon - d, lat - d]]
    body = {"geometry": {"type": "Polygon", "coordinates": [ring]}, "project_type": ["heavy_chemical"],
            "label": "拟选址A"}
    api = check_api(client, **body)
    r = client.post("/v1/siting/report.pdf", json=body)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    flat = squash(pdf_text(r.content, tmp_path))
    assert "拟选址A" in flat and "结论：禁止" in flat and RULE in flat
    assert f"{api['site']['area_m2']:,.0f}m²" in flat
    assert_error_shape(client.post("/v1/siting/report.pdf", json={**body, "project-type": "x"}), 422, "unknown_field")


@pytest.mark.slow
def test_not_covered_report_says_so_and_never_permitted(client, tmp_path):
    api = check_api(client, geometry={"type": "Point", "coordinates": list(BEIJING)}, project_type="heavy_chemical")
    assert api["verdict"] == "not_covered"
    r = client.get("/v1/siting/report.pdf", params={"lon": BEIJING[0], "lat": BEIJING[1], "project_type": "heavy_chemical"})
    assert r.status_code == 200, r.text
    (ARTIFACTS / "not-covered-report.pdf").parent.mkdir(exist_ok=True)
    (ARTIFACTS / "not-covered-report.pdf").write_bytes(r.content)
    text = pdf_text(r.content, tmp_path)
    flat = squash(text)
    assert "不在已载入规划范围内，未检查任何规则" in flat
    assert "Notcovered" in flat
    assert "未见限制" not in flat
    # "permitted" only where the answer's own note says nothing may be read as permitted
    spaced = re.sub(r"\s+", " ", text)
    assert not re.search(r"(?<!read as )permitted", spaced, re.I), spaced
    assert "允许" not in flat.replace("不能视为允许", "")
    m = client.get("/v1/siting/map.html", params={"lon": BEIJING[0], "lat": BEIJING[1]})
    assert m.status_code == 200 and "不在已载入规划范围内" in readable(m.text)


def test_report_without_a_cjk_font_is_a_clear_503(client, monkeypatch):
    from ecozone.maps import static_map

    monkeypatch.setattr(static_map, "CJK_FAMILIES", ("No Such CJK Font",))
    static_map.cjk_font.cache_clear()
    try:
        err = assert_error_shape(client.get("/v1/siting/report.pdf", params={"lon": 107.76, "lat": 29.33}),
                                 503, "font_missing")
        assert "fonts-noto-cjk" in err["message"]["en"]
    finally:
        monkeypatch.undo()
        static_map.cjk_font.cache_clear()


def test_report_fetches_nothing_from_the_network(tmp_path):
    from ecozone.maps.report import offline_fetcher, render_pdf
    from ecozone.maps.static_map import cjk_font

    _, font = cjk_font()
    fetcher = offline_fetcher(font)
    for url in ("http://example.com/x.png", "https://cdn.example/x.css", "ftp://x/y", "file:///etc/passwd"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
    assert fetcher.refused == ["http://example.com/x.png", "https://cdn.example/x.css", "ftp://x/y", "file:///etc/passwd"]
    assert fetcher.fetch("data:text/plain;base64,aGk=").read() == b"hi"
    assert fetcher.fetch(font.as_uri()).read(4)
    # a document asking for remote things still renders, without them
    pdf = render_pdf('<p>测试 <img src="http://127.0.0.1:9/x.png"></p>'
                     '<link rel="stylesheet" href="https://cdn.example/x.css">', font)
    assert pdf.startswith(b"%PDF-")


def test_static_map_scale_bar_lengths():
    from ecozone.maps.static_map import _length_text, _nice_length

    assert [_nice_length(x) for x in (1, 3, 7, 180, 260, 999, 1200, 4800)] == [1, 2, 5, 100, 200, 500, 1000, 2000]
    assert _length_text(500) == "500 m" and _length_text(2000) == "2 km" and _length_text(250) == "250 m"


def test_static_map_is_a_png_of_the_answer(client, wu_site):
    from matplotlib.image import imread

    from ecozone.maps.static_map import render_site_map

    lon, lat, _ = wu_site
    r = client.post("/v1/siting/check?include=geometry",
                    json={"geometry": {"type": "Point", "coordinates": [lon, lat]}, "project_type": "heavy_chemical"})
    png = render_site_map(r.json(), illustrative=True, dpi=80)
    assert png.startswith(b"\x89PNG")
    img = imread(io.BytesIO(png))
    assert img.shape[0] > 300 and img.shape[1] > 500
    assert render_site_map(r.json(), fmt="svg", dpi=80).lstrip().startswith(b"<?xml")



def test_site_in_a_projected_crs(client, wu_site):
    import shapely

    from ecozone.zoning.metric import to_metric

    lon, lat, _ = wu_site
    p = to_metric(shapely.Point(lon, lat))
    r = client.get("/v1/siting/map.html", params={"lon": p.x, "lat": p.y, "crs": "EPSG:4545",
                                                  "project_type": "heavy_chemical"})
    assert r.status_code == 200, r.text
    page = readable(r.text)
    assert RULE in page and "EPSG:4545" in page


def test_illustrative_layers_come_from_the_data(demo_service):
    from types import SimpleNamespace

    import geopandas as gpd
    import shapely

    from ecozone.maps.folium_maps import illustrative_layers

    found = illustrative_layers(demo_service)
    ids = {i.id for i in demo_service.snapshot.layers}
    assert found and set(found) <= ids and "red_lines" in found

    def fake(frame):
        info = SimpleNamespace(id="x", kind="red_line", version=1)
        snap = SimpleNamespace(data_version=f"fake-{uuid.uuid4()}", layers=[info])
        return SimpleNamespace(snapshot=snap, store=SimpleNamespace(read=lambda layer_id, version=None: frame))

    point = [shapely.Point(107, 29)]
    assert illustrative_layers(fake(gpd.GeoDataFrame({"name": ["a"]}, geometry=point))) == []
    assert illustrative_layers(fake(gpd.GeoDataFrame({"illustrative": [False]}, geometry=point))) == []
    assert illustrative_layers(fake(gpd.GeoDataFrame({"illustrative": ["true"]}, geometry=point))) == ["x"]


@pytest.mark.slow
def test_no_disclaimer_when_no_data_is_illustrative(client, wu_site, monkeypatch, tmp_path):
    from ecozone.maps import folium_maps, report

    lon, lat, _ = wu_site
    monkeypatch.setattr(folium_maps, "illustrative_layers", lambda service: [])
    monkeypatch.setattr(report, "illustrative_layers", lambda service: [])
    r = client.get("/v1/siting/map.html", params={"lon": lon, "lat": lat})
    assert r.status_code == 200 and ILLUSTRATIVE not in readable(r.text)
    r = client.get("/v1/siting/report.pdf", params={"lon": lon, "lat": lat})
    assert r.status_code == 200
    flat = squash(pdf_text(r.content, tmp_path))
    assert ILLUSTRATIVE not in flat and "结论：禁止" in flat


def test_report_of_a_route_lists_its_chainage_intervals(client, tmp_path):
    import subprocess

    route = {"type": "LineString", "coordinates": [[107.70, 29.25], [107.745, 29.33], [107.80, 29.42]]}
    answer = client.post("/v1/siting/check", json={"geometry": route, "project_type": "heavy_chemical"}).json()
    seg = next(f for f in answer["findings"] if f["rule_id"] == "wulong-wu-river-1km")["segments"][0]
    r = client.post("/v1/siting/report.pdf", json={"geometry": route, "project_type": "heavy_chemical"})
    assert r.status_code == 200
    pdf = tmp_path / "route.pdf"
    pdf.write_bytes(r.content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "桩号" in text and seg["from_k"] in text and seg["to_k"] in text


def test_report_map_draws_each_chainage_interval_on_the_route(client):
    """The static map's bands are the route's pieces between each interval's stakes."""
    import shapely.geometry

    from ecozone.maps.static_map import chainage_bands, to_metric

    route = {"type": "LineString", "coordinates": [[107.70, 29.25], [107.745, 29.33], [107.80, 29.42]]}
    answer = client.post("/v1/siting/check", json={"geometry": route, "project_type": "heavy_chemical"}).json()
    site = to_metric(shapely.geometry.shape(answer["site"]["geometry"]))
    segments = [s for f in answer["findings"] for s in f.get("segments") or []]
    bands = chainage_bands(answer, site)
    assert len(bands) == len(segments) > 0
    assert sorted(round(b.length) for b, _ in bands) == sorted(round(s["length_m"] * site.length /
                                                                      answer["chainage_length_m"]) for s in segments)
    assert all(site.buffer(0.01).contains(b) for b, _ in bands)
