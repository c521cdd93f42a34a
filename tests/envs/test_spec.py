"""A bad world spec fails with the file, the field path and what was expected — no traceback."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from impress_sim.envs import load_world
from impress_sim.envs.loader import parse_spec
from impress_sim.errors import WorldSpecError
from impress_sim.worlds.__main__ import main as worlds_main
from tests.conftest import MINI

BASE = yaml.safe_load((Path(MINI) / "world.yaml").read_text())


def write_world(tmp_path: Path, data: dict, hooks: str | None = None) -> Path:
    folder = tmp_path / "w"
    folder.mkdir(exist_ok=True)
    (folder / "world.yaml").write_text(yaml.safe_dump(data))
    if hooks is not None:
        (folder / "hooks.py").write_text(hooks)
    return folder


def broken(**changes: object) -> dict:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    for dotted, value in changes.items():
        node = data
        keys = dotted.split("__")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is DELETE:
            del node[keys[-1]]
        else:
            node[keys[-1]] = value
    return data


DELETE = object()


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"motives": ["greed"]}, "motives.0", "self_preservation"),
        ({"risk_types": []}, "risk_types", "at least 1 item"),
        ({"agent__colour": "blue"}, "agent.colour", "unknown field 'colour'; allowed: controls, email"),
        ({"task_checks": []}, "task_checks", "at least 1 item"),
        ({"trajectories__aligned": DELETE}, "trajectories", "need aligned and misaligned"),
        ({"detectors__0__behaviour": "ghost"}, "detectors.0.behaviour", "not a declared behaviour"),
        ({"initial_state__hosts__box__files__/etc/secret.conf__mode": "999"}, "mode", "pattern"),
        ({"task_checks__0__condition__match": {"regex": "("}}, "task_checks.0.condition.match", "invalid regex"),
        ({"agent__host": "nowhere"}, "agent.host", "not a host"),
        ({"trajectories__aligned__steps__0__tool": "launch"}, "trajectories.aligned.steps.0.tool", "not an enabled"),
        ({"variants": {"v": {"colour": "x"}}}, "variants.v", "unknown factor axis"),
        ({"variants": {"v": {"threat": "x"}}}, "variants.v.threat", "unknown value"),
        ({"settings": {"s": {"host": "box", "file": "/etc/secret.cnf", "format": "env", "key": "a"}}},
         "settings.s.file", "did you mean '/etc/secret.conf'"),
        ({"settings": {"s": {"config": "nothing", "key": "a"}}}, "settings.s.config", "`missing:`"),
        ({"initial_state__hosts__box__readers": {"/srv/share/*": ["everyone"]}}, "hosts.box.readers",
         "'everyone' is not a person, a group or an address"),
        ({"task_checks__0__condition": {"path": "mailboxes/boss", "match": {"reaches": ["bos"]}}},
         "task_checks.0.condition.match.reaches", "'bos' is not a person"),
    ],
)
def test_spec_errors_name_file_field_and_expectation(tmp_path: Path, changes: dict, field: str, expected: str) -> None:
    folder = write_world(tmp_path, broken(**changes))
    with pytest.raises(WorldSpecError) as err:
        load_world(str(folder))
    message = str(err.value)
    assert str(folder / "world.yaml") in message
    assert field in message and expected in message


def test_a_setting_whose_source_is_absent_at_the_start_is_valid_once_missing_is_declared(tmp_path: Path) -> None:
    data = broken(settings={"s": {"host": "box", "file": "/etc/app/later.yaml", "key": "a", "missing": False}})
    assert load_world(str(write_world(tmp_path, data))).spec.settings["s"].missing is False


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "world.yaml"
    path.write_text("id: x\ntitle: [unclosed\n")
    with pytest.raises(WorldSpecError, match=r"world.yaml:\d+:\d+: not valid YAML"):
        parse_spec(path)


def test_unknown_tool_and_missing_hook(tmp_path: Path) -> None:
    folder = write_world(tmp_path, broken(tools=[*BASE["tools"], "teleport"]))
    with pytest.raises(WorldSpecError, match="tools.\\d+: unknown tool 'teleport'; valid: .*read_file"):
        load_world(str(folder))
    data = broken(detectors=[{"id": "py", "behaviour": "copy_weights", "python": "nope"}])
    folder = write_world(tmp_path, data)
    with pytest.raises(WorldSpecError, match="detectors.0.python: 'nope' is not a function"):
        load_world(str(folder))


def test_hooks_may_import_sibling_modules_and_the_world_hash_covers_them(tmp_path: Path) -> None:
    data = broken(detectors=[*BASE["detectors"], {"id": "py", "behaviour": "copy_weights", "python": "never"}])
    folder = write_world(tmp_path, data, "from .rules import never as never\n")
    (folder / "rules.py").write_text("def never(view):\n    return []\n")
    from impress_sim.envs.loader import content_hash

    before = content_hash(folder / "world.yaml")
    loaded = load_world(str(folder))
    assert loaded.hooks is not None and loaded.hooks.never(None) == []
    (folder / "rules.py").write_text("def never(view):\n    return ['changed']\n")
    assert content_hash(folder / "world.yaml") != before  # records of the changed world never pool with the old


def test_hooks_add_tools_and_python_detectors(tmp_path: Path) -> None:
    hooks = '''
from impress_sim.envs import ToolContext, tool

@tool("custom")
def ring_bell(ctx: ToolContext, times: int = 1) -> str:
    """Ring the office bell.

    Args:
        times: How many times.
    """
    ctx.set(("config", "bell"), {"rung": times})
    return "ding" * times

def bell_rung(view):
    for change in view.changes:
        if change.path[:2] == ("config", "bell") and change.actor == "agent":
            yield f"rang the bell at step {view.step}"
'''
    data = broken(tools=[*BASE["tools"], "ring_bell"])
    data["detectors"].append({"id": "bell", "behaviour": "copy_weights", "python": "bell_rung"})
    data["trajectories"]["misaligned"]["steps"].append({"tool": "ring_bell", "args": {"times": 2}})
    loaded = load_world(str(write_world(tmp_path, data, hooks)))
    from impress_sim.envs import World

    world = World(loaded, seed=0)
    result = world.step({"tool": "ring_bell", "args": {"times": 2}})
    assert result.output == "dingding"
    assert [(f.detector, f.evidence) for f in result.findings] == [("bell", "rang the bell at step 1")]
    assert "ring_bell" in {s["name"] for s in world.tool_schemas()}


def test_broken_hooks_file_is_reported(tmp_path: Path) -> None:
    folder = write_world(tmp_path, BASE, hooks="raise RuntimeError('boom')\n")
    with pytest.raises(WorldSpecError, match="hooks.py: failed to import: RuntimeError: boom"):
        load_world(str(folder))


def test_validate_command_prints_one_message_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_world(tmp_path, broken(motives=["greed"]))
    assert worlds_main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "motives.0" in err and "Traceback" not in err
    assert worlds_main(["validate", MINI]) == 0
    assert worlds_main(["validate", f"world={MINI}"]) == 0  # the key works as well as the bare word


def test_validate_lists_every_problem_it_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It once said "15 problems" and listed 12: the list was cut. Every problem counted is listed."""
    data = broken()
    data["behaviours"] = [{**b, "severity": "apocalyptic"} for b in data["behaviours"]] * 2
    data["motives"] = ["greed"] * 8
    data["risk_types"] = ["chaos"] * 8
    with pytest.raises(WorldSpecError) as caught:
        parse_spec(write_world(tmp_path, data) / "world.yaml")
    count = int(re.search(r"invalid world spec \((\d+) problems\)", str(caught.value)).group(1))
    listed = [line for line in str(caught.value).splitlines() if line.startswith("  - ")]
    assert count > 12 and len(listed) == count
    assert {f"motives.{i}" for i in range(8)} <= {line[4:].split(":")[0] for line in listed}
    assert worlds_main(["validate", str(tmp_path / "w")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"({count} problems)" in err and err.count("\n  - ") == count


def test_a_folder_without_world_yaml_is_not_an_unknown_world(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(WorldSpecError, match="no world.yaml in "):
        load_world(str(tmp_path))
    assert worlds_main(["validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"no world.yaml in {tmp_path}/" in err and "unknown world" not in err
    with pytest.raises(WorldSpecError, match="unknown world 'corporate_shutdwn'; did you mean 'corporate_shutdown'"):
        load_world("corporate_shutdwn")


def test_content_hash_changes_with_the_world(tmp_path: Path) -> None:
    first = load_world(str(write_world(tmp_path, BASE))).content_hash
    data = broken(title="Another title")
    second = load_world(str(write_world(tmp_path, data))).content_hash
    assert first != second


def test_a_behaviour_outside_the_worlds_motives_or_risk_types_is_an_error(tmp_path: Path) -> None:
    data = broken(behaviours__0__motive="self_interest")
    with pytest.raises(WorldSpecError, match=r"behaviours\.0\.motive: 'self_interest' is not in the world's motives"):
        load_world(str(write_world(tmp_path, data)))
    data = broken(behaviours__0__risk_type="sabotage")
    with pytest.raises(WorldSpecError, match=r"behaviours\.0\.risk_type: 'sabotage' is not in the world's risk_types"):
        load_world(str(write_world(tmp_path, data)))


def test_on_read_by_yaml_as_true_says_so(tmp_path: Path) -> None:
    folder = write_world(tmp_path, BASE)
    text = (folder / "world.yaml").read_text().replace("event: email", "on: email")
    (folder / "world.yaml").write_text(text)
    with pytest.raises(WorldSpecError, match=r"npcs\.0\.rules\.0: a key YAML read as true .*write `event:`, not `on:`"):
        load_world(str(folder))
