"""The console command as a user runs it: `ecozone check` in a fresh data directory, and
`ecozone serve` answering over real HTTP on a free port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ECOZONE = [sys.executable, "-c", "from ecozone.cli import main; main()"]


def _env(data_dir: Path) -> dict:
    return {**os.environ, "ECOZONE_DATA_DIR": str(data_dir), "NO_COLOR": "1", "COLUMNS": "200"}


def test_check_json_in_a_fresh_data_dir(tmp_path, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    out = subprocess.run(
        ECOZONE + ["check", "--lon", str(lon), "--lat", str(lat), "--project-type", "heavy_chemical", "--json"],
        env=_env(tmp_path / "data"), capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["verdict"] == "prohibited"
    assert "wulong-wu-river-1km" in [f["rule_id"] for f in answer["findings"]]
    assert (tmp_path / "data" / "catalog.sqlite").exists()  # demo layers loaded on first start


def test_check_table_and_bad_input(tmp_path, wu_river_site):
    lon, lat, _ = wu_river_site(500)
    env = _env(tmp_path / "data")
    out = subprocess.run(ECOZONE + ["check", "--lon", str(lon), "--lat", str(lat), "-t", "heavy_chemical"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "PROHIBITED" in out.stdout and "wulong-wu-river-1km" in out.stdout and "第五章 第一节" in out.stdout
    bad = subprocess.run(ECOZONE + ["check", "--lon", "107.7", "--lat", "29.3", "-t", "spaceport"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "unknown_project_type" in bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_over_http(tmp_path, wu_river_site):
    port = _free_port()
    proc = subprocess.Popen(ECOZONE + ["serve", "--port", str(port)], env=_env(tmp_path / "data"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                health = json.load(urllib.request.urlopen(base + "/healthz", timeout=2))
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail("server did not start:\n" + (proc.stdout.read() if proc.poll() is not None else ""))
                time.sleep(0.3)
        assert health["status"] == "ok" and health["data_version"]
        lon, lat, _ = wu_river_site(3000)
        req = urllib.request.Request(
            base + "/v1/siting/check", method="POST", headers={"content-type": "application/json"},
            data=json.dumps({"geometry": {"type": "Point", "coordinates": [lon, lat]},
                             "project_type": "industrial_park"}).encode(),
        )
        answer = json.load(urllib.request.urlopen(req, timeout=10))
        assert answer["verdict"] == "prohibited"
        assert "wulong-wu-river-5km-industrial-park" in [f["rule_id"] for f in answer["findings"]]
        openapi = json.load(urllib.request.urlopen(base + "/openapi.json", timeout=5))
        assert "/v1/siting/check" in openapi["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
