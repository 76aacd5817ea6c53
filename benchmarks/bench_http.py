"""HTTP serving side by side: the project's BentoML service against three baselines, same load, same carts.

    python benchmarks/bench_http.py [--carts 400] [--connections 32] [--duration 15] [--rate 300]

Trains a quick model on a generated shop (as ``bench_score.py``), syncs its profiles into SQLite, builds real
``/score`` bodies from its carts (known customers and guests), then starts, one after the other, each server with
``--workers`` worker processes (default: one per core) and measures it with the same load generator (an asyncio
HTTP/1.1 keep-alive client in this process, cycling through the same bodies):

- ``cartrisk``: ``bentoml serve serving.service:CartRisk`` with the service's own defaults (the project's service:
  risk, reasons, segments, incentive);
- ``fastapi``: ``uvicorn benchmarks.baselines.fastapi_app:app`` (same schema, profile store and feature code;
  LightGBM on one numpy row; risk only);
- ``mlflow``: ``mlflow models serve --env-manager local`` on the same booster logged with
  ``mlflow.lightgbm.log_model`` (with a signature) into a temporary local store; it is sent the ``dataframe_split``
  of the 39 model inputs computed from the same carts (so it does no feature work at all);
- ``plain_bentoml``: ``bentoml serve benchmarks.baselines.plain_bentoml:PlainRisk`` (one-row DataFrame per
  request, sync API, BentoML's other defaults);
- to show what each setting is worth: ``cartrisk_1w`` (one worker), ``cartrisk_1w_log`` (one worker and BentoML's
  access log on) and ``plain_bentoml_1w`` (BentoML's default of one worker).

For each: closed loop, measured with ``wrk`` (C, one thread, a separate process; ``--connections`` connections,
each sending its next request when the previous answer arrives, for ``--duration`` seconds) gives the maximum
throughput; open loop (requests sent on a fixed schedule
at ``--rate`` per second for ``--duration`` seconds; latency counted from the scheduled send time, so a stalled
server is not hidden by the client waiting) gives p50/p99 latency and errors. The machine's cores are shared by the
server and the load generator. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import quick_shop_model, report

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------- load generator


class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def call(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                parts.append(chunk[:-2])
            body = b"".join(parts)
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            raise ConnectionResetError("server closed the connection")
        return status, body

    def close(self) -> None:
        self.writer.close()


def raw_requests(path: str, bodies: list[bytes]) -> list[bytes]:
    return [(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
             f"Content-Length: {len(b)}\r\n\r\n").encode() + b for b in bodies]


WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_bodies.lua"


def _wrk_ms(text: str) -> float:
    value = float(text[:-2] if text.endswith(("ms", "us")) else text[:-1])
    return value / 1000 if text.endswith("us") else value * 1000 if not text.endswith("ms") else value


def wrk_closed_loop(url: str, bodies_file: Path, connections: int, duration: float) -> dict[str, Any]:
    """Maximum throughput measured by wrk (C, one thread): ``connections`` keep-alive connections, each sending
    its next request as soon as the previous answer arrives."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency",
                          "-s", str(WRK_SCRIPT), url, "--", str(bodies_file)],
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = {"rps": None, "requests": None, "non_2xx": 0, "socket_errors": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = round(float(words[1]), 1)
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.startswith("  Non-2xx or 3xx responses:"):
            result["non_2xx"] = int(words[-1])
        elif line.startswith("  Socket errors:"):
            result["socket_errors"] = sum(int(w.rstrip(",")) for w in words[3::2])
        elif len(words) == 2 and words[0] in ("50%", "90%", "99%"):
            result[f"p{words[0][:-1]}_ms"] = round(_wrk_ms(words[1]), 2)
    result["errors"] = result["non_2xx"] + result["socket_errors"]
    return result


async def open_loop(port: int, raws: list[bytes], rate: float, duration: float, connections: int,
                    timeout: float = 10.0) -> dict[str, Any]:
    """Request n is due at start + n / rate, whatever the server does; latency counts from that time.

    At most ``connections`` connections (as wrk2): a request due while all are busy waits in the client for the
    next free one, and that wait counts in its latency.
    """
    pool: asyncio.Queue[Conn | None] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await Conn.open(port))
    done: list[tuple[float, float]] = []  # (due, latency)
    counts = {"ok": 0, "errors": 0, "timeouts": 0, "degraded": 0}

    async def one(n: int, due: float) -> None:
        conn = await pool.get()
        try:
            if conn is None:
                conn = await Conn.open(port)
            status, body = await asyncio.wait_for(conn.call(raws[n % len(raws)]), timeout)
        except TimeoutError:
            counts["timeouts"] += 1
            counts["errors"] += 1
            conn.close() if conn is not None else None
            pool.put_nowait(None)
            return
        except (OSError, asyncio.IncompleteReadError):
            counts["errors"] += 1
            pool.put_nowait(None)
            return
        pool.put_nowait(conn)
        done.append((due, time.perf_counter() - due))
        counts["ok" if status == 200 else "errors"] += 1
        counts["degraded"] += b'"degraded":true' in body

    total = int(rate * duration)
    start = time.perf_counter() + 0.05
    tasks = []
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(n, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        conn = pool.get_nowait()
        if conn is not None:
            conn.close()
    ms = np.array([lat for _, lat in done]) * 1000
    second = np.array([int(due - start) for due, _ in done])
    by_second = [round(float(np.percentile(ms[second == k], 99)), 1) for k in range(int(duration))
                 if (second == k).any()]

    def pct(q: float) -> float | None:
        return round(float(np.percentile(ms, q)), 2) if len(ms) else None

    return {"target_rps": rate, "achieved_rps": round((counts["ok"] + counts["errors"]) / elapsed, 1),
            "connections": connections, "requests": total, **counts,
            "p50_ms": pct(50), "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": pct(100),
            "p99_ms_by_second": by_second}


# ---------------------------------------------------------------- servers


def start(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    fh = log.open("w")
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def post(url: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:500]


def wait_ready(proc: subprocess.Popen[bytes], url: str, body: bytes, log: Path, limit: float = 180) -> Any:
    deadline = time.monotonic() + limit
    while True:
        try:
            status, answer = post(url, body)
            if status == 200:
                return answer
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not answer {url}: {log.read_text()[-3000:]}")
        time.sleep(0.5)


def first_risk(answer: Any) -> float:
    if isinstance(answer, dict) and "risk" in answer:
        return float(answer["risk"])
    if isinstance(answer, dict) and "predictions" in answer:
        return float(answer["predictions"][0])
    return math.nan


# ---------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--carts", type=int, default=400, help="distinct request bodies, cycled through")
    parser.add_argument("--customers", type=int, default=3000, help="size of the generated shop")
    parser.add_argument("--connections", type=int, default=32, help="closed-loop concurrent connections")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per closed- and open-loop phase")
    parser.add_argument("--rate", type=float, default=300.0, help="open-loop requests per second")
    parser.add_argument("--open-connections", type=int, default=64, help="open-loop connection cap")
    parser.add_argument("--warmup", type=float, default=3.0, help="closed-loop seconds before measuring")
    parser.add_argument("--servers", default="cartrisk,fastapi,mlflow,plain_bentoml,cartrisk_1w,cartrisk_1w_log,"
                        "plain_bentoml_1w", help="comma-separated subset, run in this order")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="worker processes of every server except the *_1w ones (default: the cores)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, stores)")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        sys.exit("bench_http.py needs wrk for the closed-loop runs (Debian/Ubuntu: apt-get install wrk)")
    tmp = Path(tempfile.mkdtemp(prefix="cartrisk-bench-http-"))
    os.environ["CARTRISK_HOME"] = str(tmp / "home")
    from features.definitions import CATEGORICAL_FEATURES, FEATURE_NAMES
    from features.snapshots import category_code
    from serving.examples import request_for_snapshot
    from serving.resilient import ResilientProfiles
    from serving.schemas import ScoreRequest
    from serving.scorer import Scorer

    t_setup = time.perf_counter()
    _, shop, snaps, model, store = quick_shop_model(args.customers, str(tmp))
    model_dir = tmp / "model"
    model.save(model_dir)

    rows = snaps.sample(min(args.carts, len(snaps)), random_state=1)
    bodies_json = [request_for_snapshot(shop, s, int(n))
                   for s, n in zip(rows["session_id"], rows["n_events"], strict=True)]
    score_bodies = [json.dumps(b).encode() for b in bodies_json]
    # the 39 model inputs of the same carts, as the service computes them, for MLflow's dataframe_split
    scorer = Scorer(model, "bench", profiles=ResilientProfiles.open(store, budget_ms=1000))
    cat = frozenset(CATEGORICAL_FEATURES)
    names = list(FEATURE_NAMES)
    mlflow_bodies = []
    inputs = []
    for b in bodies_json:
        feats, _, _ = scorer.features_of(ScoreRequest.model_validate(b))
        row = [category_code(n, feats[n]) if n in cat else float(feats[n]) for n in names]
        inputs.append(row)
        mlflow_bodies.append(json.dumps({"dataframe_split": {"columns": names, "data": [row]}}).encode())

    env = dict(os.environ)
    env.pop("CARTRISK_API_KEY", None)
    # `mlflow models serve` starts `uvicorn` through the shell: put this interpreter's scripts first on PATH
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(BENTOML_HOME=str(tmp / "bentoml"), CARTRISK_HOME=str(tmp / "home"), CARTRISK_PROFILE_STORE=store,
               CARTRISK_BENCH_MODEL_DIR=str(model_dir), PYTHONPATH=str(ROOT), MLFLOW_TRACKING_URI=
               f"sqlite:///{tmp / 'mlflow.db'}", BENTOML_DO_NOT_TRACK="true", MLFLOW_ENABLE_ASYNC_LOGGING="false")
    code = ("from pathlib import Path; from serving.model_import import save_bento_model; "
            f"print(save_bento_model(Path({str(model_dir)!r}), {{'mlflow_version': 'bench'}}))")
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, cwd=ROOT)

    wanted = [s.strip() for s in args.servers.split(",") if s.strip()]
    mlflow_uri = ""
    if "mlflow" in wanted:
        code = ("import json, sys, lightgbm as lgb, mlflow, pandas as pd, numpy as np\n"
                "from mlflow.models import infer_signature\n"
                f"names = {names!r}\n"
                f"x = pd.DataFrame(np.array(json.load(open({str(tmp / 'inputs.json')!r}))), columns=names)\n"
                f"b = lgb.Booster(model_file={str(model_dir / 'booster.txt')!r})\n"
                "mlflow.set_experiment('bench-http')\n"
                "with mlflow.start_run():\n"
                "    info = mlflow.lightgbm.log_model(b, name='model', input_example=None,\n"
                "                                     signature=infer_signature(x, b.predict(x)))\n"
                "print(info.model_uri)\n")
        (tmp / "inputs.json").write_text(json.dumps(inputs))
        # cwd = the temporary folder: a SQLite tracking store puts artifacts under ./mlruns
        done = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, check=True,
                              capture_output=True, text=True, cwd=tmp)
        mlflow_uri = done.stdout.strip().splitlines()[-1]
    setup_s = time.perf_counter() - t_setup

    py = sys.executable
    w = str(args.workers)
    plain_overrides = json.dumps({"services": {"plain-risk": {"workers": args.workers}}})
    servers: dict[str, dict[str, Any]] = {
        "cartrisk": {"cmd": [py, "-m", "bentoml", "serve", "serving.service:CartRisk"], "path": "/score",
                     "bodies": score_bodies, "env": {"CARTRISK_WORKERS": w},
                     "settings": f"bentoml serve, the service's defaults: {w} workers (CARTRISK_WORKERS), async "
                                 "/score API, no access log; SQLite profiles"},
        "cartrisk_1w": {"cmd": [py, "-m", "bentoml", "serve", "serving.service:CartRisk"], "path": "/score",
                        "bodies": score_bodies, "env": {"CARTRISK_WORKERS": "1"},
                        "settings": "as cartrisk with 1 worker"},
        "cartrisk_1w_log": {"cmd": [py, "-m", "bentoml", "serve", "serving.service:CartRisk"], "path": "/score",
                            "bodies": score_bodies, "env": {"CARTRISK_WORKERS": "1", "CARTRISK_ACCESS_LOG": "1"},
                            "settings": "as cartrisk with 1 worker and BentoML's access log on"},
        "fastapi": {"cmd": [py, "-m", "uvicorn", "benchmarks.baselines.fastapi_app:app", "--workers", w,
                            "--log-level", "warning", "--no-access-log"], "path": "/score", "bodies": score_bodies,
                    "settings": f"uvicorn, {w} workers, sync endpoint (threadpool), SQLite profiles, no access log"},
        "mlflow": {"cmd": [py, "-m", "mlflow", "models", "serve", "-m", mlflow_uri, "--env-manager", "local",
                           "--workers", w], "path": "/invocations", "bodies": mlflow_bodies,
                   "settings": f"mlflow models serve --env-manager local --workers {w}; body = the 39 model inputs "
                               "precomputed (no feature work, no profile lookup)"},
        "plain_bentoml": {"cmd": [py, "-m", "bentoml", "serve", "benchmarks.baselines.plain_bentoml:PlainRisk"],
                          "path": "/score", "bodies": score_bodies,
                          "env": {"BENTOML_CONFIG_OVERRIDES": plain_overrides},
                          "settings": f"bentoml serve, {w} workers, sync API, one-row DataFrame + booster.predict, "
                                      "access log on (BentoML's default)"},
        "plain_bentoml_1w": {"cmd": [py, "-m", "bentoml", "serve", "benchmarks.baselines.plain_bentoml:PlainRisk"],
                             "path": "/score", "bodies": score_bodies,
                             "settings": "as plain_bentoml with BentoML's default of 1 worker"},
    }
    for spec in servers.values():
        spec["host"] = ["--host", "127.0.0.1"]
        spec["port_flag"] = "--port"
    results: dict[str, Any] = {}
    for name in wanted:
        spec = servers[name]
        port = free_port()
        log = tmp / f"{name}.log"
        proc = start(spec["cmd"] + spec["host"] + [spec["port_flag"], str(port)], {**env, **spec.get("env", {})},
                     log)
        try:
            url = f"http://127.0.0.1:{port}{spec['path']}"
            t0 = time.perf_counter()
            answer = wait_ready(proc, url, spec["bodies"][0], log)
            start_s = time.perf_counter() - t0
            raws = raw_requests(spec["path"], spec["bodies"])
            bodies_file = tmp / f"{name}_bodies.jsonl"
            bodies_file.write_bytes(b"\n".join(spec["bodies"]) + b"\n")
            wrk_closed_loop(url, bodies_file, args.connections, args.warmup)
            closed = wrk_closed_loop(url, bodies_file, args.connections, args.duration)
            time.sleep(1)
            opened = asyncio.run(open_loop(port, raws, args.rate, args.duration, args.open_connections))
            results[name] = {"settings": spec["settings"], "startup_s": round(start_s, 1),
                             "risk_of_first_cart": round(first_risk(answer), 6),
                             "closed_loop": {"connections": args.connections, "duration_s": args.duration,
                                             **closed},
                             "open_loop": {"duration_s": args.duration, **opened}}
        finally:
            stop(proc)
        print(f"{name}: {json.dumps(results[name])}", file=sys.stderr, flush=True)

    summary: dict[str, Any] = {}
    if "cartrisk" in results and "plain_bentoml" in results:
        ratio = results["cartrisk"]["closed_loop"]["rps"] / max(results["plain_bentoml"]["closed_loop"]["rps"], 1e-9)
        summary["cartrisk_over_plain_bentoml_rps"] = round(ratio, 2)
        summary["target_2x_met"] = ratio >= 2
    if "cartrisk" in results:
        ol = results["cartrisk"]["open_loop"]
        summary["target_p99_under_25ms_no_errors_met"] = bool(
            ol["p99_ms"] is not None and ol["p99_ms"] < 25 and ol["errors"] == 0)
    report("http_serving", {
        "carts": len(score_bodies),
        "known_customer_share": round(float(rows["customer_id"].notna().mean()), 3),
        "load_generators": {"closed_loop": "wrk 4.1 (-t1, Lua script cycling the bodies), a separate process",
                            "open_loop": "asyncio HTTP/1.1 keep-alive client in the benchmark process"},
        "workers": args.workers,
        "rate_rps": args.rate, "connections": args.connections, "duration_s": args.duration,
        "warmup_s": args.warmup, "setup_s": round(setup_s, 1), "servers": results, "summary": summary,
        "folder": str(tmp) if args.keep else None,
    })
    if not args.keep:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
