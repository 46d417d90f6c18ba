"""Truthful answers, as a new user meets them through the HTTP API on the demo data: never
"permitted" where nothing was checked, input that cannot be what it claims refused with the
likely fix, projects with several characteristics, the plans' exceptions, and data versions
that two installs of the same data agree on. Expected values come from the demo layers and
pyproj.Geod, never from ecozone's own geometry code."""

from __future__ import annotations

import pytest
import shapely
from eviltransform import wgs2bd
from pyproj import Transformer

from ecozone.layers.demo import load_demo_layers
from ecozone.layers.store import EmbeddedStore
from ecozone.service import Service
from geo import GEOD
from test_api_errors import assert_error_shape


def check(client, geometry, **body):
    resp = client.post("/v1/siting/check", json={"geometry": geometry, **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def point(lon, lat):
    return {"type": "Point", "coordinates": [lon, lat]}


def inside(frame, **where):
    """A point inside the (first) demo feature matching `where`."""
    rows = frame
    for k, v in where.items():
        rows = rows[rows[k].astype(str) == str(v)]
    assert len(rows), f"no demo feature {where}"
    p = rows.geometry.iloc[0].representative_point()
    return p.x, p.y


def finding(answer, rule_id):
    return next((f for f in answer["findings"] if f["rule_id"] == rule_id), None)


# --- coverage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("lon, lat, where", [
    (116.397, 39.909, "Beijing"), (106.574, 29.557, "渝中区: Chongqing, in none of the five plans"), (0.0, 0.0, "(0, 0)"),
])
def test_a_site_where_no_plan_is_loaded_is_not_covered_never_permitted(client, lon, lat, where):
    for project_type in (None, "tourism", "heavy_chemical"):
        a = check(client, point(lon, lat), **({"project_type": project_type} if project_type else {}))
        assert a["verdict"] == "not_covered", where
        assert a["findings"] == []
        assert a["coverage"]["covered"] is False and a["coverage"]["covered_ratio"] == 0
        assert "no rule was checked" in a["coverage"]["note"]["en"]


def _box_across_the_border(district, side_m=2000.0):
    """A square ~side_m wide centred on the southernmost vertex of a district outline: about a
    quarter to a half of it lies outside."""
    xy = shapely.get_coordinates(district.exterior if district.geom_type == "Polygon" else
                                 max(district.geoms, key=lambda g: g.area).exterior)
    lon, lat = xy[xy[:, 1].argmin()]
    half = side_m / 2
    east, _, _ = GEOD.fwd(lon, lat, 90, half)
    west, _, _ = GEOD.fwd(lon, lat, 270, half)
    _, north, _ = GEOD.fwd(lon, lat, 0, half)
    _, south, _ = GEOD.fwd(lon, lat, 180, half)
    return shapely.box(west, south, east, north)


def test_a_polygon_partly_outside_reports_its_covered_share_by_area(client, demo_layer):
    districts = demo_layer("districts")
    wulong = districts[districts["code"] == "500156"].geometry.iloc[0]
    site = _box_across_the_border(wulong)
    expected = abs(GEOD.geometry_area_perimeter(site.intersection(wulong))[0]) / abs(
        GEOD.geometry_area_perimeter(site)[0])
    assert 0.05 < expected < 0.95
    a = check(client, shapely.geometry.mapping(site), project_type="heavy_chemical")
    cov = a["coverage"]
    assert a["verdict"] != "not_covered" and cov["covered"] is True
    assert abs(cov["covered_ratio"] - expected) < 0.005, (cov["covered_ratio"], expected)
    assert cov["jurisdictions_missing"] is True
    assert f"{expected * 100:.0f}" in cov["note"]["zh"].replace(".", "")[:40] or cov["note"]["en"].startswith("Only")


def test_a_line_partly_outside_reports_its_covered_share_by_length(client, demo_layer):
    districts = demo_layer("districts")
    wulong = districts[districts["code"] == "500156"].geometry.iloc[0]
    box = _box_across_the_border(wulong, 4000.0)
    x0, y0, x1, y1 = box.bounds
    cx = (x0 + x1) / 2  # through the district's southernmost vertex, from outside (south) to inside
    line = shapely.LineString([(cx - 0.002, y0), (cx, (y0 + y1) / 2), (cx + 0.002, y1)])
    inside_part = line.intersection(wulong)
    expected = GEOD.geometry_length(inside_part) / GEOD.geometry_length(line)
    assert 0.02 < expected < 0.98
    a = check(client, shapely.geometry.mapping(line))
    assert abs(a["coverage"]["covered_ratio"] - expected) < 0.005


def test_a_site_wholly_inside_is_fully_covered(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    cov = check(client, point(lon, lat))["coverage"]
    assert cov == {"covered": True, "covered_ratio": 1.0, "jurisdictions_missing": False, "note": None}


# --- input that cannot be what it claims --------------------------------------------------------

def test_lonlat_numbers_sent_as_web_mercator_are_refused_with_the_likely_crs(client):
    err = assert_error_shape(
        client.post("/v1/siting/check", json={"geometry": point(107.76, 29.33), "crs": "EPSG:3857"}),
        422, "coordinates_implausible_for_crs")
    assert err["detail"]["likely_crs"] == "EPSG:4326"
    assert "EPSG:4326" in err["message"]["en"] and "EPSG:4326" in err["message"]["zh"]


def test_gauss_kruger_metres_sent_in_the_wrong_zone_are_refused_with_the_right_zone(client):
    x, y = Transformer.from_crs(4326, 4545, always_xy=True).transform(107.76, 29.33)
    err = assert_error_shape(
        client.post("/v1/siting/check", json={"geometry": point(x, y), "crs": "EPSG:4547"}), 422,
        "coordinates_implausible_for_crs")
    assert err["detail"]["likely_crs"] == "EPSG:4545"
    # The same numbers with the right zone are answered.
    assert check(client, point(x, y), crs="EPSG:4545")["jurisdictions"][0]["code"] == "500156"


def test_a_misspelt_field_is_refused_not_answered_for_every_rule(client):
    err = assert_error_shape(
        client.post("/v1/siting/check", json={"geometry": point(107.76, 29.33), "project-type": "heavy_chemical"}),
        422, "unknown_field")
    assert err["detail"]["where"] == "project-type" and err["detail"]["did_you_mean"] == "project_type"


@pytest.mark.parametrize("posted", [
    {"type": "Feature", "properties": {}, "geometry": point(107.76, 29.33)},
    {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": point(107.76, 29.33)}]},
])
def test_a_feature_posted_as_the_geometry_is_refused_and_says_so(client, posted):
    err = assert_error_shape(client.post("/v1/siting/check", json={"geometry": posted}), 422, "invalid_geometry")
    assert posted["type"] in err["message"]["en"] and "geometry" in err["message"]["en"]


def test_baidu_bd09_clicks_are_converted_back_to_wgs84(client, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    # eviltransform's independent implementation (note the lat, lon order). fast-geocn's BD-09
    # drops Baidu's 3000/180 factor and lands ~10 m away, so it is not the reference here.
    blat, blon = wgs2bd(lat, lon)
    assert GEOD.inv(lon, lat, blon, blat)[2] > 500  # Baidu's offset is large here: it matters
    a = check(client, point(blon, blat), crs="BD09", project_type="heavy_chemical")
    back = a["site"]["geometry"]["coordinates"]
    assert GEOD.inv(lon, lat, back[0], back[1])[2] < 1.0
    assert a["site"]["input_crs"] == "BD09" and a["verdict"] == "prohibited"


# --- projects with several characteristics -----------------------------------------------------

def test_chemical_plant_in_the_guanba_cluster_is_restricted(client, demo_layer):
    lon, lat = inside(demo_layer("industrial_parks"), name="关坝组团")
    for code in ("chemical", "papermaking", "dyeing"):
        a = check(client, point(lon, lat), project_type=code)
        f = finding(a, "wansheng-guanba-water-polluting-industry")
        assert f is not None and f["effect"] == "restricted", code
        assert a["verdict"] == "restricted", (code, [x["rule_id"] for x in a["findings"]])


def test_textile_mill_in_a_fuling_class_1_noise_zone_is_prohibited(client, demo_layer):
    lon, lat = inside(demo_layer("noise_zones"), feature_id="fuling-city-class1")
    a = check(client, point(lon, lat), project_type="textile")
    assert a["verdict"] == "prohibited"
    assert finding(a, "fuling-noise-sensitive-industry")["effect"] == "prohibited"


def test_heavy_chemical_plant_in_a_yubei_class_1_zone_is_prohibited_by_the_noise_rule(client, demo_layer):
    lon, lat = inside(demo_layer("noise_zones"), feature_id="yubei-lianglu-class1")
    a = check(client, point(lon, lat), project_type="heavy_chemical")
    assert a["verdict"] == "prohibited"
    assert finding(a, "yubei-noise-class1-industry") is not None


def test_a_list_of_characteristics_and_chinese_names_are_accepted(client, demo_layer):
    lon, lat = inside(demo_layer("noise_zones"), feature_id="yubei-lianglu-class1")
    generic = check(client, point(lon, lat), project_type="construction")
    assert finding(generic, "yubei-noise-class1-industry") is None
    a = check(client, point(lon, lat), project_type=["construction", "noisy_industry"])
    assert a["project_type"] == ["construction", "noisy_industry"]
    assert finding(a, "yubei-noise-class1-industry") is not None and a["verdict"] == "prohibited"
    zh = check(client, point(lon, lat), project_type="重化工项目")
    assert zh["project_type"] == "heavy_chemical" and zh["verdict"] == "prohibited"


@pytest.mark.parametrize("bad, where", [("spaceport", "project_type"), (["chemical", "spaceport"], "project_type[1]"),
                                        ([], "project_type")])
def test_an_unknown_type_in_a_list_is_refused(client, bad, where):
    err = assert_error_shape(
        client.post("/v1/siting/check", json={"geometry": point(107.76, 29.33), "project_type": bad}), 422,
        "unknown_project_type")
    assert err["detail"]["where"] == where


def test_project_types_list_every_parent(client):
    types = {t["code"]: t for t in client.get("/v1/project-types").json()}
    assert types["dyeing"]["parent"] == "polluting_industry"
    assert {"polluting_industry", "water_polluting_industry"} <= set(types["dyeing"]["parents"])
    assert all(t["parent"] == (t["parents"][0] if t["parents"] else None) for t in types.values())


# --- exceptions ---------------------------------------------------------------------------------

def test_every_red_line_finding_shows_its_exception(client, demo_layer):
    red = demo_layer("red_lines")
    seen = 0
    for _, row in red.iterrows():
        p = row.geometry.representative_point()
        a = check(client, point(p.x, p.y), project_type="real_estate")
        red_findings = [f for f in a["findings"] if f["layer"] == "red_lines"]
        assert red_findings, row["name"]
        assert a["verdict"] == "prohibited", row["name"]
        for f in red_findings:
            exc = f["exception"]
            assert exc and exc["zh"] and exc["en"] and exc["text"], f["rule_id"]
        seen += 1
    assert seen == 5


# --- reproducible data versions ------------------------------------------------------------------

def test_two_fresh_installs_of_the_same_data_agree_on_the_data_version(tmp_path, catalog):
    versions = []
    for name in ("a", "b"):
        store = EmbeddedStore(tmp_path / name)
        load_demo_layers(store)
        versions.append(Service(store, catalog).snapshot.data_version)
    assert versions[0] == versions[1]
    # …and it is about content: one moved vertex gives another version.
    store = EmbeddedStore(tmp_path / "b")
    info = next(i for i in store.list_layers() if i.id == "red_lines")
    frame = store.read("red_lines").copy()
    frame.loc[0, "geometry"] = shapely.affinity.translate(frame.geometry.iloc[0], 0.0001, 0)
    store.publish("red_lines", info.name, info.kind, frame, "EPSG:4326")
    assert Service(store, catalog).snapshot.data_version != versions[0]
