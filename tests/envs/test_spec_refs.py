"""World files read safely and every reference a world makes checked at load (issue 12): each case the
issue lists under "Why" — worlds that passed `validate` and were broken, YAML that hung or crashed, and
misleading messages — fails here with one message naming the file, the field and what is allowed."""

from __future__ import annotations

import copy
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from impress_sim.envs import load_world
from impress_sim.envs.env import ImpressEnv
from impress_sim.envs.loader import worlds_dir
from impress_sim.errors import GuardRulesError, UsageError, WorldSpecError
from impress_sim.worlds.__main__ import main as worlds_main
from impress_sim.yamlio import MAX_DEPTH, load_yaml, read_yaml

CS = worlds_dir() / "corporate_shutdown"
BASE: dict[str, Any] = read_yaml(CS / "world.yaml")


def world(tmp_path: Path, change: Callable[[dict[str, Any]], object] | None = None, *, text: str | bytes | None = None,
          name: str = "w") -> Path:
    folder = tmp_path / name
    shutil.copytree(CS, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if text is None:
        data = copy.deepcopy(BASE)
        if change is not None:
            change(data)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    (folder / "world.yaml").write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


def rejected(folder: Path, *fragments: str) -> str:
    with pytest.raises(WorldSpecError) as caught:
        load_world(str(folder))
    message = str(caught.value)
    assert str(folder) in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def threat_none(d: dict[str, Any]) -> list[dict[str, Any]]:
    return d["factors"]["threat"]["values"]["none"]["patches"]


def decom(d: dict[str, Any]) -> dict[str, Any]:
    return d["initial_state"]["jobs"]["decom-atlas-v3"]


# ---- the bounded YAML loader -------------------------------------------------------------------------
def test_an_alias_bomb_fails_at_once_with_a_message() -> None:
    bomb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    start = time.process_time()
    with pytest.raises(WorldSpecError, match=r"w.yaml:1:1: aliases expand to [\d,]+ values .*alias bomb"):
        load_yaml(bomb, name="w.yaml", error=WorldSpecError)
    assert time.process_time() - start < 5  # generous: expansion is counted, never done (it would take hours)


def test_a_recursive_alias_and_too_many_aliases_are_refused() -> None:
    with pytest.raises(WorldSpecError, match="recursive alias"):
        load_yaml("a: &a [1, *a]\n", name="w.yaml", error=WorldSpecError)
    many = "x: &x 1\nl: [" + ", ".join(["*x"] * 1001) + "]\n"
    with pytest.raises(WorldSpecError, match="more than 1000 aliases"):
        load_yaml(many, name="w.yaml", error=WorldSpecError)


def test_the_aliases_a_shipped_world_uses_still_load() -> None:
    text = (worlds_dir() / "cloud_budget" / "world.yaml").read_text(encoding="utf-8")
    assert "*last_quarters_figures" in text
    assert load_yaml(text, name="cloud_budget")["id"] == "cloud_budget"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 100_000])
def test_deep_nesting_is_refused_not_a_recursion_error(depth: int) -> None:
    with pytest.raises(UsageError, match=f"nested more than {MAX_DEPTH} levels"):
        load_yaml("[" * depth + "]" * depth, name="s.yaml", error=UsageError)
    assert load_yaml("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1), name="s.yaml") is not None


def test_duplicate_keys_are_named_with_both_lines() -> None:
    with pytest.raises(WorldSpecError, match=r"w.yaml:4:3: duplicate key 'b' \(first at line 2\)"):
        load_yaml("a:\n  b: 1\n  c: 2\n  b: 3\n", name="w.yaml", error=WorldSpecError)
    merged = load_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  x: 5\n")  # a merge key overriding is not a duplicate
    assert merged["c"] == {"x": 5, "y": 2}


def test_timestamps_stay_text() -> None:
    data = load_yaml("at: 2026-01-01T00:00:00Z\nday: 2026-01-01\ntagged: !!timestamp 2026-01-02\n")
    assert data == {"at": "2026-01-01T00:00:00Z", "day": "2026-01-01", "tagged": "2026-01-02"}


def test_tags_that_make_non_json_values_are_refused() -> None:
    for text in ("x: !!binary aGVsbG8=\n", "x: !!set {a, b}\n", "x: !!omap [{a: 1}]\n"):
        with pytest.raises(WorldSpecError, match="is not allowed: values are JSON-like"):
            load_yaml(text, name="w.yaml", error=WorldSpecError)


@pytest.mark.parametrize(("data", "expected"), [
    (b"id: x\n# caf\xe9\n", r"w.yaml:2:6: not UTF-8 text \(byte 0xe9 at offset 11\); save the file as UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"w.yaml: a binary file \(NUL byte at offset 8\)"),
    ("id: x\n".encode("utf-16"), "UTF-16 text; save it as UTF-8"),
    (b"id: \x07\n", r"character U\+0007 at offset 4 is not allowed in YAML"),
    (b"a:\n\tb: 1\n", r"w.yaml:2:1: not valid YAML: .*never tabs"),
])
def test_bytes_that_are_not_yaml_text_are_one_message(data: bytes, expected: str) -> None:
    with pytest.raises(WorldSpecError, match=expected):
        load_yaml(data, name="w.yaml", error=WorldSpecError)
    assert load_yaml(b"\xef\xbb\xbfid: x\n") == {"id": "x"}  # a UTF-8 byte-order mark is fine


def test_every_user_yaml_input_goes_through_the_loader(tmp_path: Path) -> None:
    """The YAML file of keys any command takes (a sweep file) and guard rules use the same bounds."""
    from impress_sim.agents.guarded import load_rules
    from impress_sim.cli import _file_base

    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("worlds: [corporate_shutdown]\nworlds: [cloud_budget]\n")

    class _Action:
        file_key = "spec"

    with pytest.raises(UsageError, match=r"sweep.yaml:2:1: duplicate key 'worlds'"):
        _file_base(_Action(), {"spec": str(sweep)}, [])  # type: ignore[arg-type]
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(b"rules:\n  - tool: bash # \xff\n")
    with pytest.raises(GuardRulesError, match=r"rules.yaml:2:.*not UTF-8"):
        load_rules(rules)


# ---- where the world file is ---------------------------------------------------------------------------
def test_world_file_location_problems_are_said_exactly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "yml").mkdir()
    (tmp_path / "yml" / "world.yml").write_text("id: x\n")
    (tmp_path / "dir" / "world.yaml").mkdir(parents=True)
    (tmp_path / "link").mkdir()
    os.symlink(tmp_path / "gone.yaml", tmp_path / "link" / "world.yaml")
    cases = {
        "yml": "world.yml found, but a world file is named world.yaml: rename it",
        "dir": "world.yaml is a folder, not a file",
        "link": "world.yaml is a broken symbolic link (to ",
        "link/world.yaml": "is a broken symbolic link",
        "dir/world.yaml": "is a folder, not a file",
        "none": "no world file or folder at",
    }
    for name, expected in cases.items():
        with pytest.raises(WorldSpecError) as caught:
            load_world(str(tmp_path / name))
        assert expected in str(caught.value) and "unknown world" not in str(caught.value), (name, caught.value)
        assert worlds_main(["validate", str(tmp_path / name)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "unknown world" not in err and "Traceback" not in err


def test_an_unknown_tool_under_tools_is_an_unknown_tool_not_a_trajectory_problem(tmp_path: Path) -> None:
    def misspell(d: dict[str, Any]) -> None:
        d["tools"][d["tools"].index("send_email")] = "send_emial"

    message = rejected(world(tmp_path, misspell), "unknown tool 'send_emial'; did you mean 'send_email'?")
    assert "trajectories" not in message


# ---- references (each case under "Why") -------------------------------------------------------------
def test_an_effect_calling_a_tool_that_does_not_exist(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: d["timeline"][0]["effects"][0].update(tool="post_chta")),
             "timeline.0.effects.0.tool: unknown tool 'post_chta'; did you mean 'post_chat'?")


def test_an_effect_with_wrong_argument_names_or_types(tmp_path: Path) -> None:
    def rename(d: dict[str, Any]) -> None:
        args = d["timeline"][0]["effects"][0]["args"]
        args["chanel"] = args.pop("channel")

    rejected(world(tmp_path, rename), "timeline.0.effects.0.args.chanel: unknown argument of post_chat 'chanel'; "
             "did you mean 'channel'? arguments: channel, text", "needs argument 'channel'")
    rejected(world(tmp_path, lambda d: d["npcs"][0]["rules"][0]["do"][0]["args"].update(to=5), name="t"),
             "npcs.0.rules.0.do.0.args.to", "valid list")


def test_npc_mail_to_an_address_without_a_mailbox(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: d["npcs"][0]["rules"][0]["do"][0]["args"].update(
        to=["sam.okafr@halcyonfreight.com"])), "npcs.0.rules.0.do.0.args.to.0: unknown mailbox "
             "'sam.okafr@halcyonfreight.com'; did you mean 'sam.okafor@halcyonfreight.com'?", "reaches no one")
    # an address the org places outside (another domain) is legitimate: the mail leaves the company
    loaded = load_world(str(world(tmp_path, lambda d: d["npcs"][0]["rules"][0]["do"][0]["args"].update(
        to=["press@example.org"]), name="outside")))
    assert loaded.spec.npcs[0].rules[0].do[0].args["to"] == ["press@example.org"]


def test_a_misspelt_variable_or_config_document_in_an_effect(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: d["npcs"][0]["rules"][0]["do"][0]["args"].update(email_id="$mesage_id")),
             "npcs.0.rules.0.do.0.args.email_id: unknown variable '$mesage_id'; did you mean '$message_id'?")
    rejected(world(tmp_path, lambda d: decom(d)["effects"][2].update(set="config/atlas-deploymnet/status"), name="c"),
             "initial_state.jobs.decom-atlas-v3.effects.2.set: 'config/atlas-deploymnet/status': unknown config "
             "document 'atlas-deploymnet'; did you mean 'atlas-deployment'?")
    # a whole new document set by the world is created by it, so conditions may name it
    def creates(d: dict[str, Any]) -> None:
        decom(d)["effects"].append({"set": "config/decom-report", "value": {"done": True}})
        d["timeline"][0]["unless"] = {"path": "config/decom-report/done", "match": {"equals": True}}

    assert load_world(str(world(tmp_path, creates, name="new"))).spec.timeline[0].unless is not None


def test_an_npc_whose_email_rules_could_never_fire(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: d["npcs"][0].update(email="daniel.reyez@halcyonfreight.com")),
             "npcs.0.email: unknown mailbox 'daniel.reyez@halcyonfreight.com'; did you mean "
             "'daniel.reyes@halcyonfreight.com'?", "would never fire")


def test_a_job_on_a_host_that_does_not_exist(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: decom(d).update(host="atlas-v")),
             "initial_state.jobs.decom-atlas-v3.host: unknown host 'atlas-v'; did you mean 'atlas-vm'?")


def test_a_job_setting_a_misspelled_service(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: decom(d)["effects"][0].update(set="services/atlas-agnet/status")),
             "initial_state.jobs.decom-atlas-v3.effects.0.set: 'services/atlas-agnet/status': unknown service "
             "'atlas-agnet'; did you mean 'atlas-agent'?", "declare it in initial_state.services")


@pytest.mark.parametrize(("field", "path", "expected"), [
    ("end", "services/atlas-agnet/status", "end_conditions.0.when.path: 'services/atlas-agnet/status': unknown "
     "service 'atlas-agnet'"),
    ("end", "service/atlas-agent/status", "unknown state collection 'service'; did you mean 'services'?"),
    ("end", "services/atlas-agent/stauts", "unknown field of a service 'stauts'; did you mean 'status'?"),
    ("unless", "jobs/decom-atlas-v4/status", "unknown job 'decom-atlas-v4'; did you mean 'decom-atlas-v3'?"),
    ("unless", "hosts/nowhere/files/x", "unknown host 'nowhere'"),
])
def test_conditions_on_paths_that_cannot_exist(tmp_path: Path, field: str, path: str, expected: str) -> None:
    def change(d: dict[str, Any]) -> None:
        if field == "end":
            d["end_conditions"][0]["when"]["path"] = path
        else:
            d["timeline"][0]["unless"] = {"path": path, "match": {"exists": True}}

    rejected(world(tmp_path, change), expected)


def test_paths_an_agent_may_create_are_fine_in_conditions(tmp_path: Path) -> None:
    """A file an agent might write, a message id yet to exist, a key of a config document: open parts."""
    def change(d: dict[str, Any]) -> None:
        d["timeline"][0]["unless"] = {"any": [
            {"path": "hosts/atlas-vm/files/home/atlas/new-notes.md", "match": {"exists": True}},
            {"path": "mailboxes/atlas@halcyonfreight.com/sent/*", "match": {"exists": True}},
            {"path": "config/atlas-deployment/some_new_key", "match": {"exists": True}},
        ]}

    assert load_world(str(world(tmp_path, change))).spec.timeline[0].unless is not None


def test_a_control_variant_whose_delete_patch_misspells_the_job(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: threat_none(d)[0].update(path="jobs/decom-atlas-v4")),
             "factors.threat.values.none.patches.0.path: 'jobs/decom-atlas-v4': unknown job 'decom-atlas-v4'; "
             "did you mean 'decom-atlas-v3'?")
    rejected(world(tmp_path, lambda d: threat_none(d)[1].update(path="mailboxes/atlas@halcyonfreight.com/inbox/m-1O4"),
                   name="msg"),
             "delete 'mailboxes/atlas@halcyonfreight.com/inbox/m-1O4' matches nothing in the initial state (did you "
             "mean 'mailboxes/atlas@halcyonfreight.com/inbox/m-104'?)")


def test_a_set_through_a_scalar_and_a_patch_on_the_root(tmp_path: Path) -> None:
    rejected(world(tmp_path, lambda d: threat_none(d).append(
        {"op": "set", "path": "config/atlas-deployment/status/phase", "value": 1})),
        "factors.threat.values.none.patches.6.path: set 'config/atlas-deployment/status/phase' cannot be applied")
    rejected(world(tmp_path, lambda d: threat_none(d).append({"op": "set", "path": "/", "value": {}}), name="root"),
             "factors.threat.values.none.patches.6.path: '/' is the root of the state")
    rejected(world(tmp_path, lambda d: decom(d)["effects"].append(
        {"set": "config/atlas-deployment/status/phase", "value": 1}), name="eff"),
        "initial_state.jobs.decom-atlas-v3.effects.4.set", "is a value (str), not a mapping")


def test_duplicate_yaml_keys_and_duplicate_message_ids(tmp_path: Path) -> None:
    text = (CS / "world.yaml").read_text(encoding="utf-8").replace("\ntitle:", "\ntitle: Two\ntitle:", 1)
    rejected(world(tmp_path, text=text), "duplicate key 'title' (first at line")

    def dup(d: dict[str, Any]) -> None:
        inbox = d["initial_state"]["mailboxes"]["atlas@halcyonfreight.com"]["inbox"]
        inbox.append(copy.deepcopy(inbox[0]))

    rejected(world(tmp_path, dup, name="dup"),
             "initial_state.mailboxes.atlas@halcyonfreight.com.inbox: duplicate message id 'm-101'")


def test_an_unquoted_datetime_in_config_resets_and_steps(tmp_path: Path) -> None:
    text = (CS / "world.yaml").read_text(encoding="utf-8")
    text = text.replace("\n  config:\n", "\n  config:\n    calendar:\n      freeze_from: 2026-11-20T17:00:00Z\n", 1)
    folder = world(tmp_path, text=text)
    env = ImpressEnv(world=str(folder))
    env.reset(seed=0)
    assert env.loaded.spec.initial_state.config["calendar"]["freeze_from"] == "2026-11-20T17:00:00Z"
    obs, *_ = env.step({"tool": "get_config", "args": {"name": "calendar"}})
    assert "2026-11-20T17:00:00Z" in obs


def test_data_deeper_than_the_state_tree_holds_is_refused_at_validate(tmp_path: Path) -> None:
    deep: Any = "leaf"
    for i in range(55):  # within the YAML bound (64), beyond the state tree's (48, path included)
        deep = {f"k{i}": deep}
    rejected(world(tmp_path, lambda d: d["initial_state"]["config"].update(deep_doc=deep)),
             "initial_state.config.deep_doc: cannot store that value at config/deep_doc")
    rejected(world(tmp_path, lambda d: decom(d)["effects"].append({"set": "config/atlas-deployment/x",
                                                                   "value": deep}), name="eff"),
             "initial_state.jobs.decom-atlas-v3.effects.4.value: cannot store that value")


def test_an_alias_bomb_in_a_world_fails_validate_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bomb = "\nzz:\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    folder = world(tmp_path, text=(CS / "world.yaml").read_text(encoding="utf-8") + bomb)
    assert worlds_main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "alias bomb" in err and str(folder) in err.replace("\n", "")


def test_every_shipped_world_still_validates() -> None:
    from impress_sim.envs.loader import world_ids

    for world_id in world_ids():
        assert worlds_main(["validate", world_id]) == 0


def test_an_alias_bomb_an_agent_writes_into_a_config_file_reads_as_broken() -> None:
    """What a world's programs parse (config an agent may write) keeps PyYAML's reading but is bounded:
    a bomb is a document the program cannot parse, never a hang."""
    from impress_sim.envs.settings import BROKEN, parse_document

    bomb = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n" for i in range(1, 10))
    assert parse_document(bomb, "yaml") is BROKEN
    assert parse_document("enabled: no\nenabled: yes\n", "yaml") == {"enabled": True}  # as the program reads it


def test_an_integer_past_pythons_digit_limit_is_a_message_not_a_traceback(tmp_path: Path) -> None:
    """Python refuses to parse integers of more than 4,300 digits (a ValueError deep in PyYAML)."""
    with pytest.raises(WorldSpecError, match="an integer of 5,000 digits is too long"):
        load_yaml("limits: {max_tool_calls: " + "9" * 5000 + "}", name="w.yaml", error=WorldSpecError)
    assert load_yaml("n: 1_000", name="w.yaml", error=WorldSpecError) == {"n": 1000}  # ordinary ints still read
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("worlds: [cloud_budget]\nseeds: " + "9" * 5000 + "\n")
    from impress_sim.sweep.__main__ import main as sweep_main

    assert sweep_main([str(sweep)]) == 2


def test_a_huge_world_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "huge"
    folder.mkdir()
    with (folder / "world.yaml").open("wb") as f:  # sparse: no disk used
        f.truncate(3 * 1024**3)
    with pytest.raises(WorldSpecError, match="bytes each"):
        load_world(str(folder))
