"""Inspect's own command line on our tasks and logs: `inspect eval impress_sim/<world>` found through the
`inspect_ai` entry point, and `inspect view` serving an exported log on 127.0.0.1.

Both start Inspect as a process, so both are slow. The entry point is declared by a throwaway
distribution (a `.dist-info` folder on PYTHONPATH) with the same line pyproject.toml declares, so the
test proves the lookup Inspect does without reinstalling impress-sim. Skips only without inspect_ai.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai", reason="the Inspect adapter needs impress-sim[inspect]")

from inspect_ai.log import read_eval_log

from impress_sim.adapters.inspect_eval.export import SCORER, export_store
from impress_sim.sweep import SweepSpec, run_sweep

ROOT = Path(__file__).resolve().parents[2]
ENTRY_POINT = "impress_sim = impress_sim.adapters.inspect_eval.tasks"


def inspect_cli() -> list[str]:
    exe = shutil.which("inspect")
    return [exe] if exe else [sys.executable, "-m", "inspect_ai"]


def installed_here() -> bool:
    """Whether the installed impress-sim (as a fresh process sees it, without our PYTHONPATH) is this
    checkout and declares the entry point: `pip install -e ".[inspect]"` here, as .ci/run does."""
    found = subprocess.run([sys.executable, "-c", "import impress_sim; print(impress_sim.__file__)"],
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd="/",
                           capture_output=True, text=True, timeout=60)
    declared = any(e.name == "impress_sim" for e in importlib.metadata.entry_points(group="inspect_ai"))
    return declared and found.returncode == 0 and Path(found.stdout.strip()).resolve().is_relative_to(ROOT)


def entry_point_env(tmp_path: Path) -> dict[str, str]:
    """The environment `inspect` runs in. Installed from this checkout: as installed (Inspect names a
    task by its package only when that package is installed: in site-packages, or editable per its
    direct_url.json, which a PYTHONPATH entry holding an egg-info would hide). Otherwise (a worktree
    beside the install): this checkout on PYTHONPATH and a distribution declaring our entry point."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert ENTRY_POINT.replace(" = ", ' = "') + '"' in pyproject, "pyproject.toml no longer declares the entry point"
    env = {**os.environ, "INSPECT_LOG_DIR": str(tmp_path / "logs")}
    if installed_here():
        env.pop("PYTHONPATH", None)
        return env
    dist = tmp_path / "site" / "impress_sim_entry-0.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: impress-sim-entry\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text(f"[inspect_ai]\n{ENTRY_POINT}\n")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(tmp_path / "site")])
    return env


@pytest.mark.slow
def test_inspect_eval_finds_our_task_by_its_package_name(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    done = subprocess.run(
        [*inspect_cli(), "eval", "impress_sim/corporate_shutdown", "--model", "impress_replay/misaligned",
         "-T", "seeds=2", "-T", "variants=baseline,control", "--log-dir", str(logs), "--display", "none"],
        env=entry_point_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    [path] = list(logs.glob("*.eval"))
    log = read_eval_log(str(path))
    assert log.status == "success" and log.samples is not None
    assert sorted(str(s.id) for s in log.samples) == ["baseline-s0", "baseline-s1", "control-s0", "control-s1"]
    assert all(s.scores and s.scores[SCORER].value["misaligned"] == 1 for s in log.samples)  # type: ignore[index]
    assert log.eval.task_args.get("seeds") == 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=5) as response:  # 127.0.0.1 only
        return json.loads(response.read().decode("utf-8"))


@pytest.mark.slow
def test_inspect_view_serves_an_exported_log(tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    run_sweep(SweepSpec.model_validate({"worlds": ["corporate_shutdown"], "models": ["reference/misaligned"],
                                        "seeds": 1, "cache": "off", "quiet": True, "store": str(store),
                                        "name": "v1"}))
    [path] = export_store(store, tmp_path / "logs")
    port = free_port()
    server = subprocess.Popen(
        [*inspect_cli(), "view", "--log-dir", str(tmp_path / "logs"), "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT)
    try:
        listing: object = None
        for _ in range(240):  # the server's start-up, bounded by attempts (no wall-clock assertion)
            if server.poll() is not None:
                break
            try:
                listing = get_json(f"http://127.0.0.1:{port}/api/log-files")
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.25)
        assert isinstance(listing, dict), (server.stdout.read().decode() if server.poll() is not None  # type: ignore[union-attr]
                                           else "no answer from inspect view")
        names = [f["name"] for f in listing["files"]]
        assert any(n.endswith(path.name) for n in names), names
        quoted = urllib.parse.quote(str(path.resolve()), safe="")
        header = get_json(f"http://127.0.0.1:{port}/api/logs/{quoted}?header-only=1")
        assert isinstance(header, dict)
        assert header["eval"]["task"] == "corporate_shutdown" and header["status"] == "success"
        scores = {s["name"]: s["metrics"]["mean"]["value"] for s in header["results"]["scores"]}
        assert scores["misaligned"] == 1.0
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
