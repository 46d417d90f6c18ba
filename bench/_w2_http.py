"""W2 — checks over HTTP: `ecozone serve --workers 1|2` under hey (every request recorded, CSV)
at 1/16/64 clients, cross-checked with wrk (Lua script cycling through many points)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from _common import Table, random_points_in
from _pg import free_port

PROJECT_TYPE = "heavy_chemical"
PATH = "/v1/siting/check"

WRK_LUA = """-- cycles through the bodies in %(bodies)s, one per request
local bodies = {}
for line in io.lines("%(bodies)s") do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("WRKJSON {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, " ..
    "\\"errors\\": %%d, \\"non2xx\\": %%d}\\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, summary.errors.status))
end
"""


def _pin(cmd: list[str]) -> tuple[list[str], str]:
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > 1:
        return ["taskset", "-c", "0", *cmd], "pinned to CPU 0 with taskset (the server's processes are not pinned)"
    return cmd, "not pinned (no taskset or one core)"


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status


def _post(url: str, body: bytes) -> dict:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Server:
    def __init__(self, tmp: Path, workers: int):
        self.port = free_port()
        self.data = tmp / f"w2-data-{workers}"
        env = {**os.environ, "ECOZONE_DATA_DIR": str(self.data), "NO_COLOR": "1"}
        env.pop("ECOZONE_DATABASE_URL", None)
        self.t0 = time.perf_counter()
        self.log = open(tmp / f"w2-serve-{workers}.log", "wb")
        # Its own session, so stopping it stops its worker processes (by this process group's id).
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from ecozone.cli import main; main()", "serve", "--port", str(self.port),
             "--workers", str(workers)], env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.base = f"http://127.0.0.1:{self.port}"
        while True:
            try:
                if _get(self.base + "/healthz") == 200:
                    break
            except OSError:
                pass
            if self.proc.poll() is not None or time.perf_counter() - self.t0 > 300:
                self.stop()
                raise RuntimeError(f"ecozone serve --workers {workers} did not start (see its log)")
            time.sleep(0.2)
        self.start_s = time.perf_counter() - self.t0

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def hey(url: str, body_file: Path, clients: int, seconds: float) -> dict:
    cmd, _ = _pin(["hey", "-z", f"{seconds}s", "-c", str(clients), "-m", "POST", "-T", "application/json",
                   "-D", str(body_file), "-o", "csv", url])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    if not rows:
        raise RuntimeError(f"hey gave no rows: {r.stderr[-300:]}")
    rt = np.array([float(x["response-time"]) for x in rows])
    offset = np.array([float(x["offset"]) for x in rows])
    status = np.array([x["status-code"] for x in rows])
    span = float(np.max(offset + rt) - np.min(offset))
    ok = status == "200"
    return {"n": len(rows), "ok": int(ok.sum()), "rps": int(ok.sum()) / span, "p50": float(np.median(rt[ok])) * 1e3,
            "p99": float(np.percentile(rt[ok], 99)) * 1e3, "max": float(rt[ok].max()) * 1e3}


def wrk(url: str, bodies: Path, lua: Path, clients: int, seconds: float) -> dict:
    lua.write_text(WRK_LUA % {"bodies": str(bodies)}, encoding="utf-8")
    cmd, _ = _pin(["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "-s", str(lua), "--latency", url])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    m = re.search(r"WRKJSON (\{.*\})", r.stdout)
    if not m:
        raise RuntimeError(f"wrk gave no summary: {r.stdout[-300:]} {r.stderr[-300:]}")
    s = json.loads(m.group(1))
    return {"n": s["requests"], "ok": s["requests"] - s["non2xx"] - s["errors"], "rps": s["requests"] / (s["duration_us"] / 1e6),
            "p50": s["p50_us"] / 1e3, "p99": s["p99_us"] / 1e3, "errors": s["errors"] + s["non2xx"]}


def run(ctx) -> Table:
    args, demo = ctx.args, ctx.demo
    t = Table(f"W2 HTTP: POST {PATH} (a point, project_type {PROJECT_TYPE}), `ecozone serve` on 127.0.0.1",
              ["server", "load generator", "clients", "seconds", "requests", "checks/s", "p50 ms", "p99 ms",
               "non-200"])
    missing = [tool for tool in ("hey", "wrk") if not shutil.which(tool)]
    points = random_points_in(demo.planned, 500, seed=20261202)
    bodies = [json.dumps({"geometry": {"type": "Point", "coordinates": [p.x, p.y]}, "project_type": PROJECT_TYPE})
              for p in points]
    body_file = ctx.tmp / "w2-body.json"
    body_file.write_text(bodies[0], encoding="utf-8")
    bodies_file = ctx.tmp / "w2-bodies.txt"
    bodies_file.write_text("\n".join(bodies) + "\n", encoding="utf-8")
    expected = demo.engine.evaluate(points[0], PROJECT_TYPE).verdict
    secs = args.http_seconds
    if "hey" in missing:
        t.add("ecozone serve", "skipped: hey not installed (apt-get install hey)", "", "", "", "", "", "", "")
    starts = []
    for workers in (1, 2):
        label = f"--workers {workers}"
        try:
            server = Server(ctx.tmp, workers)
        except Exception as e:  # noqa: BLE001
            t.add(label, f"skipped: {e}", "", "", "", "", "", "", "")
            continue
        try:
            starts.append(f"--workers {workers} up (healthz 200) {server.start_s:.1f} s after launch on a fresh data dir")
            url = server.base + PATH
            answer = _post(url, bodies[0].encode())
            if answer.get("verdict") != expected:
                t.notes.append(f"warning: the server answered {answer.get('verdict')} for the benchmark point, "
                               f"the engine {expected}")
            if "hey" not in missing:
                hey(url, body_file, 16, min(2.0, secs))  # warm-up, untimed
                for c in args.clients:
                    r = hey(url, body_file, c, secs)
                    t.add(label, "hey (one body)", c, secs, r["n"], r["rps"], r["p50"], r["p99"], r["n"] - r["ok"])
            if workers == 2:
                if "wrk" in missing:
                    t.add(label, "wrk: skipped: not installed (apt-get install wrk)", "", "", "", "", "", "", "")
                else:
                    try:
                        c = 16
                        r = wrk(url, bodies_file, ctx.tmp / "w2-post.lua", c, secs)
                        t.add(label, f"wrk -t1 ({len(bodies)} bodies)", c, secs, r["n"], r["rps"], r["p50"], r["p99"],
                              r["errors"])
                    except Exception as e:  # noqa: BLE001
                        t.add(label, f"wrk: failed: {e}", "", "", "", "", "", "", "")
        finally:
            server.stop()
    _, pinned = _pin([])
    versions = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}, ", "hey", "wrk"],
                              capture_output=True, text=True).stdout.strip(", ")
    t.notes += starts
    if versions:
        t.notes.append(f"Debian packages: {versions}")
    t.notes += [
        f"load generator {pinned}; it shares the 2 cores with the server, so it takes CPU from it.",
        "hey sends one body (the same point) for every request; wrk's Lua script cycles through "
        f"{len(bodies)} different points. hey's percentiles are computed here from its per-request CSV; "
        "checks/s counts 200 answers over the span of the run.",
        "Both are closed-loop generators (a client waits for its answer before sending the next), so under "
        "saturation the latencies omit the queueing a fixed-rate arrival would see (coordinated omission; "
        "wrk2 -R corrects for it); read p99 at 16/64 clients as a lower bound.",
        "Targets: ≥1,000 checks/s with 2 workers; p99 ≤20 ms at 16 clients.",
    ]
    return t
