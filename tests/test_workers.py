"""`ecozone serve --workers 2` as deployed: publishes through either worker get distinct
versions, and every worker serves the new data version within a second."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pyogrio
import pytest

from ecozone.layers.demo import read_demo_layer
from servers import ECOZONE, Server

pytestmark = pytest.mark.slow


def _health(base: str) -> dict:
    # A new connection per request, so the kernel hands requests to either worker.
    with httpx.Client(base_url=base, timeout=5) as c:
        return c.get("/healthz").json()


@pytest.fixture(params=["embedded", pytest.param("postgis", marks=pytest.mark.postgis)])
def two_workers(request, tmp_path):
    env = {**os.environ, "ECOZONE_DATA_DIR": str(tmp_path / "data"), "ECOZONE_REFRESH_INTERVAL_S": "0.2",
           "NO_COLOR": "1"}
    if request.param == "postgis":
        # A PostGIS store never loads the illustrative demo by itself: `ecozone demo load` does.
        env["ECOZONE_DATABASE_URL"] = request.getfixturevalue("pg_database_url")
        subprocess.run(ECOZONE + ["demo", "load"], env=env, check=True, capture_output=True, timeout=300)
    server = Server(env, tmp_path / "serve.log", "--workers", "2").start()
    deadline = time.time() + 60
    pids: set[int] = set()
    try:
        while len(pids) < 2:  # both workers answering
            pids.add(_health(server.base)["worker_pid"])
            if time.time() > deadline:
                pytest.fail(f"only saw workers {pids}")
        token = subprocess.run(ECOZONE + ["token", "create", "--name", "gis-a", "--role", "editor"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip()
        yield server.base, token, env, pids
    finally:
        server.stop()


def _moved_red_lines(tmp_path: Path, dx: float) -> Path:
    frame = read_demo_layer("red_lines")
    frame = frame.assign(geometry=frame.geometry.translate(dx, 0.0))
    path = tmp_path / f"red-{dx}.geojson"
    pyogrio.write_dataframe(frame, path, driver="GeoJSON")
    return path


def test_concurrent_publishes_through_two_workers_and_every_worker_follows(two_workers, tmp_path):
    base, token, env, pids = two_workers
    before = _health(base)["data_version"]
    files = [_moved_red_lines(tmp_path, dx) for dx in (0.3, 0.6)]
    answers: list[httpx.Response] = [None, None]  # type: ignore[list-item]

    def put(k: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as c, open(files[k], "rb") as fh:
            answers[k] = c.put("/v1/layers/red_lines", headers={"Authorization": f"Bearer {token}"},
                               files={"file": (files[k].name, fh, "application/geo+json")},
                               data={"comment": f"move {k}"})

    threads = [threading.Thread(target=put, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    published = time.monotonic()
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert sorted(a.json()["version"] for a in answers) == [2, 3]
    last = max((a.json() for a in answers), key=lambda j: j["version"])
    assert last["data_version"] != before

    # Every worker serves the last publish's data version within a second.
    seen: dict[int, float] = {}
    while len(seen) < len(pids) and time.monotonic() - published < 5:
        h = _health(base)
        if h["data_version"] == last["data_version"]:
            seen.setdefault(h["worker_pid"], time.monotonic() - published)
    assert set(seen) == pids, f"workers that never served the new version: {pids - set(seen)}"
    assert max(seen.values()) < 1.0, seen

    with httpx.Client(base_url=base, timeout=10) as c:
        versions = c.get("/v1/layers/red_lines/versions").json()
        assert [v["version"] for v in versions] == [1, 2, 3]
        assert {v["created_by"] for v in versions[1:]} == {"gis-a"}
        audit = c.get("/v1/audit").json()
        assert sorted(e["version"] for e in audit if e["action"] == "publish" and e["layer_id"] == "red_lines")[-2:] == [2, 3]
    if "ECOZONE_DATABASE_URL" not in env:
        # Every version file on disk is referenced: no collision, no stray temporary file.
        files_on_disk = sorted(p.name for p in (Path(env["ECOZONE_DATA_DIR"]) / "layers" / "red_lines").iterdir())
        assert len(files_on_disk) == 3 and all(name.startswith(("v1-", "v2-", "v3-")) for name in files_on_disk)


def test_a_token_revoked_on_the_cli_is_refused_by_every_worker(two_workers, tmp_path):
    base, token, env, pids = two_workers
    subprocess.run(ECOZONE + ["token", "revoke", "gis-a"], env=env, check=True, capture_output=True)
    path = _moved_red_lines(tmp_path, 0.2)
    for _ in range(6):
        with httpx.Client(base_url=base, timeout=60) as c, open(path, "rb") as fh:
            r = c.put("/v1/layers/red_lines", headers={"Authorization": f"Bearer {token}"},
                      files={"file": (path.name, fh, "application/geo+json")})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert json.loads(subprocess.run(ECOZONE + ["layers", "versions", "red_lines"], env=env, capture_output=True,
                                     text=True, check=True).stdout)[-1]["version"] == 1
