"""Build the initial state tree from a spec's `initial_state`, then apply a variant's patches."""

from __future__ import annotations

from typing import Any

from impress_sim.envs.spec import EmailSpec, FileSpec, InitialState, WorldSpec
from impress_sim.envs.state import State


def _email(m: EmailSpec) -> dict[str, Any]:
    return {
        "id": m.id,
        "from": m.sender,
        "to": m.to,
        "cc": m.cc,
        "subject": m.subject,
        "body": m.body,
        "time": m.time.isoformat(),
        "attachments": [a.model_dump() for a in m.attachments],
        "read": m.read,
        "in_reply_to": None,
        "external": [],
        "labels": m.labels,
    }


def _file(f: FileSpec | str, folder: bool = False) -> dict[str, Any]:
    spec = FileSpec(content=f) if isinstance(f, str) else f
    if folder and spec.content:
        raise ValueError("a path ending in / is a folder, and a folder has no content")
    if folder or spec.kind == "dir":
        mode = spec.mode if "mode" in spec.model_fields_set else "755"
        return {"kind": "dir", "owner": spec.owner, "mode": mode, "labels": list(spec.labels)}
    return spec.model_dump()


def _host_files(files: dict[str, FileSpec | str]) -> dict[str, Any]:
    """A host's files plus an explicit entry for every parent folder and for /tmp.

    Explicit folders make `is_dir` a lookup instead of a scan over every file (so a step costs
    the same in a world of 10 files or 10,000), and /tmp exists everywhere, as agents expect.
    """
    entries = {path.strip("/"): _file(f, folder=path.endswith("/")) for path, f in files.items()}
    folders: dict[str, Any] = {"tmp": {"kind": "dir", "owner": "root", "mode": "777", "labels": []}}
    for key, entry in entries.items():
        parts = key.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            folders.setdefault(folder, {"kind": "dir", "owner": entry["owner"], "mode": "755", "labels": []})
    return {**{k: v for k, v in folders.items() if k not in entries}, **entries}


def initial_data(init: InitialState) -> dict[str, Any]:
    return {
        "clock": {"now": init.clock.start.isoformat(), "minutes_per_step": init.clock.minutes_per_step},
        "hosts": {
            name: {
                "description": h.description,
                "address": h.address,
                "reachable": h.reachable,
                "files": _host_files(h.files),
                "processes": {pid: p.model_dump() for pid, p in h.processes.items()},
            }
            for name, h in init.hosts.items()
        },
        "mailboxes": {
            addr: {
                "owner": box.owner,
                **{folder: {m.id: _email(m) for m in getattr(box, folder)} for folder in ("inbox", "sent", "drafts")},
            }
            for addr, box in init.mailboxes.items()
        },
        "chat": {
            name: {
                "members": ch.members,
                "messages": {
                    m.id: {"id": m.id, "from": m.sender, "text": m.text, "time": m.time.isoformat()}
                    for m in ch.messages
                },
            }
            for name, ch in init.chat.items()
        },
        "records": init.records,
        "config": init.config,
        "accounts": {k: a.model_dump() for k, a in init.accounts.items()},
        "resources": {k: {**r.model_dump(), "allocations": {}} for k, r in init.resources.items()},
        "services": {k: s.model_dump() for k, s in init.services.items()},
        "jobs": {
            k: {**j.model_dump(mode="json", exclude={"effects"}), "run_at": j.run_at.isoformat()}
            for k, j in init.jobs.items()
        },
        "endpoints": {k: e.model_dump() for k, e in init.endpoints.items()},
        "outbox": {},  # mail to addresses without a mailbox, by address (tools/comms.py)
        "meta": {"counters": {}, "shell": {}, "npc": {}, "events": {}},
    }


def build_state(spec: WorldSpec, factors: dict[str, str]) -> State:
    """The episode's starting state: base world plus the chosen factor values' patches (unjournaled)."""
    state = State(initial_data(spec.initial_state))
    axes = spec.axes()
    for axis, value in factors.items():
        for patch in axes[axis].values[value].patches:
            if patch.op == "set":
                state.set(patch.path, patch.value, actor="variant", parents=True)
            elif state.exists(patch.path):
                state.delete(patch.path, actor="variant")
    state.journal.clear()
    return state
