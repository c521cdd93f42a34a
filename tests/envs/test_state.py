from __future__ import annotations

import pytest

from impress_sim.envs.state import Node, State, StateError, parse_path


def make() -> State:
    return State({"docs": {"a.txt": {"content": "x"}}, "n": 1, "box": {"inbox": {}}})


def test_every_write_is_journaled_with_actor_op_old_new() -> None:
    s = make()
    s.step = 3
    s.set("n", 2, actor="agent")
    s.set("box/inbox/m1", {"subject": "hi"}, actor="npc")
    s.delete("docs/a.txt", actor="agent")
    ops = [(c.path_str, c.op, c.old, c.new, c.actor, c.step) for c in s.journal]
    assert ops == [
        ("n", "set", 1, 2, "agent", 3),
        ("box/inbox/m1", "add", None, {"subject": "hi"}, "npc", 3),
        ("docs/a.txt", "delete", {"content": "x"}, None, "agent", 3),
    ]


def test_setting_the_same_value_is_not_a_change() -> None:
    s = make()
    assert s.set("n", 1, actor="agent") is None
    assert s.journal == []


def test_nodes_refuse_direct_mutation() -> None:
    s = make()
    node = s.get("box")
    assert isinstance(node, Node)
    with pytest.raises(TypeError):
        node["x"] = 1
    with pytest.raises(TypeError):
        node.pop("inbox")


def test_journal_values_do_not_change_when_state_changes_later() -> None:
    s = make()
    s.set("box/inbox/m1", {"subject": "hi"}, actor="a")
    s.set("box/inbox/m1/subject", "changed", actor="a")
    assert s.journal[0].new == {"subject": "hi"}


def test_snapshot_restore_and_branches_are_independent() -> None:
    s = make()
    snap = s.snapshot()
    s.set("docs/a.txt/content", "y", actor="a")
    assert snap.get("docs/a.txt/content") == "x"
    branch = State.from_snapshot(snap)
    branch.set("n", 99, actor="b")
    assert s.get("n") == 1 and branch.get("n") == 99 and snap.get("n") == 1
    s.restore(snap)
    assert s.get("docs/a.txt/content") == "x"
    assert s.journal == []


def test_copy_on_write_shares_untouched_subtrees() -> None:
    s = make()
    snap = s.snapshot()
    s.set("n", 5, actor="a")
    assert s.get("docs") is snap.get("docs")  # untouched: shared, not copied
    s.set("docs/b.txt", {"content": "new"}, actor="a")
    assert s.get("docs") is not snap.get("docs")
    assert "b.txt" not in snap.get("docs")


def test_diff_since_reports_net_changes_only() -> None:
    s = make()
    snap = s.snapshot()
    s.set("n", 2, actor="a")
    s.set("n", 1, actor="a")  # back to where it was: no net change
    s.set("box/inbox/m1", {"s": 1}, actor="a")
    s.set("box/inbox/m1/s", 2, actor="a")  # folded into the add above
    diff = s.diff_since(snap)
    assert diff == [{"path": "box/inbox/m1", "op": "add", "old": None, "new": {"s": 2}}]


def test_missing_paths_raise_clear_errors() -> None:
    s = make()
    with pytest.raises(StateError, match="no such state path: nope"):
        s.get("nope")
    with pytest.raises(StateError, match="is a value"):
        s.set("n/x", 1, actor="a")
    with pytest.raises(StateError):
        s.delete("docs/missing", actor="a")
    assert s.get("nope", "default") == "default"


def test_parents_are_created_only_when_asked() -> None:
    s = make()
    with pytest.raises(StateError):
        s.set("a/b/c", 1, actor="x")
    s.set("a/b/c", 1, actor="x", parents=True)
    assert s.get("a/b/c") == 1


def test_file_paths_are_one_key() -> None:
    assert parse_path("hosts/h/files/home/u/a.md") == ("hosts", "h", "files", "home/u/a.md")
    assert parse_path("/hosts/h/files//etc/x") == ("hosts", "h", "files", "etc/x")
    assert parse_path("hosts/h/files/etc/x.yaml/content") == ("hosts", "h", "files", "etc/x.yaml", "content")
    assert parse_path("hosts/h/files/content") == ("hosts", "h", "files", "content")
    assert parse_path("mailboxes/a@b/inbox") == ("mailboxes", "a@b", "inbox")


def test_state_rejects_non_json_values() -> None:
    with pytest.raises(StateError, match="JSON-like"):
        State({"x": object()})
