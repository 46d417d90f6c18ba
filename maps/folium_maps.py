"""Folium maps: one siting check (GET /v1/siting/map.html) and all published layers
(GET /v1/maps/overview.html).

Offline by construction: folium's Map class loads Leaflet, jQuery, Bootstrap and Font Awesome
from public CDNs through its class-level ``default_js``/``default_css`` lists. Each map here
gets NEW lists on the instance holding only the Leaflet the service serves itself at
/vendor/leaflet (from `npm ci`), and uses only elements that need nothing else (GeoJson,
CircleMarker, PolyLine, FeatureGroup, LayerControl and the MacroElements below; folium's
Popup is avoided because it calls jQuery). No tiles by default (``ECOZONE_BASEMAP=none``), and
every page carries a Content-Security-Policy that lets the browser load from this service only.

Text that comes from data (feature names, citations) is HTML-escaped in Python and handed to
Leaflet as JSON string literals, never spliced into script or template literals.
"""

from __future__ import annotations

import html
import json
import threading
from collections import OrderedDict
from typing import Any

import folium
import shapely
import shapely.geometry
from branca.element import Element, MacroElement
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from jinja2 import Template
from pydantic import ValidationError

from ecozone.checks import SitingRequest, run_check, split_project_types
from ecozone.deps import get_service, get_settings
from ecozone.errors import InputError
from ecozone.maps.assets import LEAFLET_CSS, LEAFLET_JS, MISSING, missing_packages
from ecozone.maps.static_map import (
    EFFECT_COLOURS, EFFECT_EN, EFFECT_ZH, ILLUSTRATIVE_EN, ILLUSTRATIVE_ZH, REFERENCE_COLOUR, to_lonlat, to_metric,
    verdict_text,
)
from ecozone.service import Service
from ecozone.settings import Settings

router = APIRouter(tags=["maps"])

FAVICON = "/docs-assets/favicon.png"  # served by the offline docs (fastapi-offline's favicon)
OVERVIEW_SIMPLIFY_DEG = 0.0005  # ~50 m: the overview is for orientation, checks use the full geometry
OVERVIEW_PRECISION_DEG = 1e-5
BASEMAPS = {
    "osm": (["https://tile.openstreetmap.org/{z}/{x}/{y}.png"], "© OpenStreetMap contributors",
            "https://tile.openstreetmap.org"),
    "tianditu": (["https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                  "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={token}",
                  "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=cva"
                  "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={token}"],
                 "© 天地图 Tianditu", "https://*.tianditu.gov.cn"),
}


# --- errors ---------------------------------------------------------------------------------
class InvalidGeometry(InputError):
    code = "invalid_geometry"


class AssetsMissing(InputError):
    code = "assets_missing"
    status = 503


def require_assets(settings: Settings) -> None:
    """503 in the error shape, saying to run `npm ci`, when Leaflet is not installed."""
    missing = missing_packages(settings)
    if missing:
        raise AssetsMissing(MISSING["zh"], MISSING["en"], missing=missing)


# --- the request, from query parameters ---------------------------------------------------
def siting_request(
    lon: float | None = Query(None, description="Site longitude (or x in `crs`)"),
    lat: float | None = Query(None, description="Site latitude (or y in `crs`)"),
    geometry: str | None = Query(None, description="Site as a GeoJSON geometry (instead of lon/lat)"),
    crs: str = Query("EPSG:4326", description="CRS of the coordinates"),
    project_type: list[str] | None = Query(None, description="Codes or Chinese names, comma-separated or repeated"),
    label: str | None = Query(None, max_length=200),
) -> SitingRequest:
    """The map's and the report's query parameters as a SitingRequest (a route dependency);
    InputError (422) on bad input."""
    if geometry is not None and (lon is not None or lat is not None):
        raise InputError("请只给出 geometry 或 lon/lat 其中之一。", "Give either geometry or lon/lat, not both.",
                         field="geometry", where="query")
    if geometry is None:
        if lon is None or lat is None:
            raise InputError("请给出选址：lon 与 lat，或 geometry（GeoJSON 几何）。",
                             "Give the site: lon and lat, or geometry (a GeoJSON geometry).",
                             field="geometry", where="query", missing=[n for n, v in (("lon", lon), ("lat", lat))
                                                                         if v is None])
        site: Any = {"type": "Point", "coordinates": [lon, lat]}
    else:
        try:
            site = json.loads(geometry)
        except ValueError as e:
            raise InvalidGeometry("geometry 不是有效的 JSON", f"geometry is not valid JSON: {e}",
                                  field="geometry", where="geometry") from None
        if isinstance(site, dict) and site.get("type") == "Feature":
            site = site.get("geometry")
    try:
        return SitingRequest(geometry=site, crs=crs, project_type=split_project_types(project_type), label=label)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "query"
        raise InputError(f"输入无效（{where}）：{first.get('msg')}", f"Invalid input at {where}: {first.get('msg')}",
                         field=where, where=where) from None


def check_answer(service: Service, settings: Settings, req: SitingRequest) -> dict:
    return run_check(service, settings, req, with_geometry=True)


# --- data facts -----------------------------------------------------------------------------
_illustrative_cache: OrderedDict[str, list[str]] = OrderedDict()
_cache_lock = threading.Lock()


def _truthy(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "y", "t")
    try:
        return bool(v) and v == v  # NaN is not true
    except (TypeError, ValueError):
        return False


def illustrative_layers(service: Service) -> list[str]:
    """Ids of the current vector layers holding features marked ``illustrative`` (the demo
    layers): the verdict rests on every layer, so any one makes the answer illustrative."""
    snap = service.snapshot
    with _cache_lock:
        if snap.data_version in _illustrative_cache:
            return _illustrative_cache[snap.data_version]
    out = []
    for info in snap.layers:
        if info.kind == "raster":
            continue
        try:
            frame = service.store.read(info.id, info.version)
        except Exception:  # a layer replaced meanwhile: judged on the next data version
            continue
        if "illustrative" in frame.columns and any(_truthy(v) for v in frame["illustrative"].tolist()):
            out.append(info.id)
    with _cache_lock:
        _illustrative_cache[snap.data_version] = out
        while len(_illustrative_cache) > 8:
            _illustrative_cache.popitem(last=False)
    return out


def district_context(service: Service, answer: dict, margin_deg: float = 0.15) -> list[tuple[str, dict]]:
    """District outlines near the site, (name, GeoJSON lon/lat), for orientation."""
    snap = service.snapshot
    site = shapely.geometry.shape(answer["site"]["geometry"])
    xmin, ymin, xmax, ymax = site.bounds
    box = shapely.box(xmin - margin_deg, ymin - margin_deg, xmax + margin_deg, ymax + margin_deg)
    out = []
    for info in snap.layers:
        if info.kind != "district":
            continue
        try:
            frame = service.store.read(info.id, info.version)
        except Exception:
            continue
        for name, geom in zip(frame["name"] if "name" in frame.columns else [None] * len(frame), frame.geometry):
            if geom is None or not geom.intersects(box):
                continue
            part = shapely.intersection(shapely.simplify(geom, 0.0002, preserve_topology=True), box)
            if not part.is_empty:
                out.append((str(name or ""), shapely.geometry.mapping(part)))
    return out


def focus_bounds(answer: dict) -> tuple[float, float, float, float]:
    """(south, west, north, east) around the site, wide enough to show the nearest lines and
    the buffer lines near it (the same extent as the report's static map)."""
    from ecozone.maps.static_map import focus_radius_m

    site = to_metric(shapely.geometry.shape(answer["site"]["geometry"]))
    r = focus_radius_m(answer, site)
    c = site.centroid
    west, south, east, north = to_lonlat(shapely.box(c.x - r, c.y - r, c.x + r, c.y + r)).bounds
    return south, west, north, east


# --- offline folium pieces ------------------------------------------------------------------
def js_string(value: Any) -> str:
    """A JSON literal safe inside <script> (no </script>, <!-- or line-separator breakouts)."""
    text = json.dumps(value, ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


class Bind(MacroElement):
    """Binds a tooltip and/or a popup (HTML strings, already escaped) to the parent layer,
    with Leaflet's own bindTooltip/bindPopup — folium's Popup needs jQuery."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {%- if this.tooltip %}
        {{ this._parent.get_name() }}.bindTooltip({{ this.tooltip }}, {{ this.tooltip_options }});
        {%- endif %}
        {%- if this.popup %}
        {{ this._parent.get_name() }}.bindPopup({{ this.popup }}, {maxWidth: 460});
        {%- endif %}
        {% endmacro %}
    """)

    def __init__(self, tooltip: str | None = None, popup: str | None = None, permanent: bool = False):
        super().__init__()
        self._name = "Bind"
        self.tooltip = js_string(tooltip) if tooltip else None
        self.popup = js_string(popup) if popup else None
        self.tooltip_options = js_string({"sticky": not permanent, "permanent": permanent,
                                          "direction": "center" if permanent else "auto",
                                          "className": "ez-label" if permanent else ""})


class FeatureTips(MacroElement):
    """Per-feature tooltips of a GeoJson layer, from each feature's `_tip` property (escaped HTML)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.eachLayer(function (layer) {
            var p = layer.feature && layer.feature.properties;
            if (p && p._tip) { layer.bindTooltip(p._tip, {sticky: true}); }
        });
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "FeatureTips"


class FitBounds(MacroElement):
    _template = Template("""
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.fitBounds({{ this.bounds }}, {paddingTopLeft: [410, 30], paddingBottomRight: [60, 30]});
        {% endmacro %}
    """)

    def __init__(self, south: float, west: float, north: float, east: float):
        super().__init__()
        self._name = "FitBounds"
        self.bounds = js_string([[south, west], [north, east]])


PAGE_CSS = """
<style>
  .ez-panel { position: absolute; z-index: 1000; top: 10px; left: 10px; width: 380px; max-height: calc(100% - 40px);
    overflow-y: auto; background: rgba(255,255,255,0.96); border: 1px solid #888; border-radius: 4px;
    padding: 10px 12px; font: 13px/1.45 "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif;
    box-shadow: 0 1px 5px rgba(0,0,0,0.3); }
  .ez-panel h1 { font-size: 16px; margin: 0 0 6px; }
  .ez-panel h2 { font-size: 13px; margin: 10px 0 4px; border-bottom: 1px solid #ddd; }
  .ez-verdict { color: #fff; padding: 6px 8px; border-radius: 3px; font-weight: bold; margin: 6px 0; }
  .ez-verdict small { display: block; font-weight: normal; }
  .ez-note { background: #fff8e1; border-left: 3px solid #f9a825; padding: 4px 6px; margin: 6px 0; }
  .ez-finding { border-left: 4px solid #999; padding: 2px 0 2px 8px; margin: 6px 0; }
  .ez-finding .rule { font-family: monospace; font-weight: bold; }
  .ez-finding blockquote, .ez-pop blockquote { margin: 4px 0; padding: 2px 6px; background: #f5f5f5;
    border-left: 2px solid #bbb; font-size: 12px; }
  .ez-key { display: inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle;
    border: 1px solid #555; }
  .ez-line { display: inline-block; width: 22px; height: 0; margin-right: 4px; vertical-align: middle; }
  .ez-banner { position: absolute; z-index: 1001; top: 0; left: 50%; transform: translateX(-50%);
    background: #b71c1c; color: #fff; padding: 4px 14px; font: bold 14px "Noto Sans CJK SC", sans-serif;
    border-radius: 0 0 4px 4px; pointer-events: none; }
  .ez-meta { color: #555; font-size: 11px; }
  .ez-pop { font: 12px/1.4 "Noto Sans CJK SC", sans-serif; max-width: 440px; }
  .leaflet-tooltip.ez-label { font-weight: bold; background: rgba(255,255,255,0.85); }
  .leaflet-container { background: #f3f1ea; }
</style>
"""


def e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def offline_map(request: Request, settings: Settings, title: str) -> folium.Map:
    """A folium Map that loads Leaflet from this service only (and nothing else)."""
    root = request.scope.get("root_path", "").rstrip("/")
    m = folium.Map(location=[29.5, 107.5], zoom_start=8, tiles=None, control_scale=False,
                   zoom_control="bottomright", prefer_canvas=False)
    # New lists on the instance: folium's class-level lists (CDN URLs) stay untouched.
    m.default_js = [("leaflet", root + LEAFLET_JS)]
    m.default_css = [("leaflet_css", root + LEAFLET_CSS)]
    fig = m.get_root()
    fig.title = title
    fig.header.add_child(Element(f'<link rel="icon" type="image/png" href="{e(root + FAVICON)}"/>'), name="favicon")
    fig.header.add_child(Element(PAGE_CSS), name="ez_css")
    ScaleBar().add_to(m)
    basemap = BASEMAPS.get(settings.basemap)
    if basemap is not None and (settings.basemap != "tianditu" or settings.tianditu_token):
        urls, attribution, _ = basemap
        for i, url in enumerate(urls):
            folium.TileLayer(url.replace("{token}", settings.tianditu_token), attr=attribution,
                             name=f"底图 basemap{'' if i == 0 else ' labels'}", subdomains="01234567",
                             max_zoom=18, overlay=i > 0, control=False).add_to(m)
    return m


def page_security_policy(settings: Settings) -> str:
    """Only this service (plus the configured basemap's tile host, if any)."""
    img = "'self' data:"
    basemap = BASEMAPS.get(settings.basemap)
    if basemap is not None:
        img += " " + basemap[2]
    return (f"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
            f"img-src {img}; connect-src 'self'; font-src 'self' data:; frame-ancestors 'self'")


def map_response(m: folium.Map, settings: Settings) -> HTMLResponse:
    page = m.get_root().render()
    return HTMLResponse(page, headers={"Content-Security-Policy": page_security_policy(settings),
                                       "Cache-Control": "no-store"})


def banner(m: folium.Map, illustrative: list[str]) -> None:
    if illustrative:
        m.get_root().html.add_child(Element(
            f'<div class="ez-banner" title="{e(", ".join(illustrative))}">{ILLUSTRATIVE_ZH} · {ILLUSTRATIVE_EN}</div>'
        ), name="ez_banner")


# --- the siting map -------------------------------------------------------------------------
def _num(v: float | None, unit: str, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f} {unit}"


def finding_html(f: dict, conditional: bool = False) -> str:
    """A finding as escaped HTML: rule, effect, distances, plan section, verbatim citation."""
    c = f.get("citation") or {}
    effect = f["effect"]
    rows = [
        f'<div class="rule">{e(f["rule_id"])}</div>',
        f'<div><b style="color:{EFFECT_COLOURS.get(effect, "#555")}">{e(EFFECT_ZH.get(effect, effect))} '
        f'{e(EFFECT_EN.get(effect, effect))}</b>{" · 有条件适用 conditional" if conditional else ""}</div>',
        f'<div>{e(f.get("feature_name") or f.get("feature_id") or "")} <span class="ez-meta">'
        f'({e(f.get("layer"))})</span></div>',
        f'<div>距离 distance: <b>{_num(f.get("distance_m"), "m")}</b>'
        + (f' · 阈值 threshold: {_num(f.get("threshold_m"), "m", 0)}' if f.get("threshold_m") is not None else "")
        + (f' · 重叠 overlap: {_num(f.get("overlap_area_m2"), "m²", 0)}' if f.get("overlap_area_m2") else "")
        + "</div>",
        f'<div>{e((f.get("message") or {}).get("zh"))}<br><span class="ez-meta">'
        f'{e((f.get("message") or {}).get("en"))}</span></div>',
        f'<div>《{e(c.get("document"))}》 {e(c.get("section"))}</div>',
        f'<blockquote>{e(c.get("text"))}</blockquote>',
    ]
    ex = f.get("exception")
    if ex:
        rows.append(f'<div class="ez-meta">例外 exception: {e(ex.get("zh"))} / {e(ex.get("en"))}'
                    + (f'<blockquote>{e(ex.get("text"))}</blockquote>' if ex.get("text") else "") + "</div>")
    return "".join(rows)


def _geojson(data: dict, style: dict, name: str | None = None) -> folium.GeoJson:
    return folium.GeoJson(data, name=name, style_function=lambda _f, s=style: s, control=False,
                          marker=folium.CircleMarker(radius=5, fill=True, fill_opacity=0.8, weight=1))


def add_site(m: folium.Map, answer: dict) -> None:
    site = answer["site"]["geometry"]
    label = answer.get("label") or "选址 site"
    group = folium.FeatureGroup(name="选址 site", control=True).add_to(m)
    if site["type"] == "Point":
        lon, lat = site["coordinates"][:2]
        layer = folium.CircleMarker([lat, lon], radius=8, color="#000", weight=2, fill=True,
                                    fill_color="#ffeb3b", fill_opacity=1.0).add_to(group)
    else:
        layer = _geojson(site, {"color": "#000", "weight": 3, "fillColor": "#ffeb3b", "fillOpacity": 0.5}).add_to(group)
    info = answer["site"]
    tip = (f"<b>{e(label)}</b><br>{e(site['type'])} · 输入坐标系 input CRS {e(info.get('input_crs'))}"
           + (f"<br>面积 area {_num(info.get('area_m2'), 'm²', 0)}" if info.get("area_m2") else "")
           + (f"<br>长度 length {_num(info.get('length_m'), 'm', 0)}" if info.get("length_m") else ""))
    Bind(tooltip=tip).add_to(layer)


def _metric_parts(geo: dict) -> dict:
    return {k: (to_metric(shapely.geometry.shape(geo[k])) if geo.get(k) else None)
            for k in ("zone", "boundary", "reference", "nearest")}


def add_finding(m: folium.Map, f: dict, conditional: bool, labelled: set) -> None:
    """One finding as a switchable group: its zone (filled by effect; notices and conditional
    findings faint and dotted), the buffer line that decided (dashed), the reference feature
    (a river as its water, from the half width the distance is measured from) and the nearest
    line, labelled with its distance once per distinct line."""
    from ecozone.maps.static_map import reference_display

    effect = f["effect"]
    colour = EFFECT_COLOURS.get(effect, "#555555")
    strong = effect != "notice" and not conditional
    geo = f.get("geometry") or {}
    prefix = "有条件 conditional · " if conditional else ""
    group = folium.FeatureGroup(name=f"{prefix}{EFFECT_ZH.get(effect, effect)} · {f['rule_id']}").add_to(m)
    popup = f'<div class="ez-pop">{finding_html(f, conditional)}</div>'
    head = f"<b>{e(f['rule_id'])}</b> · {e(EFFECT_ZH.get(effect, effect))} {e(EFFECT_EN.get(effect, effect))}"
    if geo.get("zone"):
        style = {"color": colour, "weight": 1.2 if strong else 1, "fillColor": colour,
                 "fillOpacity": 0.22 if strong else 0.06, "opacity": 0.9}
        if not strong:
            style["dashArray"] = "2 4"
        layer = _geojson(geo["zone"], style).add_to(group)
        Bind(tooltip=f"{head}<br>{e((f.get('message') or {}).get('zh'))}", popup=popup).add_to(layer)
    if geo.get("boundary"):
        layer = _geojson(geo["boundary"], {"color": colour, "weight": 2.5 if strong else 1.5, "dashArray": "8 6",
                                           "fill": False}).add_to(group)
        Bind(tooltip=f"缓冲线 buffer line {_num(f.get('threshold_m'), 'm', 0)} · {head}", popup=popup).add_to(layer)
    if geo.get("reference"):
        how, ref = reference_display(_metric_parts(geo))
        tip = f"参照要素 reference: {e(f.get('feature_name') or f.get('feature_id'))} ({e(f.get('layer'))})"
        if how == "water":
            water = shapely.geometry.mapping(shapely.set_precision(to_lonlat(ref), 1e-7))
            layer = _geojson(water, {"color": REFERENCE_COLOUR, "weight": 1, "fillColor": REFERENCE_COLOUR,
                                     "fillOpacity": 0.35}).add_to(group)
            Bind(tooltip=tip + " — 水域（按半宽）water by its half width").add_to(layer)
            layer = _geojson(geo["reference"], {"color": REFERENCE_COLOUR, "weight": 1, "dashArray": "8 4"}).add_to(group)
            Bind(tooltip=tip + " — 中心线 centreline").add_to(layer)
        elif how in ("area", "line"):
            layer = _geojson(geo["reference"], {"color": REFERENCE_COLOUR, "weight": 3, "fillColor": REFERENCE_COLOUR,
                                                "fillOpacity": 0.25}).add_to(group)
            Bind(tooltip=tip).add_to(layer)
    if geo.get("nearest"):
        coords = geo["nearest"]["coordinates"]
        layer = folium.PolyLine([(y, x) for x, y, *_ in coords], color="#000", weight=2.5).add_to(group)
        key = (json.dumps(coords), f.get("distance_m"))
        first = key not in labelled
        labelled.add(key)
        text = _num(f.get("distance_m"), "m") if first else f"{_num(f.get('distance_m'), 'm')} · {e(f['rule_id'])}"
        Bind(tooltip=text, popup=popup, permanent=first).add_to(layer)
        x, y = coords[-1][:2]
        end = folium.CircleMarker([y, x], radius=3, color="#000", weight=1, fill=True, fill_color="#000",
                                  fill_opacity=1).add_to(group)
        Bind(tooltip=f"最近点 nearest point on {e(f.get('feature_name') or f.get('feature_id'))}").add_to(end)


class ScaleBar(MacroElement):
    """Leaflet's own metric scale, bottom right (the panel covers the bottom left)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
        L.control.scale({position: "bottomright", imperial: false, maxWidth: 160}).addTo({{ this._parent.get_name() }});
        {% endmacro %}
    """)

    def __init__(self):
        super().__init__()
        self._name = "ScaleBar"


def siting_panel(answer: dict, illustrative: list[str], report_link: str, type_names: dict[str, str]) -> str:
    verdict = answer["verdict"]
    zh, en = verdict_text(verdict)
    colour = EFFECT_COLOURS.get(verdict, "#555")
    types = answer.get("project_types")
    out = ['<div class="ez-panel">', f'<h1>选址核查图 · Siting map{(" — " + e(answer["label"])) if answer.get("label") else ""}</h1>']
    if illustrative:
        out.append(f'<div class="ez-note"><b>{ILLUSTRATIVE_ZH}</b> — {ILLUSTRATIVE_EN}</div>')
    out.append(f'<div class="ez-verdict" style="background:{colour}">结论：{e(zh)}<small>Verdict: {e(en)}</small></div>')
    out.append("<div>项目类型 project type: "
               + (", ".join(f"{e(type_names.get(t, t))} ({e(t)})" for t in types) if types else "全部规则 every rule")
               + "</div>")
    if answer.get("jurisdictions"):
        out.append("<div>辖区 jurisdiction: " + ", ".join(
            f"{e(j['name'])} ({e(j['code'])}){'' if j.get('planned', True) else ' — 规划未载入 plan not loaded'}"
            for j in answer["jurisdictions"]) + "</div>")
    note = (answer.get("coverage") or {}).get("note")
    if note:
        out.append(f'<div class="ez-note">{e(note.get("zh"))}<br>{e(note.get("en"))}</div>')
    findings = answer.get("findings") or []
    out.append(f"<h2>依据 Findings ({len(findings)})</h2>")
    if not findings:
        out.append("<div>无 none</div>")
    for f in findings:
        out.append(f'<div class="ez-finding" style="border-color:{EFFECT_COLOURS.get(f["effect"], "#999")}">'
                   f'{finding_html(f)}</div>')
    cond = answer.get("conditional_findings") or []
    if cond:
        out.append(f"<h2>有条件适用 Conditional findings ({len(cond)})</h2>"
                   '<div class="ez-meta">不改变结论：约束所选类型的某些子类 — they bind some subtypes of the asked type '
                   "and never change the verdict.</div>")
        for f in cond:
            out.append(f'<div class="ez-finding" style="border-color:{EFFECT_COLOURS.get(f["effect"], "#999")}">'
                       f'{finding_html(f, True)}</div>')
    out.append("<h2>图例 Legend</h2><div>")
    for effect in ("prohibited", "restricted", "notice"):
        c = EFFECT_COLOURS[effect]
        out.append(f'<span class="ez-key" style="background:{c}55;border-color:{c}"></span>'
                   f"{EFFECT_ZH[effect]} {EFFECT_EN[effect]} &nbsp; ")
    out.append('<br><span class="ez-line" style="border-top:2px dashed #555"></span>缓冲线 buffer line &nbsp; '
               f'<span class="ez-line" style="border-top:3px solid {REFERENCE_COLOUR}"></span>参照要素 reference'
               ' &nbsp; <span class="ez-line" style="border-top:2px solid #000"></span>最近距离 nearest'
               ' &nbsp; <span class="ez-key" style="background:#ffeb3b;border-radius:6px"></span>选址 site</div>')
    out.append(f'<p class="ez-meta">数据版本 data version: {e(answer.get("data_version"))}<br>'
               f'<a href="{e(report_link)}">PDF 报告 report</a></p></div>')
    return "".join(out)


@router.get("/v1/siting/map.html", response_class=HTMLResponse)
def siting_map(
    request: Request,
    req: SitingRequest = Depends(siting_request),
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    """A folium map of one check: the site, each finding's zone (coloured by effect), the
    buffer line that decided, the reference feature and the nearest line with its distance."""
    require_assets(settings)
    answer = check_answer(service, settings, req)
    illustrative = illustrative_layers(service)
    zh, en = verdict_text(answer["verdict"])
    m = offline_map(request, settings, f"选址核查图 {zh} · Siting map: {en}")
    banner(m, illustrative)

    context = district_context(service, answer)
    if context:
        group = folium.FeatureGroup(name="行政区 districts").add_to(m)
        for name, geojson in context:
            layer = _geojson(geojson, {"color": "#757575", "weight": 1.5, "dashArray": "6 3 1 3",
                                       "fill": False}).add_to(group)
            Bind(tooltip=e(name)).add_to(layer)
    labelled: set = set()
    for f in answer.get("findings") or []:  # strictest first: its distance label is the permanent one
        add_finding(m, f, False, labelled)
    for f in answer.get("conditional_findings") or []:
        add_finding(m, f, True, labelled)
    add_site(m, answer)
    folium.LayerControl(collapsed=True).add_to(m)
    FitBounds(*focus_bounds(answer)).add_to(m)

    root = request.scope.get("root_path", "").rstrip("/")
    query = request.url.query
    type_names = {t.code: t.name.zh for t in service.catalog.project_types}
    m.get_root().html.add_child(Element(
        siting_panel(answer, illustrative, f"{root}/v1/siting/report.pdf" + (f"?{query}" if query else ""), type_names)
    ), name="ez_panel")
    return map_response(m, settings)


# --- the overview of all layers -------------------------------------------------------------
LAYER_PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#1f78b4",
                 "#b2df8a", "#fb9a99", "#cab2d6", "#6a3d9a", "#b15928", "#8dd3c7", "#bebada", "#80b1d3")
KIND_COLOURS = {"river": "#0277bd", "district": "#616161", "red_line": "#c62828", "water_source": "#00838f",
                "protected_area": "#2e7d32", "industrial_park": "#6d4c41"}

_overview_cache: OrderedDict[tuple, str] = OrderedDict()


def _layer_features(frame, kind_zh: str, info) -> dict:
    import numpy as np

    geoms = frame.geometry.to_numpy()
    polys = np.array([g is not None and g.geom_type in ("Polygon", "MultiPolygon") for g in geoms])
    geoms = geoms.copy()
    if polys.any():
        geoms[polys] = shapely.simplify(geoms[polys], OVERVIEW_SIMPLIFY_DEG, preserve_topology=True)
    lines = ~polys & np.array([g is not None and "Line" in g.geom_type for g in geoms])
    if lines.any():
        geoms[lines] = shapely.simplify(geoms[lines], OVERVIEW_SIMPLIFY_DEG / 2, preserve_topology=True)
    geoms = shapely.set_precision(geoms, OVERVIEW_PRECISION_DEG)
    names = frame["name"].tolist() if "name" in frame.columns else [None] * len(frame)
    fids = (frame["feature_id"] if "feature_id" in frame.columns else frame.get("id", frame.index)).tolist()
    flags = frame["illustrative"].tolist() if "illustrative" in frame.columns else [False] * len(frame)
    features = []
    for geom, name, fid, flag in zip(geoms, names, fids, flags):
        if geom is None or geom.is_empty:
            continue
        tip = (f"<b>{e(name if name is not None else fid)}</b><br>{e(kind_zh)} ({e(info.kind)})"
               f"<br><span style='color:#666'>{e(info.id)} v{info.version} · {e(fid)}</span>"
               + (f"<br><span style='color:#b71c1c'>{ILLUSTRATIVE_ZH}</span>" if _truthy(flag) else ""))
        features.append({"type": "Feature", "properties": {"_tip": tip},
                         "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


def render_overview(request: Request, service: Service, settings: Settings) -> str:
    from ecozone.routers.catalog import list_layer_kinds

    kind_names = {k["kind"]: k["name"]["zh"] for k in list_layer_kinds()}
    snap = service.snapshot
    root = request.scope.get("root_path", "").rstrip("/")
    key = (snap.data_version, root, settings.basemap, bool(settings.tianditu_token))
    with _cache_lock:
        if key in _overview_cache:
            return _overview_cache[key]
    illustrative = illustrative_layers(service)
    m = offline_map(request, settings, "生态环境分区图层总览 · Layer overview")
    banner(m, illustrative)
    rows, bounds = [], []
    for i, info in enumerate(sorted(snap.layers, key=lambda x: (x.kind == "district", x.id))):
        if info.kind == "raster":
            continue
        frame = service.store.read(info.id, info.version)
        if frame.crs is not None and frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        kind_zh = kind_names.get(info.kind, info.kind)
        colour = KIND_COLOURS.get(info.kind, LAYER_PALETTE[i % len(LAYER_PALETTE)])
        group = folium.FeatureGroup(name=f"{info.name} ({info.id})", show=info.kind != "control_unit").add_to(m)
        style = {"color": colour, "weight": 1.5, "fillColor": colour, "fillOpacity": 0.0 if info.kind == "district" else 0.25}
        if info.kind == "district":
            style["dashArray"] = "6 3"
        layer = folium.GeoJson(
            _layer_features(frame, kind_zh, info), style_function=lambda _f, s=style: s, control=False,
            marker=folium.CircleMarker(radius=5, fill=True, fill_opacity=0.8, weight=1, color=colour),
        ).add_to(group)
        FeatureTips().add_to(layer)
        if info.bbox:
            bounds.append(info.bbox)
        rows.append(f'<div><span class="ez-key" style="background:{colour}55;border-color:{colour}"></span>'
                    f"{e(info.name)} <span class='ez-meta'>{e(info.id)} · {e(kind_zh)} · v{info.version} · "
                    f"{info.feature_count} 要素 features{' · 示意' if info.id in illustrative else ''}</span></div>")
    folium.LayerControl(collapsed=True).add_to(m)
    if bounds:
        west, south = min(b[0] for b in bounds), min(b[1] for b in bounds)
        east, north = max(b[2] for b in bounds), max(b[3] for b in bounds)
        FitBounds(south, west, north, east).add_to(m)
    rasters = [x for x in snap.layers if x.kind == "raster"]
    panel = ['<div class="ez-panel" style="width:320px">', "<h1>图层总览 · Layer overview</h1>"]
    if illustrative:
        panel.append(f'<div class="ez-note"><b>{ILLUSTRATIVE_ZH}</b> — {ILLUSTRATIVE_EN}</div>')
    panel.append(f'<p class="ez-meta">数据版本 data version: {e(snap.data_version)}<br>'
                 f"为便于浏览，图形已简化约 50 米；核查使用完整图形。Shapes simplified by ~50 m for display; "
                 "checks use the full geometry.</p>")
    panel += rows
    if rasters:
        panel.append(f"<p class='ez-meta'>栅格图层未显示 raster layers not shown: {e(', '.join(r.id for r in rasters))}</p>")
    panel.append("</div>")
    m.get_root().html.add_child(Element("".join(panel)), name="ez_panel")
    page = m.get_root().render()
    with _cache_lock:
        _overview_cache[key] = page
        while len(_overview_cache) > 4:
            _overview_cache.popitem(last=False)
    return page


@router.get("/v1/maps/overview.html", response_class=HTMLResponse)
def overview_map(
    request: Request,
    service: Service = Depends(get_service),
    settings: Settings = Depends(get_settings),
) -> HTMLResponse:
    """A folium map of every published vector layer: one switchable group per layer."""
    require_assets(settings)
    page = render_overview(request, service, settings)
    return HTMLResponse(page, headers={"Content-Security-Policy": page_security_policy(settings),
                                       "Cache-Control": "no-cache"})
