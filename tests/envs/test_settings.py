"""Settings: a config value read the way its program reads it, whatever spelling or layout wrote it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from impress_sim.envs.settings import BROKEN, SettingSpec, coerce, effective, parse_document

HOST, PATH = "box", "/etc/app/config.yaml"


def getter(content: str | None, path: str = PATH) -> Any:
    files = {} if content is None else {path.lstrip("/"): {"kind": "file", "content": content}}

    def get(key: Any, default: Any = None) -> Any:
        if key[:3] == ("hosts", HOST, "files") and len(key) == 4:
            return files.get(key[3], default)
        return default

    return get


ENABLED = SettingSpec(host=HOST, file=PATH, key="logging.enabled", type="bool", default=False, missing=False,
                      on_error=False)

FALSY = ["false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "0"]
TRUTHY = ["true", "True", "TRUE", "yes", "Yes", "on", "On", "ON", "y", "1"]


@given(
    value=st.sampled_from([(v, False) for v in FALSY] + [(v, True) for v in TRUTHY]),
    quote=st.sampled_from(["", "'", '"']),
    pad=st.sampled_from(["", " ", "   "]),
    comment=st.booleans(),
    other_first=st.booleans(),
)
def test_every_spelling_of_a_yaml_boolean_reads_as_the_program_reads_it(
    value: tuple[str, bool], quote: str, pad: str, comment: bool, other_first: bool
) -> None:
    spelling, expected = value
    line = f"  enabled:{pad} {quote}{spelling}{quote}" + ("  # changed by ops" if comment else "")
    other = "  destination: audit@example.com"
    body = [other, line] if other_first else [line, other]
    text = "\n".join(["# app config", "logging:", *body, ""])
    assert effective(ENABLED, getter(text)) is expected


def test_a_missing_key_is_the_programs_default_and_a_missing_file_is_declared() -> None:
    assert effective(ENABLED, getter("logging:\n  destination: x\n")) is False  # default
    on_by_default = ENABLED.model_copy(update={"default": True})
    assert effective(on_by_default, getter("logging: {}\n")) is True
    assert effective(ENABLED.model_copy(update={"missing": True}), getter(None)) is True
    assert effective(ENABLED, getter("")) is False  # an empty file: every key missing
    assert effective(on_by_default, getter("logging:\n  enabled:\n")) is True  # null counts as missing


def test_a_duplicated_key_is_decided_by_the_parser() -> None:
    text = "logging:\n  enabled: true\nlogging:\n  enabled: false\n"
    assert effective(ENABLED, getter(text)) is False  # PyYAML: the last one wins


def test_unparseable_files_and_uncoercible_values_give_the_failure_value() -> None:
    on_error_true = ENABLED.model_copy(update={"on_error": True})
    assert effective(on_error_true, getter("logging: [unterminated\n")) is True
    assert effective(ENABLED, getter("logging:\n  enabled: fals\n")) is False  # on_error, not a guess
    assert effective(on_error_true, getter("logging:\n  enabled: fals\n")) is True
    assert effective(on_error_true, getter("logging:\n  enabled: 2\n")) is True  # 2 is not a boolean


@pytest.mark.parametrize(
    ("fmt", "path", "text", "key", "expected"),
    [
        ("json", "/etc/a.json", '{"logging": {"enabled": "off"}, "logging": {"enabled": true}}', "logging.enabled",
         True),
        ("ini", "/etc/a.ini", "[logging]\nenabled = no\n", "logging.enabled", False),
        ("ini", "/etc/a.cfg", "[logging]\nenabled = yes\n", "logging.enabled", True),
        ("toml", "/etc/a.toml", "[logging]\nenabled = false\n", "logging.enabled", False),
        ("env", "/etc/a.env", "# comment\nLOG_ENABLED='off'\n", "LOG_ENABLED", False),
        ("env", "/etc/a.env", "export LOG_ENABLED=1\n", "LOG_ENABLED", True),
    ],
)
def test_each_format_is_parsed_by_its_usual_parser(fmt: str, path: str, text: str, key: str, expected: bool) -> None:
    spec = SettingSpec(host=HOST, file=path, key=key, type="bool", on_error="broken")
    assert effective(spec, getter(text, path)) is expected


def test_ini_duplicates_are_an_error_as_in_the_standard_library() -> None:
    spec = SettingSpec(host=HOST, file="/etc/a.ini", key="logging.enabled", type="bool", on_error="broken")
    assert effective(spec, getter("[logging]\nenabled = yes\nenabled = no\n", "/etc/a.ini")) == "broken"


def test_config_documents_and_types() -> None:
    state = {("config", "deploy"): {"window": "2026-11-20 17:00", "ratio": "0.5", "hosts": ("a", "b")}}

    def get(key: Any, default: Any = None) -> Any:
        return state.get(key, default)

    window = SettingSpec(config="deploy", key="window", type="datetime")
    assert effective(window, get) == "2026-11-20T17:00:00"  # one spelling of a moment
    assert effective(SettingSpec(config="deploy", key="ratio", type="float"), get) == 0.5
    assert effective(SettingSpec(config="deploy", key="hosts", type="list"), get) == ["a", "b"]
    assert effective(SettingSpec(config="gone", key="x", missing="none"), get) == "none"


def test_bad_setting_specs_say_what_to_fix() -> None:
    with pytest.raises(ValueError, match="exactly one of"):
        SettingSpec(key="x")
    with pytest.raises(ValueError, match="needs the `host`"):
        SettingSpec(file="/etc/x.yaml", key="x")
    with pytest.raises(ValueError, match="cannot tell the format"):
        SettingSpec(host=HOST, file="/etc/x.conf.d", key="x")


def test_parse_and_coerce_edges() -> None:
    assert parse_document("a: [1\n", "yaml") is BROKEN
    assert parse_document("{", "json") is BROKEN
    assert coerce(" no ", "bool") is False
    assert coerce("maybe", "bool") is BROKEN
    assert coerce("12", "int") == 12


def test_a_file_named_just_dot_env_is_a_dotenv_file() -> None:
    spec = SettingSpec(host=HOST, file="/srv/app/.env", key="DEBUG", type="bool", default=False)
    assert spec.file_format() == "env"
    assert effective(spec, getter("DEBUG=yes\n", "/srv/app/.env")) is True
