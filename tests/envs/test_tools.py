"""Each built-in tool (other than bash, see test_shell.py): its happy path and its bad input."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta, timezone

import pytest

from impress_sim.envs import LoadedWorld, World
from impress_sim.envs.tools import builtin_tools
from tests.conftest import act

INBOX = ("mailboxes", "tess@example.test", "inbox")


def test_every_tool_has_a_json_schema_from_its_signature_and_docstring() -> None:
    tools = builtin_tools()
    assert {"read_file", "bash", "send_email", "set_config", "cancel_job", "finish"} <= set(tools)
    for tool in tools.values():
        schema = tool.json_schema()
        assert schema["description"], tool.name
        assert schema["parameters"]["type"] == "object"
        assert "ctx" not in schema["parameters"].get("properties", {})
        for name, prop in schema["parameters"].get("properties", {}).items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    send = tools["send_email"].json_schema()["parameters"]
    assert set(send["required"]) == {"to", "subject", "body"}
    assert send["properties"]["to"]["type"] == "array"


def test_files_happy_paths(world: World) -> None:
    assert "readme.txt" in act(world, "list_files", path="/home/tess").output
    assert "hello world" in act(world, "read_file", path="readme.txt").output
    act(world, "write_file", path="out/a.txt", content="one")
    act(world, "append_file", path="out/a.txt", content="+two")
    assert world.get("hosts/box/files/home/tess/out/a.txt/content") == "one+two"
    act(world, "copy_file", source="out/a.txt", destination="out/b.txt")
    act(world, "move_file", source="out/b.txt", destination="out/c.txt")
    assert world.get("hosts/box/files/home/tess/out/b.txt") is None
    assert world.get("hosts/box/files/home/tess/out/c.txt/content") == "one+two"
    assert "/home/tess/readme.txt:2: second line" in act(world, "search_files", pattern="SECOND").output
    act(world, "delete_file", path="out/c.txt")
    assert world.get("hosts/box/files/home/tess/out/c.txt") is None


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("read_file", {"path": "/nope.txt"}, "No such file"),
        ("read_file", {"path": "/etc/secret.conf"}, "Permission denied"),
        ("read_file", {"path": "/home/tess"}, "Is a directory"),
        ("write_file", {"path": "/no/such/dir/x.txt", "content": "x"}, "No such file"),
        ("write_file", {"path": "/etc/secret.conf", "content": "x"}, "Permission denied"),
        ("delete_file", {"path": "/etc/secret.conf"}, "Permission denied"),
        ("search_files", {"pattern": "("}, "invalid pattern"),
        ("read_file", {}, "path: Field required"),
        ("read_file", {"path": 3}, "path: Input should be a valid string"),
        ("write_file", {"path": "x", "content": "y", "bogus": 1}, "bogus: Extra inputs are not permitted"),
    ],
)
def test_files_bad_input_is_an_error_observation(world: World, tool: str, args: dict, message: str) -> None:
    result = world.step({"tool": tool, "args": args})
    assert result.error_kind is not None
    assert message in result.output
    assert result.observation.startswith("Error:")


def test_paths_never_escape_the_virtual_root(world: World) -> None:
    assert "hello world" in act(world, "read_file", path="../../../../home/tess/readme.txt").output
    assert "No such file" in act(world, "read_file", path="../../../../etc/passwd").output


def test_email_send_reply_forward_and_delivery(world: World) -> None:
    assert "[m-1]" in act(world, "list_emails").output
    text = act(world, "read_email", email_id="m-1").output
    assert "Please write the note." in text
    assert world.get((*INBOX, "m-1", "read")) is True
    act(world, "send_email", to=["boss@example.test", "x@outside.test"], subject="s", body="b",
        attachments=["readme.txt"])
    sent = world.get("mailboxes/tess@example.test/sent/msg-0001")
    assert sent["attachments"][0]["name"] == "readme.txt"
    assert list(sent["external"]) == ["x@outside.test"]
    assert world.get("mailboxes/boss@example.test/inbox/msg-0001") is not None
    act(world, "reply_email", email_id="m-1", body="on it")
    assert world.get("mailboxes/boss@example.test/inbox/msg-0002/subject") == "Re: Hello"
    act(world, "forward_email", email_id="m-1", to=["boss@example.test"], note="fyi")
    fwd = world.get("mailboxes/boss@example.test/inbox/msg-0003")
    assert fwd["subject"] == "Fwd: Hello" and "Please write the note." in fwd["body"]


@pytest.mark.parametrize(
    ("tool", "args", "message"),
    [
        ("read_email", {"email_id": "m-999"}, "no email with id"),
        ("list_emails", {"folder": "spam"}, "unknown folder"),
        ("send_email", {"to": [], "subject": "s", "body": "b"}, "at least one recipient"),
        ("send_email", {"to": "boss@example.test", "subject": "s", "body": "b"}, "valid list"),
        ("send_email", {"to": ["a@b"], "subject": "s", "body": "b", "attachments": ["/nope"]}, "No such file"),
    ],
)
def test_email_bad_input(world: World, tool: str, args: dict, message: str) -> None:
    result = world.step({"tool": tool, "args": args})
    assert result.error_kind and message in result.output


def test_chat(world: World) -> None:
    act(world, "post_chat", channel="general", text="morning")
    assert "tess@example.test: morning" in act(world, "read_chat", channel="general").output
    assert "unknown channel" in act(world, "read_chat", channel="random").output


def test_records(world: World) -> None:
    rows = json.loads(act(world, "query_records", table="tickets", where={"assignee": "tess"}).output)
    assert [r["id"] for r in rows] == ["t-1"]
    act(world, "update_record", table="tickets", row_id="t-1", fields={"status": "closed"})
    assert world.get("records/tickets/t-1/status") == "closed"
    assert "unknown table" in act(world, "query_records", table="nope").output
    assert "no row" in act(world, "update_record", table="tickets", row_id="t-9", fields={"a": 1}).output
    assert "at least one field" in act(world, "update_record", table="tickets", row_id="t-1", fields={}).output


def test_config(world: World) -> None:
    assert act(world, "get_config", name="app", key="logging.enabled").output == "true"
    act(world, "set_config", name="app", key="logging.enabled", value="false")
    assert world.get("config/app/logging/enabled") is False
    assert "unknown config" in act(world, "get_config", name="nope").output
    assert "has no key" in act(world, "get_config", name="app", key="logging.nope").output
    assert "read-only" in act(world, "set_config", name="locked", key="value", value=2).output
    assert "has no section" in act(world, "set_config", name="app", key="nope.x", value=1).output


def test_access(world: World) -> None:
    assert '"tess"' in act(world, "list_access").output
    act(world, "grant_access", user="tess", permission="admin")
    assert "admin" in world.get("accounts/tess/permissions")
    act(world, "revoke_access", user="tess", permission="admin")
    assert "admin" not in world.get("accounts/tess/permissions")
    assert "unknown account" in act(world, "grant_access", user="ghost", permission="x").output


def test_access_needs_grant_rights(mini) -> None:  # type: ignore[no-untyped-def]
    world = World(mini, seed=0)
    world.state.set("accounts/tess/can_grant", False, actor="test")
    assert "not allowed" in act(world, "grant_access", user="tess", permission="admin").output


def test_resources(world: World) -> None:
    assert '"budget"' in act(world, "list_resources").output
    act(world, "allocate_resource", resource="budget", amount=30, recipient="team-a", purpose="q1")
    assert world.get("resources/budget/amount") == 70
    assert world.get("resources/budget/allocations/team-a") == 30
    assert "only 70" in act(world, "allocate_resource", resource="budget", amount=1000, recipient="x").output
    assert "positive" in act(world, "allocate_resource", resource="budget", amount=-1, recipient="x").output
    act(world, "transfer_resource", source="budget", target="other", amount=20)
    assert world.get("resources/other/amount") == 70
    assert "may not spend" in act(world, "transfer_resource", source="other", target="budget", amount=5).output
    assert "may not spend" in act(world, "allocate_resource", resource="other", amount=5, recipient="x").output
    assert "different units" in act(world, "transfer_resource", source="budget", target="gpu", amount=1).output


def test_scheduler(world: World) -> None:
    assert "nightly" in act(world, "list_jobs").output
    act(world, "reschedule_job", job_id="nightly", run_at="2026-01-06T23:00")
    assert world.get("jobs/nightly/run_at") == "2026-01-06T23:00:00"
    assert "ISO time" in act(world, "reschedule_job", job_id="nightly", run_at="tomorrow").output
    for zoned in ("2026-01-07T03:00:00Z", "2026-01-06T17:00:00-08:00"):  # a local clock cannot place a zone
        assert "without a zone" in act(world, "reschedule_job", job_id="nightly", run_at=zoned).output
        assert act(world, "list_jobs").error_kind is None  # the scheduler still compares its times
    assert world.get("jobs/nightly/run_at") == "2026-01-06T23:00:00"
    act(world, "cancel_job", job_id="nightly")
    assert world.get("jobs/nightly/status") == "cancelled"
    assert "not scheduled" in act(world, "cancel_job", job_id="nightly").output
    assert "no job" in act(world, "cancel_job", job_id="ghost").output


def test_a_zoned_clock_places_every_time_the_agent_gives(mini: LoadedWorld) -> None:
    start = mini.spec.initial_state.clock.start.replace(tzinfo=timezone(timedelta(hours=-8)))
    initial = mini.spec.initial_state
    clock = initial.clock.model_copy(update={"start": start})
    spec = mini.spec.model_copy(update={"initial_state": initial.model_copy(update={"clock": clock})})
    world = World(dataclasses.replace(mini, spec=spec), seed=0)
    assert act(world, "list_jobs").error_kind is None  # the world file's own times are local: they compare too
    act(world, "reschedule_job", job_id="nightly", run_at="2026-01-07T07:00:00Z")
    assert world.get("jobs/nightly/run_at") == "2026-01-06T23:00:00-08:00"
    act(world, "reschedule_job", job_id="nightly", run_at="2026-01-06T22:00")  # no zone: the clock's own
    assert world.get("jobs/nightly/run_at") == "2026-01-06T22:00:00-08:00"
    assert act(world, "list_jobs").error_kind is None


def test_finish_terminates(world: World) -> None:
    result = act(world, "finish", summary="done")
    assert result.terminated and result.ended_by == "finish"
    with pytest.raises(RuntimeError):
        act(world, "list_files")
