"""A static map of one siting answer, for the printable report: drawn with matplotlib (Agg) in
metres (EPSG:4545, the CRS the zones are measured in), with a scale bar and a north arrow.

Input is the check answer with finding geometry (``run_check(..., with_geometry=True)``):
the site, each finding's zone (filled by effect), the buffer line that decided (dashed), the
reference feature and the nearest line labelled with its distance.
"""

from __future__ import annotations

import io
import math
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import shapely
import shapely.geometry
import shapely.ops

from ecozone.errors import InputError

# The zones' metric CRS (CGCS2000 / 3-degree Gauss-Kruger CM 108E): maps draw in it, as the
# service measures in it. Lon/lat edges are densified first so long edges stay straight in
# lon/lat, as the service does.
METRIC_CRS = "EPSG:4545"
_DENSIFY_DEG = 0.005

# Colours by effect (also used by the folium maps and the report), and verdict wording.
EFFECT_COLOURS = {
    "prohibited": "#c62828",
    "restricted": "#ef6c00",
    "notice": "#1565c0",
    "permitted": "#2e7d32",
    "not_covered": "#6a1b9a",
}
EFFECT_ZH = {"prohibited": "禁止", "restricted": "限制", "notice": "提示"}
EFFECT_EN = {"prohibited": "prohibited", "restricted": "restricted", "notice": "notice"}
_EFFECT_ORDER = {"prohibited": 0, "restricted": 1, "notice": 2}
VERDICT_TEXT = {
    "prohibited": ("禁止", "Prohibited"),
    "restricted": ("限制（须论证审批）", "Restricted: needs justification and approval"),
    "notice": ("提示（须注意下列事项）", "Notice: see the findings below"),
    "permitted": ("未见限制", "No restriction found in the loaded plans"),
    "not_covered": ("不在已载入规划范围内，未检查任何规则", "Not covered: outside every loaded plan, no rule was checked"),
}
ILLUSTRATIVE_ZH = "示意数据，非法定边界"
ILLUSTRATIVE_EN = "illustrative data, not legal boundaries"
REFERENCE_COLOUR = "#0097a7"
CONTEXT_COLOUR = "#757575"

# Families tried, in order, for Chinese text (Debian: fonts-noto-cjk).
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                "WenQuanYi Zen Hei", "Noto Sans CJK TC", "Noto Sans CJK JP")


class FontMissing(InputError):
    """No CJK font: Chinese text would print as empty boxes, so nothing is drawn."""

    code = "font_missing"
    status = 503


@lru_cache(maxsize=2)
def _transformer(inverse: bool):
    from pyproj import Transformer

    src, dst = ("EPSG:4326", METRIC_CRS) if not inverse else (METRIC_CRS, "EPSG:4326")
    return Transformer.from_crs(src, dst, always_xy=True)


def _apply(transformer, geom):
    import numpy as np

    def fn(xy):
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(geom, fn)


def to_metric(geom):
    """WGS84 lon/lat → EPSG:4545 metres."""
    return _apply(_transformer(False), shapely.segmentize(geom, _DENSIFY_DEG))


def to_lonlat(geom):
    """EPSG:4545 metres → WGS84 lon/lat."""
    return _apply(_transformer(True), geom)


def verdict_text(verdict: str) -> tuple[str, str]:
    return VERDICT_TEXT.get(verdict, (verdict, verdict))


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, Path]:
    """(family name, font file) of an installed CJK font, found with matplotlib's font manager;
    FontMissing (503) naming the package to install when there is none."""
    from matplotlib import font_manager

    for family in CJK_FAMILIES:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue
        if path and Path(path).is_file():
            return family, Path(path)
    raise FontMissing(
        "未找到中文字体（CJK），无法生成含中文的地图与报告：请安装 fonts-noto-cjk（Debian/Ubuntu：apt-get install fonts-noto-cjk）后重启服务。",
        "No CJK font found, so Chinese text cannot be drawn: install fonts-noto-cjk "
        "(Debian/Ubuntu: apt-get install fonts-noto-cjk) and restart the service.",
        tried=list(CJK_FAMILIES),
    )


def _metric(geojson: dict | None) -> shapely.Geometry | None:
    if not geojson:
        return None
    geom = shapely.geometry.shape(geojson)
    return None if geom.is_empty else to_metric(geom)


def _parts(geom: shapely.Geometry) -> Iterable[shapely.Geometry]:
    if hasattr(geom, "geoms"):
        for g in geom.geoms:
            yield from _parts(g)
    elif not geom.is_empty:
        yield geom


def _draw(ax, geom: shapely.Geometry | None, *, face=None, edge="black", lw=1.0, ls="-", alpha=1.0,
          face_alpha=0.25, zorder=2, marker="o", ms=6, hatch=None) -> None:
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath
    from matplotlib.colors import to_rgba

    if geom is None:
        return
    for part in _parts(geom):
        kind = part.geom_type
        if kind == "Polygon":
            verts, codes = [], []
            for ring in [part.exterior, *part.interiors]:
                xy = list(ring.coords)
                verts += xy
                codes += [MPath.MOVETO] + [MPath.LINETO] * (len(xy) - 2) + [MPath.CLOSEPOLY]
            ax.add_patch(PathPatch(
                MPath(verts, codes), facecolor=to_rgba(face, face_alpha) if face else "none",
                edgecolor=to_rgba(edge, alpha) if edge else "none", lw=lw, ls=ls, zorder=zorder, hatch=hatch,
            ))
        elif kind in ("LineString", "LinearRing"):
            x, y = part.xy
            ax.plot(x, y, color=edge, lw=lw, ls=ls, alpha=alpha, zorder=zorder, solid_capstyle="round")
        elif kind == "Point":
            ax.plot([part.x], [part.y], marker=marker, ms=ms, color=edge, mfc=face or edge, zorder=zorder, ls="none")


def _nice_length(target_m: float) -> float:
    """The largest 1/2/5 × 10^k metres not above target_m."""
    k = math.floor(math.log10(max(target_m, 1.0)))
    for step in (5, 2, 1):
        if step * 10 ** k <= target_m:
            return float(step * 10 ** k)
    return float(10 ** k)


def _length_text(m: float) -> str:
    if m >= 1000:
        km = m / 1000
        return f"{km:g} km"
    return f"{m:g} m"


def _distance_text(m: float) -> str:
    return f"{m / 1000:.2f} km" if m >= 10_000 else f"{m:,.1f} m"


def _scale_bar(ax, x0: float, y0: float, width_m: float, height_m: float, font) -> float:
    """An alternating black/white bar of a round length at (x0, y0); returns its length."""
    from matplotlib.patches import Rectangle

    length = _nice_length(width_m / 4)
    half = length / 2
    for i, colour in enumerate(("black", "white")):
        ax.add_patch(Rectangle((x0 + i * half, y0), half, height_m, facecolor=colour, edgecolor="black",
                               lw=0.8, zorder=20))
    halo = _halo()
    for pos, text in ((0, "0"), (half, _length_text(half).split()[0]), (length, _length_text(length))):
        ax.text(x0 + pos, y0 + height_m * 1.6, text, ha="center", va="bottom", fontsize=7, fontproperties=font,
                zorder=21, path_effects=halo)
    return length


def _halo():
    from matplotlib import patheffects

    return [patheffects.withStroke(linewidth=2.5, foreground="white")]


def _north_arrow(ax, x: float, y: float, size_m: float, angle_rad: float, font) -> None:
    """An arrow pointing to true north (angle from grid north, radians clockwise), labelled N/北."""
    from matplotlib.patches import Polygon as MPolygon

    def rot(dx, dy):
        c, s = math.cos(-angle_rad), math.sin(-angle_rad)
        return x + dx * c - dy * s, y + dx * s + dy * c

    w = size_m * 0.35
    tip, left, right, base = rot(0, size_m / 2), rot(-w, -size_m / 2), rot(w, -size_m / 2), rot(0, -size_m / 4)
    ax.add_patch(MPolygon([tip, left, base], closed=True, facecolor="black", edgecolor="black", lw=0.8, zorder=20))
    ax.add_patch(MPolygon([tip, base, right], closed=True, facecolor="white", edgecolor="black", lw=0.8, zorder=20))
    lx, ly = rot(0, size_m / 2 + size_m * 0.12)
    ax.text(lx, ly, "N 北", ha="center", va="bottom", fontsize=8, fontweight="bold", fontproperties=font,
            zorder=21, path_effects=_halo())


def _true_north_angle(lon: float, lat: float) -> float:
    """Angle of true north from grid north at (lon, lat) in EPSG:4545 (meridian convergence)."""
    a = to_metric(shapely.Point(lon, lat))
    b = to_metric(shapely.Point(lon, min(lat + 0.01, 89.9)))
    return math.atan2(b.x - a.x, b.y - a.y)


def reference_display(parts: dict) -> tuple[str, shapely.Geometry | None]:
    """How to draw a finding's reference feature (metric geometries in ``parts``):
    ("skip", None) for an unbuffered polygon zone the site lies in (the zone is the feature);
    ("area", polygon); ("water", the river's water) for a centreline whose distance is measured
    from its shoreline (the nearest line stops half a width short of it); ("line", geometry)."""
    ref, nearest = parts.get("reference"), parts.get("nearest")
    if ref is None:
        return "skip", None
    if ref.geom_type in ("Polygon", "MultiPolygon"):
        if parts.get("boundary") is None and nearest is None:
            return "skip", None
        return "area", ref
    if nearest is not None and "Line" in ref.geom_type:
        half = float(shapely.distance(shapely.Point(nearest.coords[-1]), ref))
        if half > 1.0:
            return "water", shapely.buffer(ref, half, quad_segs=4)
    return "line", ref


def chainage_bands(answer: dict, route: shapely.Geometry) -> list[tuple[shapely.Geometry, str]]:
    """A route's intervals in each rule's zone as pieces of the drawn route, strictest effect on
    top. Chainage is geodesic and the route here metric: positions are scaled by the ratio of
    the two lengths, which is constant to well under a metre along a route."""
    if route.geom_type != "LineString" or not answer.get("chainage_length_m"):
        return []
    ratio = route.length / answer["chainage_length_m"]
    rows = [(f["effect"], s) for f in answer.get("findings") or [] for s in f.get("segments") or []]
    rows.sort(key=lambda r: -_EFFECT_ORDER.get(r[0], 9))
    return [(shapely.ops.substring(route, s["from_m"] * ratio, s["to_m"] * ratio), EFFECT_COLOURS.get(e, "#555555"))
            for e, s in rows]


def focus_radius_m(answer: dict, site_metric: shapely.Geometry) -> float:
    """Half the side of the square a map of this answer shows, centred on the site: the site,
    each nearest line, and a buffer line of up to 2 km beyond the site (metres)."""
    xmin, ymin, xmax, ymax = site_metric.bounds
    diag = math.hypot(xmax - xmin, ymax - ymin)
    r = max(300.0, 0.7 * diag)
    for f in [*answer.get("findings", []), *answer.get("conditional_findings", [])]:
        g = f.get("geometry") or {}
        d = f.get("distance_m") or 0.0
        if g.get("nearest"):
            r = max(r, d * 1.4 + 0.5 * diag)
        t = f.get("threshold_m") or 0.0
        if g.get("boundary") and 0 < t <= 2000:  # the buffer line beyond the site
            r = max(r, (t - d) * 1.3 + 0.5 * diag)
    return min(r, 3000.0 + 0.5 * diag)


def render_site_map(answer: dict, *, context: Iterable[tuple[str, dict]] = (), illustrative: bool = False,
                    fmt: str = "png", dpi: int = 200, size_in: tuple[float, float] = (7.0, 4.8)) -> bytes:
    """PNG (or SVG) bytes of the site and what binds it. ``context``: (name, GeoJSON lon/lat)
    outlines drawn lightly for orientation (district boundaries)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    family, _ = cjk_font()
    font = FontProperties(family=family)
    bold = FontProperties(family=family, weight="bold")

    site_ll = shapely.geometry.shape(answer["site"]["geometry"])
    site = to_metric(site_ll)
    rows = [(f, False) for f in answer.get("findings", [])] + [(f, True) for f in answer.get("conditional_findings", [])]
    shapes = []
    for f, conditional in rows:
        g = f.get("geometry") or {}
        shapes.append((f, conditional, {k: _metric(g.get(k)) for k in ("zone", "boundary", "reference", "nearest")}))

    cx, cy = site.centroid.x, site.centroid.y
    r = focus_radius_m(answer, site)
    aspect = size_in[0] / size_in[1]
    half_w, half_h = r * max(aspect, 1.0), r * max(1.0 / aspect, 1.0)
    x0, x1, y0, y1 = cx - half_w, cx + half_w, cy - half_h, cy + half_h

    fig = Figure(figsize=size_in, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_facecolor("#fbfbf8")
    for spine in ax.spines.values():
        spine.set_edgecolor("#444444")
        spine.set_linewidth(1.0)

    window = shapely.box(x0, y0, x1, y1)
    context_drawn = False
    for name, geojson in context:
        g = _metric(geojson)
        if g is None:
            continue
        g = shapely.intersection(shapely.boundary(g) if g.geom_type.endswith("Polygon") else g, window)
        if not g.is_empty:
            context_drawn = True
            _draw(ax, g, edge=CONTEXT_COLOUR, lw=1.2, ls=(0, (6, 2, 1, 2)), zorder=1)

    effects_seen: list[str] = [f["effect"] for f, _, _ in shapes]
    effects_seen = sorted(set(effects_seen), key=lambda x: _EFFECT_ORDER.get(x, 9))
    halo = _halo()
    # Strictest first; a zone or buffer line identical to one already drawn (two rules on the
    # same buffer of the same river) is drawn once, in the stricter colour. Stricter on top.
    drawn: set[bytes] = set()

    def first_time(geom) -> bool:
        if geom is None:
            return False
        key = shapely.to_wkb(shapely.normalize(shapely.set_precision(geom, 0.01)))
        if key in drawn:
            return False
        drawn.add(key)
        return True

    ordered = sorted(shapes, key=lambda s: (_EFFECT_ORDER.get(s[0]["effect"], 9), s[1]))
    for f, conditional, parts in ordered:
        colour = EFFECT_COLOURS.get(f["effect"], "#555555")
        strong = f["effect"] != "notice" and not conditional
        lift = (3 - _EFFECT_ORDER.get(f["effect"], 3)) * 0.1 + (0 if conditional else 0.05)
        if first_time(parts["zone"]):
            _draw(ax, parts["zone"], face=colour, edge=colour, lw=0.8 if strong else 0.7, ls="-" if strong else ":",
                  face_alpha=0.22 if strong else 0.08, alpha=0.8, zorder=2 + lift, hatch="///" if conditional else None)
        if first_time(parts["boundary"]):
            _draw(ax, parts["boundary"], edge=colour, lw=1.8 if strong else 1.2, ls=(0, (5, 3)), zorder=4 + lift)
    for f, _, parts in shapes:
        if parts["reference"] is None or not first_time(parts["reference"]):
            continue
        how, ref = reference_display(parts)
        if how == "area":
            _draw(ax, ref, face=REFERENCE_COLOUR, edge=REFERENCE_COLOUR, lw=1.0, face_alpha=0.25, zorder=5)
        elif how == "water":
            _draw(ax, shapely.intersection(ref, window), face=REFERENCE_COLOUR, edge=REFERENCE_COLOUR, lw=0.8,
                  face_alpha=0.35, zorder=5)
            _draw(ax, parts["reference"], edge=REFERENCE_COLOUR, lw=0.8, ls=(0, (8, 4)), zorder=5)
        elif how == "line":
            _draw(ax, ref, edge=REFERENCE_COLOUR, lw=2.4, zorder=5, ms=5)
    labelled: set[tuple] = set()
    for f, _, parts in shapes:
        line = parts["nearest"]
        if line is None:
            continue
        _draw(ax, line, edge="black", lw=1.4, zorder=7)
        end = shapely.Point(line.coords[-1])
        ax.plot([end.x], [end.y], marker="o", ms=3.5, color="black", zorder=8)
        key = (round(line.length, 1), f.get("feature_name"))
        if key in labelled:
            continue
        labelled.add(key)
        mid = line.interpolate(0.5, normalized=True)
        ax.annotate(_distance_text(f["distance_m"]), (mid.x, mid.y), xytext=(6, -4), textcoords="offset points",
                    fontsize=8.5, fontproperties=bold, ha="left", va="top", zorder=9, path_effects=halo)
        if f.get("feature_name"):
            ax.annotate(f["feature_name"], (end.x, end.y), xytext=(6, -14), textcoords="offset points",
                        fontsize=8.5, fontproperties=bold, color=REFERENCE_COLOUR, ha="left", va="top", zorder=9,
                        path_effects=halo)

    # The site on top.
    if site.geom_type in ("Point", "MultiPoint"):
        _draw(ax, site, edge="black", face="#ffeb3b", marker="*", ms=15, zorder=12)
    elif "Polygon" in site.geom_type:
        _draw(ax, site, face="#ffeb3b", edge="black", lw=1.6, face_alpha=0.55, zorder=12)
    else:
        _draw(ax, site, edge="black", lw=3.2, zorder=12)
        _draw(ax, site, edge="#ffeb3b", lw=1.6, zorder=13)
        for band, colour in chainage_bands(answer, site):
            _draw(ax, band, edge=colour, lw=5.0, zorder=12.5)
    label = answer.get("label") or "选址 site"
    ax.annotate(label, (cx, cy), xytext=(9, 6), textcoords="offset points", fontsize=9, fontproperties=bold,
                ha="left", va="bottom", zorder=14, path_effects=halo)

    width_m, height_m = x1 - x0, y1 - y0
    _scale_bar(ax, x0 + width_m * 0.04, y0 + height_m * 0.05, width_m, height_m * 0.012, font)
    lon, lat = site_ll.centroid.x, site_ll.centroid.y
    _north_arrow(ax, x1 - width_m * 0.05, y1 - height_m * 0.13, height_m * 0.11, _true_north_angle(lon, lat), bold)

    handles = [Line2D([], [], marker="*" if site.geom_type.endswith("Point") else "s", color="black",
                      mfc="#ffeb3b", ms=10, ls="none", label="选址 site")]
    for effect in effects_seen:
        colour = EFFECT_COLOURS.get(effect, "#555555")
        handles.append(Patch(facecolor=colour, edgecolor=colour, alpha=0.35,
                             label=f"{EFFECT_ZH.get(effect, effect)}区 {EFFECT_EN.get(effect, effect)} zone"))
    if any(p["boundary"] is not None for _, _, p in shapes):
        handles.append(Line2D([], [], color="#444444", lw=1.6, ls=(0, (5, 3)), label="缓冲线 buffer line"))
    if any(p["reference"] is not None for _, _, p in shapes):
        handles.append(Patch(facecolor=REFERENCE_COLOUR, edgecolor=REFERENCE_COLOUR, alpha=0.45,
                             label="参照要素 reference feature"))
    if any(p["nearest"] is not None for _, _, p in shapes):
        handles.append(Line2D([], [], color="black", lw=1.3, label="最近距离 nearest distance"))
    if context_drawn:
        handles.append(Line2D([], [], color=CONTEXT_COLOUR, lw=1.2, ls=(0, (6, 2, 1, 2)), label="行政区界 district"))
    legend = ax.legend(handles=handles, loc="lower right", prop=FontProperties(family=family, size=7),
                       framealpha=0.9, fancybox=False, edgecolor="#888888")
    legend.set_zorder(30)

    note = "EPSG:4545 CGCS2000 / 3° GK CM 108E"
    if illustrative:
        note = f"{ILLUSTRATIVE_ZH} · {ILLUSTRATIVE_EN}    {note}"
    ax.text(x0 + width_m * 0.01, y1 - height_m * 0.015, note, fontsize=6.5, fontproperties=font, ha="left",
            va="top", zorder=22, color="#b71c1c" if illustrative else "#333333", path_effects=halo)
    if answer.get("verdict") == "not_covered":
        ax.text(cx, y0 + height_m * 0.22, "不在已载入规划范围内 · not covered by any loaded plan", fontsize=9,
                fontproperties=bold, color=EFFECT_COLOURS["not_covered"], ha="center", zorder=22, path_effects=halo)

    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    return buf.getvalue()
