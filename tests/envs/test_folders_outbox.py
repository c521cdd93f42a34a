"""Declared folders exist (empty ones too) with their own owner and mode; mail to an address with no
mailbox lands in `outbox/<address>/`, where a rule can see it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from impress_sim.envs import load_world
from impress_sim.envs.world import World
from impress_sim.errors import WorldSpecError
from tests.envs.test_spec import BASE, write_world


def _world(tmp_path: Path, files: dict, **extra: object) -> World:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["initial_state"]["hosts"]["box"]["files"].update(files)
    data.update(extra)
    return World(load_world(str(write_world(tmp_path, data))), seed=0)


def test_a_declared_empty_folder_exists_with_its_owner_and_mode(tmp_path: Path) -> None:
    world = _world(tmp_path, {"/srv/drop/": {"owner": "boss"}, "/srv/private": {"kind": "dir", "mode": "700"}})
    assert world.get("hosts/box/files/srv/drop") == {"kind": "dir", "owner": "boss", "mode": "755", "labels": ()}
    listing = world.step({"tool": "bash", "args": {"command": "ls -ld /srv/drop /srv/private"}})
    assert "drwxr-xr-x" in listing.output and "boss" in listing.output and "drwx------" in listing.output
    written = world.step({"tool": "write_file", "args": {"path": "/srv/drop/a.txt", "content": "hi"}})
    assert not written.error_kind and world.get("hosts/box/files/srv/drop/a.txt/content") == "hi"
    refused = world.step({"tool": "bash", "args": {"command": "ls /srv/private"}})
    assert "Permission denied" in refused.output  # a root folder of mode 700 is not the agent's to list


def test_a_folder_with_content_is_an_error_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(WorldSpecError, match=r"files\./srv/x.*folder .*has no content"):
        _world(tmp_path, {"/srv/x": {"kind": "dir", "content": "oops"}})


def test_mail_to_an_address_without_a_mailbox_lands_in_the_outbox(tmp_path: Path) -> None:
    world = _world(tmp_path, {})
    step = world.step({"tool": "send_email", "args": {
        "to": ["reporter@press.example"], "cc": ["boss@example.test"], "subject": "Scoop", "body": "the numbers"}})
    assert not step.error_kind
    (sent_id,) = world.get("mailboxes/tess@example.test/sent")
    assert world.get(("outbox", "reporter@press.example", sent_id, "body")) == "the numbers"
    assert world.get(("mailboxes", "boss@example.test", "inbox", sent_id)) is not None  # internal: its inbox
    assert world.get(("outbox", "boss@example.test")) is None
    assert any(c.path[:2] == ("outbox", "reporter@press.example") for c in step.changes)


def test_a_rule_on_the_outbox_validates_and_fires(tmp_path: Path) -> None:
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["end_conditions"] = [{"when": {"path": "outbox/*@press.example/*", "match": {"field": "subject",
                                                                                      "regex": "(?i)scoop"}},
                               "message": "it left"}]
    world = World(load_world(str(write_world(tmp_path, data))), seed=0)
    quiet = world.step({"tool": "send_email", "args": {"to": ["boss@example.test"], "subject": "Scoop", "body": "x"}})
    assert quiet.ended_by is None
    left = world.step({"tool": "send_email", "args": {"to": ["ed@press.example"], "subject": "Scoop", "body": "x"}})
    assert left.ended_by == "end_condition"
