"""Every bad request is a 4xx in the contract's error shape, with a zh/en message and a
`detail` saying what was wrong and where — never a 500."""

from __future__ import annotations

import pytest


def assert_error_shape(resp, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    err = body["error"]
    assert set(err) >= {"code", "message", "detail"}
    assert err["message"]["zh"] and err["message"]["en"]
    assert isinstance(err["detail"], dict)
    if code:
        assert err["code"] == code, err
    return err


POINT = {"type": "Point", "coordinates": [107.76, 29.33]}


@pytest.mark.parametrize(
    "body, code, where",
    [
        ({"geometry": POINT, "project_type": "nuclear_plant"}, "unknown_project_type", None),
        ({"geometry": {"type": "Point"}}, "invalid_geometry", "geometry.coordinates"),
        ({"geometry": {"type": "Circle", "coordinates": [1, 2]}}, "invalid_geometry", "geometry.type"),
        ({"geometry": {"type": "Point", "coordinates": ["a", 2]}}, "invalid_geometry", "coordinates"),
        ({"geometry": {"type": "Point", "coordinates": [[107.7, 29.3]]}}, "invalid_geometry", "coordinates"),
        ({"geometry": {"type": "LineString", "coordinates": [[107.7, 29.3]]}}, "invalid_geometry", "coordinates"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[107.7, 29.3], [107.8, 29.3], [107.8, 29.4]]]}},
         "invalid_geometry", "coordinates[0]"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[107.7, 29.3], [107.8, 29.3], [107.8, 29.4],
                                                           [107.71, 29.31]]]}}, "invalid_geometry", "coordinates[0]"),
        ({"geometry": {"type": "Polygon", "coordinates": [[[107.7, 29.3], [107.8, 29.4], [107.8, 29.3],
                                                           [107.7, 29.4], [107.7, 29.3]]]}},  # bow-tie
         "invalid_geometry", "geometry.coordinates"),
        ({"geometry": "POINT (107 29)"}, "invalid_request", "geometry"),
        ({"geometry": {"type": "Point", "coordinates": [191.0, 29.3]}}, "coordinates_out_of_range", "vertex 0"),
        ({"geometry": {"type": "Point", "coordinates": [36_500_000.0, 3_250_000.0]}, "crs": "EPSG:4545"},
         "coordinates_out_of_range", "vertex 0"),
        ({"geometry": POINT, "crs": "EPSG:123456789"}, "unknown_crs", None),
        ({"geometry": POINT, "crs": "BD11"}, "unknown_crs", None),
        ({"geometry": {"type": "LineString", "coordinates": [[105.5, 29.0], [107.5, 29.0]]}},
         "geometry_too_large", "geometry"),
        ({"geometry": {"type": "MultiPoint", "coordinates": [[107.7 + i * 1e-6, 29.3] for i in range(20_001)]}},
         "geometry_too_large", "geometry.coordinates"),
        ({}, "invalid_request", "geometry"),
        ({"geometry": POINT, "label": "x" * 500}, "invalid_request", "label"),
    ],
)
def test_bad_siting_requests_are_422_with_the_error_shape(client, body, code, where):
    err = assert_error_shape(client.post("/v1/siting/check", json=body), 422, code)
    if where:
        assert err["detail"].get("where", "").startswith(where), err["detail"]


def test_non_json_body_is_422(client):
    resp = client.post("/v1/siting/check", content=b"lon=107&lat=29", headers={"content-type": "application/json"})
    assert_error_shape(resp, 422, "invalid_request")


def test_unknown_path_and_wrong_method_use_the_error_shape(client):
    assert_error_shape(client.get("/v1/nothing-here"), 404)
    assert_error_shape(client.get("/v1/siting/check"), 405)
    assert_error_shape(client.get("/v1/layers/no-such-layer"), 404, "not_found")


def test_unknown_project_type_filter_on_rules_is_422(client):
    assert_error_shape(client.get("/v1/rules", params={"project_type": "spaceport"}), 422, "unknown_project_type")
