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
