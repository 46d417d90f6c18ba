"""POST /v1/siting/check on its fast path (issue 18): the answer is exactly the one `run_check`
gives (the CLI's answer), bad input still gets the contract's errors, a slow line/polygon check
never holds up the point checks of other clients, and `ecozone serve --workers 2` answers a lone
keep-alive client without the ~40 ms delayed-ACK stall."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import statistics
import threading
import time
from types import SimpleNamespace

import anyio.to_thread
import httpx
import pytest

import ecozone.routers.siting as siting_router
from ecozone.checks import SitingRequest, layer_versions, run_check
from ecozone.main import create_app
from ecozone.service import Snapshot
from ecozone.settings import Settings
from servers import Server

POINT = {"type": "Point", "coordinates": [107.75915, 29.32441]}  # beside the Wu River at Wulong
POLYGON = {"type": "Polygon", "coordinates": [[[107.75, 29.32], [107.77, 29.32], [107.77, 29.335],
                                              [107.75, 29.335], [107.75, 29.32]]]}
LINE = {"type": "LineString", "coordinates": [[107.70, 29.30], [107.76, 29.33], [107.80, 29.36]]}

REQUESTS = [
    ({"geometry": POINT, "project_type": "heavy_chemical"}, False),
    ({"geometry": POINT}, False),
    ({"geometry": POINT, "project_type": ["heavy_chemical", "textile"], "label": "拟选址A"}, False),
    ({"geometry": {"type": "Point", "coordinates": [107.76, 29.33]}, "crs": "GCJ02",
      "project_type": "重化工项目"}, False),
    ({"geometry": {"type": "Point", "coordinates": [476_000.0, 3_245_000.0]}, "crs": "EPSG:4545"}, False),
    ({"geometry": {"type": "Point", "coordinates": [104.0, 30.6]}}, False),  # outside every plan
    ({"geometry": POINT, "project_type": "heavy_chemical"}, True),
    ({"geometry": POLYGON, "project_type": "heavy_chemical"}, False),
    ({"geometry": POLYGON, "project_type": "heavy_chemical"}, True),
    ({"geometry": LINE, "project_type": "heavy_chemical"}, False),
]


def _plain(answer: dict):
    """The answer as a client reads it (tuples become lists)."""
    return json.loads(json.dumps(answer, ensure_ascii=False))


@pytest.mark.parametrize("body, with_geometry", REQUESTS)
def test_http_answer_is_run_checks_answer(client, demo_service, body, with_geometry):
    resp = client.post("/v1/siting/check" + ("?include=geometry" if with_geometry else ""), json=body)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    settings = client.app.state.settings
    expected = run_check(demo_service, settings, SitingRequest(**body), with_geometry=with_geometry)
    assert resp.json() == _plain(expected)
    # The field order is part of the contract too.
    assert list(resp.json()) == list(expected)
    assert "NaN" not in resp.text and "Infinity" not in resp.text


def _error(resp, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    err = resp.json()["error"]
    assert err["code"] == code, err
    assert err["message"]["zh"] and err["message"]["en"]
    return err["detail"]


def test_malformed_bodies_keep_the_contract_errors(client):
    url = "/v1/siting/check"
    detail = _error(client.post(url, content=b'{"geometry": {"type":"Point","coordinates":[107.7,29.3]}',
                                headers={"content-type": "application/json"}), 422, "invalid_request")
    assert detail["where"] == "56" and detail["problems"][0]["type"] == "json_invalid"
    detail = _error(client.post(url, content=b"", headers={"content-type": "application/json"}),
                    422, "invalid_request")
    assert detail["where"] == "body"
    detail = _error(client.post(url, json={"geometry": POINT, "project-type": "heavy_chemical"}),
                    422, "unknown_field")
    assert detail == {"where": "project-type", "did_you_mean": "project_type",
                      "allowed": ["geometry", "crs", "project_type", "label"]}
    detail = _error(client.post(url, json={"geometry": POINT, "label": "x" * 201}), 422, "invalid_request")
    assert detail["where"] == "label"
    detail = _error(client.post(url + "?include=everything", json={"geometry": POINT}), 422, "invalid_request")
    assert detail["where"] == "query.include"
    # Errors raised inside the check itself, on the loop (a point) and in the threadpool (a polygon).
    detail = _error(client.post(url, json={"geometry": POINT, "project_type": "nuclear_plant"}),
                    422, "unknown_project_type")
    detail = _error(client.post(url, json={"geometry": {"type": "Point", "coordinates": [191.0, 29.3]}}),
                    422, "coordinates_out_of_range")
    assert detail["where"] == "vertex 0"
    bad_ring = {"type": "Polygon", "coordinates": [[[107.7, 29.3], [107.8, 29.3], [107.8, 29.4]]]}
    detail = _error(client.post(url, json={"geometry": bad_ring}), 422, "invalid_geometry")
    assert detail["where"].startswith("coordinates[0]")


def test_openapi_still_documents_the_check(client):
    op = client.get("/openapi.json").json()["paths"]["/v1/siting/check"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/SitingRequest")
    assert [p["name"] for p in op["parameters"]] == ["include"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "object"
    assert client.get("/docs").status_code == 200


def test_layer_versions_follow_the_snapshot():
    def snap(*versions):
        layers = [SimpleNamespace(id=f"layer-{i}", version=v) for i, v in enumerate(versions)]
        return Snapshot(engine=None, layers=layers, data_version="x")

    a, b = snap(1, 2), snap(1, 3)
    assert layer_versions(a) == {"layer-0": 1, "layer-1": 2}
    assert layer_versions(b) == {"layer-0": 1, "layer-1": 3}  # a new snapshot, new versions
    assert layer_versions(a) == {"layer-0": 1, "layer-1": 2}


def test_a_slow_check_does_not_hold_up_point_checks(demo_service, tmp_path, monkeypatch):
    """A polygon check runs in the threadpool, so while one is in progress the event loop keeps
    answering point checks — even with the threadpool down to one thread, held by the polygon
    (a point check needs no thread at all). No timing: the polygon check waits until a point
    check has been answered; were it on the loop, that could never happen and it would give up."""
    app = create_app(Settings(data_dir=tmp_path), demo_service)
    polygon_started, point_answered = threading.Event(), threading.Event()
    seen: dict = {}

    def run_check_waiting(service, settings, req, with_geometry=False):
        if req.geometry["type"] != "Point":
            polygon_started.set()
            seen["point answered meanwhile"] = point_answered.wait(20)
        return run_check(service, settings, req, with_geometry=with_geometry)

    monkeypatch.setattr(siting_router, "run_check", run_check_waiting)

    async def scenario():
        anyio.to_thread.current_default_thread_limiter().total_tokens = 1
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ecozone", timeout=60) as c:
            url = "/v1/siting/check"
            assert (await c.post(url, json={"geometry": POINT})).status_code == 200  # the snapshot is warm
            slow = asyncio.create_task(c.post(url, json={"geometry": POLYGON, "project_type": "heavy_chemical"}))
            assert await asyncio.get_running_loop().run_in_executor(None, polygon_started.wait, 20)
            point = await c.post(url, json={"geometry": POINT, "project_type": "heavy_chemical"})
            point_answered.set()
            return point, await slow

    point, polygon = asyncio.run(scenario())
    assert point.status_code == 200 and point.json()["verdict"] == "prohibited"
    assert polygon.status_code == 200
    assert seen["point answered meanwhile"] is True


@pytest.mark.slow
def test_two_workers_answer_a_lone_keep_alive_client_without_delayed_ack_stalls(tmp_path):
    """Without TCP_NODELAY on the listening socket the workers inherit, every keep-alive
    response waits ~40 ms for a delayed ACK. Functional, not a benchmark: the bound is loose."""
    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}
    log = tmp_path / "serve.log"
    server = Server(env, log, "--workers", "2").start()
    body = json.dumps({"geometry": POINT, "project_type": "heavy_chemical"})
    try:
        workers: set[int] = set()
        for _ in range(20):  # connections until both workers have answered one
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                conn.request("GET", "/healthz")
                resp = conn.getresponse()
                pid = json.loads(resp.read())["worker_pid"]
                if pid in workers:
                    continue
                workers.add(pid)
                took = []
                for _ in range(50):
                    t0 = time.perf_counter()
                    conn.request("POST", "/v1/siting/check", body, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    answer = json.loads(resp.read())
                    took.append(time.perf_counter() - t0)
                    assert resp.status == 200 and answer["verdict"] == "prohibited"
                assert statistics.median(took) < 0.020, f"worker {pid}: median {statistics.median(took) * 1000:.1f} ms"
            finally:
                conn.close()
            if len(workers) == 2:
                break
        assert workers, "no worker answered"
    finally:
        server.stop()
    # Requests are not logged one by one unless `ecozone serve --access-log` asks for it.
    assert "POST /v1/siting/check" not in log.read_text(errors="replace")

