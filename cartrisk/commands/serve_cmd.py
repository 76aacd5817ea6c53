"""``cartrisk import-model``, ``cartrisk serve`` and ``cartrisk example-request``: from the registry to a
running service answering a real cart."""

from __future__ import annotations

import contextlib
import json as jsonlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from cartrisk.commands.common import emit_json, fail, load_data
from cartrisk.settings import get_settings

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]


def import_model(
    alias: Annotated[str, typer.Option(help="Registry alias of the version to import.")] = "champion",
    json: JsonOpt = False,
) -> None:
    """Copy the registered models behind ALIAS from MLflow into the BentoML model store (labelled with their
    MLflow version and run), so the service starts without the tracking server: the risk model, and the uplift
    models when a version of cartrisk-uplift is behind ALIAS (then the service chooses incentives by expected
    profit; otherwise by the rule-based policy, and older imported uplift models are removed)."""
    from serving.model_import import bentoml_home_default, import_uplift_model, remove_uplift_models
    from serving.model_import import import_model as do_import

    bentoml_home_default()
    try:
        info: dict[str, Any] = dict(do_import(alias))
    except LookupError as exc:
        fail(str(exc))
    uplift = import_uplift_model(alias)
    removed = remove_uplift_models() if uplift is None else []
    info["uplift"] = uplift
    if json:
        emit_json(info)
        return
    typer.echo(f"imported {info['mlflow_model']} version {info['mlflow_version']} (alias {alias}, run "
               f"{info['mlflow_run_id']}) as BentoML model {info['bento_model']}")
    if uplift is not None:
        typer.echo(f"imported {uplift['mlflow_model']} version {uplift['mlflow_version']} as BentoML model "
                   f"{uplift['bento_model']}: incentives are chosen by expected profit")
    else:
        typer.echo("no cartrisk-uplift model behind alias " + alias + ": incentives follow the rule-based policy"
                   + (f" (removed {len(removed)} older imported uplift model(s))" if removed else ""))


def _service_env() -> dict[str, str]:
    from serving.model_import import bentoml_home_default

    bentoml_home_default()
    env = dict(os.environ)
    env.setdefault("CARTRISK_PROFILE_STORE", get_settings().profile_store_uri)
    return env


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/readyz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    return False


def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 3000,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    background: Annotated[bool, typer.Option("--background", help="Start in the background, wait until it is "
                                             "ready, write its pid to $CARTRISK_HOME/service.pid and return.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop a service started with --background.")] = False,
) -> None:
    """Start the scoring service (`bentoml serve serving.service:CartRisk`) with the imported model and the
    workspace's profile store (CARTRISK_PROFILE_STORE to use another, e.g. redis://127.0.0.1:6379/0)."""
    settings = get_settings()
    pid_file = settings.home / "service.pid"
    if stop:
        if not pid_file.exists():
            fail(f"no {pid_file}: nothing started with --background")
        pid = int(pid_file.read_text())
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        pid_file.unlink()
        typer.echo(f"stopped service (pid {pid})")
        return
    cmd = [sys.executable, "-m", "bentoml", "serve", "serving.service:CartRisk", "--host", host,
           "--port", str(port)]
    env = _service_env()
    if not background:
        os.execvpe(cmd[0], cmd, env)
    settings.home.mkdir(parents=True, exist_ok=True)
    log = (settings.home / "service.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://{host}:{port}"
    if not _wait_ready(url, proc, timeout_s=120):
        proc.terminate()
        fail(f"the service did not become ready; see {settings.home / 'service.log'}")
    pid_file.write_text(str(proc.pid))
    typer.echo(f"service ready at {url} (pid {proc.pid}; log {settings.home / 'service.log'}; "
               f"stop with `cartrisk serve --stop`)")


def example_request(
    data: Annotated[Path | None, typer.Option(help="Data folder (default: $CARTRISK_HOME/data).")] = None,
    send: Annotated[str | None, typer.Option(help="Also POST it to this service URL and print the answer.")] = None,
) -> None:
    """Print a valid /score request body for a real cart of the data set (a known customer at checkout)."""
    from features.profiles import prepare_shop
    from features.snapshots import snapshots_from_shop
    from serving.examples import example_request as build

    settings = get_settings()
    shop = prepare_shop(load_data(data or settings.data_dir, quiet=True), settings.label_window_hours)
    body: dict[str, Any] = build(shop, snapshots_from_shop(shop))
    if send is None:
        emit_json(body)
        return
    headers = {"content-type": "application/json"}
    if os.environ.get("CARTRISK_API_KEY"):
        headers["x-api-key"] = os.environ["CARTRISK_API_KEY"]
    request = urllib.request.Request(f"{send.rstrip('/')}/score", data=jsonlib.dumps(body).encode(),
                                     headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            answer = jsonlib.loads(resp.read())
    except urllib.error.HTTPError as exc:
        fail(f"the service answered {exc.code}: {exc.read().decode()[:500]}")
    except urllib.error.URLError as exc:
        fail(f"could not reach {send}: {exc.reason}")
    typer.echo("request:  " + jsonlib.dumps(body)[:300] + " ...")
    typer.echo("answer:   " + jsonlib.dumps(answer, indent=2))


def register(app: typer.Typer) -> None:
    app.command("import-model")(import_model)
    app.command("serve")(serve)
    app.command("example-request")(example_request)
