"""The read endpoints: rules, project types, layers, health and the OpenAPI document."""

from __future__ import annotations

CONTRACT_TYPES = {
    "construction", "industrial", "polluting_industry", "chemical", "heavy_chemical", "textile", "papermaking",
    "dyeing", "heavy_metal", "industrial_park", "chemical_park", "tailings_pond", "mining", "livestock_farm",
    "real_estate", "entertainment_venue", "tourism",
}


def test_project_types(client):
    rows = client.get("/v1/project-types").json()
    by_code = {r["code"]: r for r in rows}
    assert CONTRACT_TYPES <= set(by_code)
    assert by_code["heavy_chemical"]["parent"] == "chemical"
    assert by_code["construction"]["parent"] is None
    assert all(r["name"]["zh"] and r["name"]["en"] for r in rows)


def test_rules_listing_has_the_contract_fields(client, catalog):
    rows = client.get("/v1/rules").json()
    assert len(rows) == len(catalog.rules)
    for r in rows:
        assert {"rule_id", "jurisdiction", "effect", "applies_to", "zone", "message", "citation"} <= set(r)
        assert {"layer_kind", "filter", "buffer_m"} <= set(r["zone"])
        assert {"document", "section", "text"} <= set(r["citation"])
        assert r["effect"] in ("prohibited", "restricted", "notice")
    wulong = client.get("/v1/rules", params={"jurisdiction": "500156"}).json()
    assert wulong and all(r["jurisdiction"] == "500156" for r in wulong)
    one = next(r for r in wulong if r["rule_id"] == "wulong-wu-river-1km")
    assert one["zone"] == {"layer_kind": "river", "filter": {"name": ["乌江"]}, "buffer_m": 1000.0,
                           "measured_from": "shoreline", "complement": False, "downstream_sector": None}


def test_rules_for_a_project_type_include_its_ancestors_rules(client):
    ids = {r["rule_id"] for r in client.get("/v1/rules", params={"project_type": "heavy_chemical"}).json()}
    assert "wulong-wu-river-1km" in ids  # names polluting_industry, an ancestor
    assert "fuling-red-line" in ids  # names construction, the root
    assert "yubei-simountain-real-estate" not in ids


def test_layers_listing(client):
    rows = client.get("/v1/layers").json()
    ids = {r["id"] for r in rows}
    assert {"districts", "rivers", "red_lines", "protected_areas", "industrial_parks"} <= ids
    for r in rows:
        assert {"id", "name", "kind", "version", "feature_count", "geometry_type", "bbox", "source_crs",
                "updated_at"} <= set(r)
        xmin, ymin, xmax, ymax = r["bbox"]
        assert 104 < xmin < xmax < 111 and 27.5 < ymin < ymax < 33
    one = client.get("/v1/layers/rivers").json()
    assert one["kind"] == "river" and one["version"] == 1 and one["feature_count"] > 5


def test_health_and_openapi(client):
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and len(h["data_version"]) == 16
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/siting/check", "/v1/rules", "/v1/project-types", "/v1/layers", "/healthz"} <= set(paths)
