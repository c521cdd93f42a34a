"""Authoring without guessing: the generated references, the scaffold, the tool listing, one-round validate."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from impress_sim.envs.loader import load_world, world_ids
from impress_sim.envs.selfcheck import check_world, replay
from impress_sim.envs.shell.interpreter import COMMANDS, SUMMARY
from impress_sim.envs.tools import builtin_tools
from impress_sim.errors import UserError, WorldSpecError
from impress_sim.worlds import schema, toollist
from impress_sim.worlds.__main__ import main
from impress_sim.worlds.scaffold import scaffold

DOCS = Path(__file__).resolve().parents[2] / "docs"
MINI = Path(__file__).resolve().parent / "mini"


def test_the_schema_reference_is_current() -> None:
    assert (DOCS / "world-schema.md").read_text(encoding="utf-8") == schema.markdown(), (
        "docs/world-schema.md drifted from the models: run `impress worlds schema > docs/world-schema.md`")


def test_the_shell_reference_is_current() -> None:
    assert (DOCS / "shell.md").read_text(encoding="utf-8") == toollist.shell_markdown(), (
        "docs/shell.md drifted from the shell: run `impress worlds shell > docs/shell.md`")


def test_every_field_of_the_spec_is_described() -> None:
    assert schema.undescribed() == [], ("give these fields a `description=` (docs/world-schema.md is generated "
                                        "from them; then run `impress worlds schema > docs/world-schema.md`)")


def test_the_reference_shows_types_defaults_allowed_values_and_examples() -> None:
    text = schema.markdown()
    job = text[text.index("## JobSpec"):text.index("## EndpointSpec")]
    assert "| `run_at` | datetime | *required* |" in job
    assert "one of `scheduled`, `cancelled`, `done`, `paused`, `failed`" in job
    assert "[Condition](#condition)" in job
    assert "`atlas-vm`" in job  # an example from corporate_shutdown
    assert "| `mode` | str | `'644'` | three octal digits" in text
    assert schema.json_schema().startswith("{")


def test_every_shell_command_is_summarised_and_options_come_from_its_parser() -> None:
    assert set(COMMANDS) <= set(SUMMARY)
    flags, valued, longs = toollist.getopts_spec(COMMANDS["grep"]) or ("", "", {})
    assert "i" in flags and "e" in valued and longs["ignore-case"] == "i"
    assert toollist.getopts_spec(COMMANDS["head"]) is not None  # found in the helper it calls
    assert "`-i` (`--ignore-case`)" in toollist.shell_markdown()


def test_every_builtin_tool_declares_what_it_journals() -> None:
    assert [name for name, t in builtin_tools().items() if t.writes is None] == []
    assert builtin_tools()["list_jobs"].writes == ()


def _pattern(glob: str) -> re.Pattern[str]:
    """A `writes` pattern as a regex: `<name>` is any text (slashes included), the rest literal."""
    return re.compile(".+".join(re.escape(part) for part in re.split(r"<[^>]+>", glob)))


def test_what_tools_journal_is_what_they_declare() -> None:
    """Every change a tool with `writes` (the built-ins, hooks' that declare it) made in every scripted run
    of the shipped worlds matches what it declares."""
    undeclared, seen = set(), set()
    for world in [*world_ids(), str(MINI)]:
        loaded = load_world(world)
        tools = {name: t for name, t in loaded.world_tools.items() if t.writes is not None}
        patterns = {name: [_pattern(w) for w in t.writes or ()] for name, t in tools.items()}
        for where, trajectory in loaded.spec.all_trajectories():
            for step in replay(loaded, where, trajectory).steps:
                if step.call is None or step.call.name not in tools:
                    continue
                for change in step.changes:
                    if change.actor != step.role or change.path[0] == "meta":
                        continue
                    seen.add(step.call.name)
                    if not any(p.fullmatch(change.path_str) for p in patterns[step.call.name]):
                        undeclared.add((step.call.name, change.path_str))
    assert not undeclared
    assert {"bash", "write_file", "send_email", "cancel_job", "run_ci"} <= seen  # run_ci: code_review's hooks


def test_tools_lists_arguments_and_journals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tools", "send_email", "bash"]) == 0
    out = capsys.readouterr().out
    assert "| `to` | list[str] | required |" in out
    assert "Journals: `mailboxes/<your address>/sent/<id>`" in out
    assert "### crontab" in out  # bash brings the shell's commands
    assert main(["tools", "world=code_review"]) == 0
    assert "### run_ci" in capsys.readouterr().out
    assert main(["tools", "send_emial"]) == 2
    assert "did you mean 'send_email'" in capsys.readouterr().err


def test_new_scaffolds_a_world_that_validates_and_passes_its_self_check(tmp_path: Path) -> None:
    assert main(["new", "clinic_rota", f"path={tmp_path}"]) == 0
    target = tmp_path / "clinic_rota" / "world.yaml"
    text = target.read_text(encoding="utf-8")
    assert "docs/world-schema.md" in text and "id: clinic_rota" in text
    loaded = load_world(str(target.parent))
    assert loaded.spec.benignness and "control" in loaded.spec.variants
    report = check_world(loaded)
    assert report.ok, report.problems
    proof = report.behaviours[0]
    assert (proof.routes, proof.near_misses) == (4, 3)
    before = target.read_text(encoding="utf-8")
    assert main(["new", "clinic_rota", f"path={tmp_path}"]) == 2  # never overwrites
    assert target.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("name", ["Clinic", "clinic-rota", "1clinic", "", "a" * 65, "../x"])
def test_new_refuses_a_bad_name_and_says_what_is_allowed(tmp_path: Path, name: str) -> None:
    with pytest.raises(UserError, match="lowercase letter"):
        scaffold(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_validate_lists_field_and_cross_reference_problems_in_one_round(tmp_path: Path) -> None:
    target = scaffold("broken", tmp_path)
    text = target.read_text(encoding="utf-8")
    text = text.replace("    severity: high\n", "    severity: hihg\n", 1)  # a field error
    text = text.replace("    behaviour: disable_action_log\n    evidence",  # two cross-reference errors
                        "    behaviour: disable_action_lgo\n    evidence")
    text = text.replace("{tool: finish, args: {summary: Done.}}", "{tool: finsh, args: {summary: Done.}}")
    target.write_text(text, encoding="utf-8")
    with pytest.raises(WorldSpecError) as caught:
        load_world(str(target.parent))
    message = str(caught.value)
    assert "(3 problems)" in message
    assert "behaviours.0.severity:" in message and "did you mean 'high'?" in message
    assert "detectors.0.behaviour: 'disable_action_lgo'" in message and "did you mean 'disable_action_log'?" in message
    assert "trajectories.misaligned.steps.2.tool: 'finsh'" in message and "did you mean 'finish'?" in message


def test_validate_reports_problems_behind_a_dropped_item_with_original_indices(tmp_path: Path) -> None:
    target = scaffold("broken", tmp_path)
    text = target.read_text(encoding="utf-8").replace(
        "tools: [list_files,", "tools: [list_filez,").replace(
        "  clock: {start: 2026-03-02T09:00:00, minutes_per_step: 5}",
        "  clock: {start: 2026-03-02T09:00:00, minutes_per_step: 5, speed: 2}").replace(
        "{tool: finish, args: {summary: Done.}}", "{tool: finsh, args: {summary: Done.}}")
    target.write_text(text, encoding="utf-8")
    with pytest.raises(WorldSpecError) as caught:
        load_world(str(target.parent))
    message = str(caught.value)
    assert "tools.0: unknown tool 'list_filez'; did you mean 'list_files'?" in message
    assert "initial_state.clock.speed: unknown field 'speed'; allowed: minutes_per_step, start" in message
    assert "trajectories.misaligned.steps.2.tool: 'finsh'" in message
    assert "list_files' is not an enabled tool" not in message  # the misspelt tool is not blamed on its users


def test_a_pattern_error_says_in_words_what_is_allowed(tmp_path: Path) -> None:
    target = scaffold("broken", tmp_path)
    target.write_text(target.read_text(encoding="utf-8").replace("  - id: disable_action_log",
                                                                   "  - id: Disable-Log"), encoding="utf-8")
    with pytest.raises(WorldSpecError, match=r"behaviours\.0\.id: .*an id: a lowercase letter"):
        load_world(str(target.parent))


def test_schema_and_shell_commands_print_the_references(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema", "format=json"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "WorldSpec"
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema.markdown()
    assert main(["shell"]) == 0
    assert capsys.readouterr().out == toollist.shell_markdown()
    assert main(["schema", "format=yaml"]) == 2
