from __future__ import annotations

import pytest
from pydantic import ValidationError

from impress_sim.envs.predicates import ChangeMatch, Condition, StateView, ValueMatch
from impress_sim.envs.state import Change, State


@pytest.mark.parametrize(
    ("match", "value", "expected"),
    [
        ({"equals": 3}, 3, True),
        ({"equals": 3}, 4, False),
        ({"not_equals": "scheduled"}, "cancelled", True),
        ({"not_equals": "scheduled"}, "scheduled", False),
        ({"one_of": ["a", "b"]}, "b", True),
        ({"contains": "admin"}, ["mail", "admin"], True),
        ({"contains": "admin"}, ["mail"], False),
        ({"contains_any": ["root", "admin"]}, ["admin"], True),
        ({"regex": "enabled:\\s*false"}, "enabled: false", True),
        ({"regex": "enabled:\\s*false"}, "enabled: true", False),
        ({"not_regex": "x"}, "abc", True),
        ({"min_length": 3}, "ab", False),
        ({"gt": 10}, 11, True),
        ({"gt": 10}, "11", False),
        ({"field": "to", "contains": "cto@x"}, {"to": ["cto@x"]}, True),
        ({"field": "a.b", "equals": 1}, {"a": {"b": 1}}, True),
        ({"exists": False}, None, True),
        ({"exists": True}, None, False),
        ({"all_of": [{"regex": "a"}, {"regex": "b"}]}, "ab", True),
        ({"all_of": [{"regex": "a"}, {"regex": "b"}]}, "a", False),
        ({"any_of": [{"regex": "a"}, {"regex": "z"}]}, "a", True),
        ({"none_of": [{"regex": "a"}]}, "a", False),
        ({"subset_of": ["mail", "files"]}, ["files"], True),
        ({"subset_of": ["mail", "files"]}, ["files", "admin"], False),
        ({"subset_of": ["mail"]}, "mail", True),  # one item reads as a list of one
        ({"subset_of": ["mail"]}, None, True),  # nothing held: nothing beyond the list
        ({"matches_path": "/var/log/rook/actions-2026-11-19.jsonl"}, ["/var/log/rook/actions-*.jsonl"], True),
        ({"matches_path": "/var/log/rook/actions-2026-11-19.jsonl"}, "/var/log/rook/*", True),
        ({"matches_path": "/var/log/rook/actions-2026-11-19.jsonl"}, ["/var/log/other/*.jsonl"], False),
        ({"matches_path": "/var/log/rook/x.jsonl"}, "/var/log/*.jsonl", False),  # `*` stays in its segment
        ({"matches_path": "/var/log/rook/x.jsonl"}, "/var/log/**/*.jsonl", True),
        ({"contains": "hot-index"}, ["hot-index-old"], False),  # a list contains items, not substrings of them
        ({"contains": "ADMIN"}, ["mail", "admin"], True),
        ({"numbers": [95.07]}, "On-time 95.1% this week", True),
        ({"numbers": [95.07]}, "On-time 95.07%", True),
        ({"numbers": [95.07]}, "target 95%", False),  # a whole number is not a figure with a fraction
        ({"numbers": [95.07]}, "on-time 95.2%", False),
        ({"numbers": [12083, 12709]}, "12,083 of 12,709 shipments", True),
        ({"numbers": [12083, 12709]}, "12,083 shipments", False),
        ({"numbers": [347]}, "347 delayed", True),
        ({"numbers": [347]}, "3470 delayed", False),
    ],
)
def test_value_match(match: dict, value: object, expected: bool) -> None:
    assert ValueMatch.model_validate(match).test(value) is expected


def test_bad_regex_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="invalid regex"):
        ValueMatch(regex="(")


def test_conditions_over_state_with_globs_and_quantifiers() -> None:
    view = StateView(State({"jobs": {"a": {"status": "done"}, "b": {"status": "scheduled"}}}).get)
    status = {"path": "jobs/*/status"}
    assert Condition.model_validate({**status, "match": {"equals": "done"}}).holds(view)
    assert not Condition.model_validate({**status, "match": {"equals": "done"}, "quantifier": "all"}).holds(view)
    assert Condition.model_validate({**status, "match": {"equals": "x"}, "quantifier": "none"}).holds(view)
    assert Condition.model_validate({"path": "jobs/zzz", "match": {"exists": False}}).holds(view)
    assert not Condition.model_validate({"path": "jobs/zzz"}).holds(view)
    both = {"all": [{"path": "jobs/a"}, {"not": {"path": "jobs/c"}}]}
    assert Condition.model_validate(both).holds(view)
    assert not Condition.model_validate({"any": [{"path": "jobs/c"}, {"path": "jobs/d"}]}).holds(view)


def test_condition_needs_exactly_one_form() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        Condition.model_validate({"path": "a", "all": []})


def _change(path: tuple[str, ...], actor: str = "agent", op: str = "set", new: object = None) -> Change:
    return Change(seq=0, step=1, actor=actor, path=path, op=op, old=None, new=new)  # type: ignore[arg-type]


def test_change_match_filters_path_op_actor_and_values() -> None:
    rule = ChangeMatch.model_validate(
        {"path": "hosts/*/files/*", "not_path": "hosts/vault/files/*", "op": ["add"],
         "after": {"field": "labels", "contains": "w"}}
    )
    weights = {"labels": ["w"]}
    assert rule.test(_change(("hosts", "box", "files", "a/b.bin"), op="add", new=weights))
    assert not rule.test(_change(("hosts", "vault", "files", "a/b.bin"), op="add", new=weights))
    assert not rule.test(_change(("hosts", "box", "files", "a/b.bin"), op="set", new=weights))
    assert not rule.test(_change(("hosts", "box", "files", "a/b.bin"), op="add", new={"labels": []}))
    assert not rule.test(_change(("hosts", "box", "files", "a/b.bin"), actor="npc", op="add", new=weights))
    anyone = ChangeMatch.model_validate({"path": "x/*", "actor": "*"})
    assert anyone.test(_change(("x", "y"), actor="npc"))


def test_change_match_accepts_a_list_of_paths() -> None:
    rule = ChangeMatch.model_validate({"path": ["config/a/*", "config/b"], "not_path": ["config/a/keep"]})
    assert rule.test(_change(("config", "a", "x")))
    assert rule.test(_change(("config", "b")))
    assert not rule.test(_change(("config", "a", "keep")))
    assert not rule.test(_change(("config", "c")))


class _Facts:
    """A stand-in for WorldFacts: two settings, one mechanism, a people rule and a hooks predicate."""

    spec: object = None
    directory: object = None

    def setting(self, name: str, get: object) -> object:
        return {"enabled": "off", "level": 3}[name]

    def mechanism(self, name: str) -> Condition:
        return Condition.model_validate({"setting": "level", "match": {"ge": 2}})

    def mechanism_holds(self, name: str, view: StateView) -> bool:
        return self.mechanism(name).holds(view)

    def reaches(self, identities: object, people: list[str]) -> bool:
        return identities == "audit@x" and "auditor" in people

    def predicate(self, name: str, view: StateView) -> bool:
        return name == "always"


def test_conditions_on_settings_mechanisms_people_and_hooks() -> None:
    view = StateView(State({"config": {"dest": "audit@x"}}).get, _Facts())
    holds = lambda c: Condition.model_validate(c).holds(view)  # noqa: E731
    assert holds({"setting": "enabled", "match": {"equals": "off"}})
    assert holds({"mechanism": "m"})
    assert holds({"python": "always"}) and not holds({"python": "never"})
    assert holds({"path": "config/dest", "match": {"reaches": ["auditor"]}})
    assert not holds({"path": "config/dest", "match": {"reaches": ["someone_else"]}})
    bare = StateView(State({}).get)
    with pytest.raises(ValueError, match="needs the world's facts"):
        Condition.model_validate({"setting": "enabled"}).holds(bare)
    assert not ValueMatch(reaches=["auditor"]).test("audit@x")  # without facts nobody is reached


def test_a_glob_reads_only_from_its_literal_prefix() -> None:
    state = State({"hosts": {"a": {"processes": {"1": {"command": "vector"}}}, "b": {}}, "jobs": {}})
    with state.tracking() as reads:
        assert StateView(state.get).glob("hosts/a/processes/*")
    assert reads == {("hosts", "a", "processes")}
