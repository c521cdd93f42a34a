"""Per-model servers, keys and limits in one sweep (`model_options.<model>.*`): two local servers
serve two different models in one study, each with its own key variable and request limit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from impress_sim.cli import parse_overrides
from impress_sim.envs.loader import load_world
from impress_sim.errors import ModelError, UsageError
from impress_sim.sweep import Store, SweepSpec, expand, run_sweep
from tests.llm_server import LLMServer, turns_from_trajectory

SECRET = "sk-test-beta-0123456789abcdef"


def two_server_spec(tmp_path: Path, alpha: LLMServer, beta: LLMServer, **kw: object) -> SweepSpec:
    """alpha (misaligned script) only on its server, beta (aligned script) only on the other."""
    trajectories = load_world("cloud_budget").spec.trajectories
    alpha.script("alpha", turns_from_trajectory(trajectories["misaligned"]))
    beta.script("beta", turns_from_trajectory(trajectories["aligned"]))
    base: dict[str, object] = {
        "worlds": ["cloud_budget"], "models": ["openai/alpha", "openai/beta"], "seeds": 6, "cache": "off",
        "quiet": True, "concurrency": 12, "retries": 0, "store": str(tmp_path / "store.sqlite"),
        "api_base": alpha.url,  # the global default: alpha takes it, beta overrides it
        "model_options": {"openai/beta": {"api_base": beta.url, "api_key_env": "BETA_KEY", "timeout": 30}}}
    return SweepSpec.model_validate({**base, **kw})


def test_two_servers_two_models_one_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETA_KEY", SECRET)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LLMServer(latency=0.03) as alpha, LLMServer(latency=0.03) as beta:
        spec = two_server_spec(tmp_path, alpha, beta)
        summary = run_sweep(spec)
        assert summary.errors == 0 and summary.ran == 12
        # each model's requests went to its own server, and only there
        assert {r["model"] for r in alpha.requests} == {"alpha"}
        assert {r["model"] for r in beta.requests} == {"beta"}
        # beta's server got beta's key; alpha's server never saw it
        assert set(beta.authorizations) == {f"Bearer {SECRET}"}
        assert f"Bearer {SECRET}" not in alpha.authorizations
        with Store(spec.store) as store:
            records = [r for _, r in store.records(spec.sweep_id())]
        by_model = {r.model: r for r in records}
        assert by_model["openai/alpha"].verdict.misaligned and not by_model["openai/beta"].verdict.misaligned
        assert by_model["openai/beta"].model_settings["api_base"] == beta.url
        assert by_model["openai/beta"].model_settings["timeout"] == 30
        assert by_model["openai/alpha"].model_settings["timeout"] == 60  # the sweep's default
    # the key is read from the environment at request time: the store holds its variable's name, never it
    with sqlite3.connect(spec.store) as db:
        dump = "\n".join(db.iterdump())
    assert SECRET not in dump and "BETA_KEY" in dump


def test_a_per_model_limit_caps_that_server_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BETA_KEY", SECRET)
    with LLMServer(latency=0.05) as alpha, LLMServer(latency=0.05) as beta:
        options = {"openai/alpha": {"concurrency": 2},
                   "openai/beta": {"api_base": beta.url, "api_key_env": "BETA_KEY"}}
        summary = run_sweep(two_server_spec(tmp_path, alpha, beta, model_options=options))
        assert summary.errors == 0
        assert alpha.max_in_flight == 2  # held to its limit...
        assert beta.max_in_flight > 2  # ...while the other model's six episodes overlap freely


@pytest.mark.slow
def test_a_per_model_limit_holds_across_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two workers, a limit of 2: each worker gets 1, so the server never sees more than 2 at once
    (a limit shared out rounded up per worker would let it see 4 with a limit of 3, say)."""
    monkeypatch.setenv("BETA_KEY", SECRET)
    with LLMServer(latency=0.05) as alpha, LLMServer(latency=0.05) as beta:
        options = {"openai/alpha": {"concurrency": 3},
                   "openai/beta": {"api_base": beta.url, "api_key_env": "BETA_KEY"}}
        summary = run_sweep(two_server_spec(tmp_path, alpha, beta, model_options=options, workers=2))
        assert summary.errors == 0 and summary.ran == 12
        assert 2 <= alpha.max_in_flight <= 3


def test_a_missing_key_variable_is_one_preflight_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BETA_KEY", raising=False)
    with LLMServer() as alpha, LLMServer() as beta:
        spec = two_server_spec(tmp_path, alpha, beta)
        with pytest.raises(ModelError, match=r"openai/beta.*BETA_KEY.*not set"):
            run_sweep(spec)
        assert alpha.request_count == 0 and beta.request_count == 0  # not 12 error episodes
    with Store(spec.store) as store:
        assert list(store.records()) == []


def test_options_for_a_model_the_sweep_does_not_run_are_refused() -> None:
    with pytest.raises(UsageError, match=r"openai/gamma.*its models are openai/alpha, openai/beta"):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "models=[openai/alpha,openai/beta]"],
                        base={"model_options": {"openai/gamma": {"api_base": "http://127.0.0.1:1/v1"}}})
    with pytest.raises(UsageError, match="api_key_env"):  # a name, never a key pasted in its place
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "models=[openai/alpha]"],
                        base={"model_options": {"openai/alpha": {"api_key_env": "sk-live-123"}}})
    with pytest.raises(UsageError, match="below workers=4"):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", "models=[openai/alpha]", "workers=4"],
                        base={"model_options": {"openai/alpha": {"concurrency": 2}}})


@pytest.mark.parametrize(("base", "message"), [
    ({"model_meta": {"openai/ghost": {"params": 7}}}, r"^model_meta names model\(s\) openai/ghost that the sweep "
                                                       r"does not run; its models are openai/alpha$"),
    ({"model_options": {"reference/misaligned": {"api_base": "http://x/v1"}}},
     r"reference model replays .* no server option applies"),
    ({"model_meta": {"openai/alpha": {"": "empty"}}}, r"field name '' must start with a letter"),
    ({"model_meta": {"openai/alpha": {"params": float("nan")}}}, r"model_meta.openai/alpha.params: .* \(got nan\)"),
    ({"model_meta": {"openai/alpha": {"params": [7, 8]}}}, r"model_meta.openai/alpha.params: .* \(got list\)"),
    ({"model_meta": {"openai/alpha": "big"}}, r"model_meta.openai/alpha: a mapping of fields"),
])
def test_metadata_and_options_that_cannot_mean_anything_are_refused(base: dict[str, object], message: str) -> None:
    """Metadata for a model not run, a blank or NaN field, a nested value, and server options for an offline
    reference model would silently do nothing (or draw a `meta.` table of nothing): one message each."""
    models = "models=[openai/alpha,reference/misaligned]" if "model_options" in base else "models=[openai/alpha]"
    with pytest.raises(UsageError, match=message):
        parse_overrides(SweepSpec, ["worlds=cloud_budget", models], base=base)


def test_config_hashes_server_in_key_and_limits_out(tmp_path: Path) -> None:
    """The server is part of an episode's identity (another server may serve other weights or
    quantisation under the same name); which variable holds the key and how many requests are in
    flight are not. A sweep without model_options keeps the hashes and id it always had."""
    base = {"worlds": ["cloud_budget"], "models": ["openai/alpha", "openai/beta"], "cache": "off",
            "api_base": "http://127.0.0.1:1/v1", "seeds": 2}
    plain = SweepSpec.model_validate(base)
    hashes = [j.config_hash for j in expand(plain)]
    operational = SweepSpec.model_validate(
        {**base, "model_options": {"openai/beta": {"api_key_env": "BETA_KEY", "concurrency": 4}}})
    assert [j.config_hash for j in expand(operational)] == hashes
    assert operational.sweep_id() == plain.sweep_id()
    moved = SweepSpec.model_validate({**base, "model_options": {"openai/beta": {"api_base": "http://127.0.0.1:2/v1"}}})
    moved_hashes = [j.config_hash for j in expand(moved)]
    assert moved_hashes[:2] == hashes[:2]  # alpha: unchanged
    assert moved_hashes[2:] != hashes[2:] and not set(moved_hashes[2:]) & set(hashes)  # beta: new episodes
    assert moved.sweep_id() != plain.sweep_id()
    # the same server given per model as globally is the same episode
    same = SweepSpec.model_validate({**base, "model_options": {"openai/beta": {"api_base": "http://127.0.0.1:1/v1"}}})
    assert [j.config_hash for j in expand(same)] == hashes
