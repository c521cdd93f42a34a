"""Packs: the manifest read like hostile input, and a pack used wherever a list of worlds is taken
(sweeps and their reports, `impress run`, `impress worlds`, the benignness review). Offline and fast:
the pack is built from a copy of a YAML-only shipped world and the scaffold."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from impress_sim.envs.loader import load_world, worlds_dir
from impress_sim.errors import WorldSpecError
from impress_sim.judge.review.__main__ import main as review_main
from impress_sim.judge.review.benign import export_benign
from impress_sim.judge.review.records import world_refs
from impress_sim.packs import (
    MANIFEST,
    MAX_MANIFEST_BYTES,
    PackError,
    PackManifest,
    PackWorld,
    expand_worlds,
    is_pack,
    read_pack,
    write_manifest,
)
from impress_sim.report.analysis import analyse
from impress_sim.report.data import load_sweep
from impress_sim.run import main as run_main
from impress_sim.sweep import Store, SweepSpec, run_sweep
from impress_sim.sweep.__main__ import main as sweep_main
from impress_sim.worlds.__main__ import main as worlds_main
from impress_sim.worlds.scaffold import scaffold

IDS = ["gen_shutdown", "gen_scaffold"]


def _entry(folder: Path, world_id: str, cell: str) -> PackWorld:
    loaded = load_world(str(folder / world_id))
    return PackWorld(id=world_id, path=world_id, cell=cell, domain=loaded.spec.domain,
                     content_hash=loaded.content_hash, title=loaded.spec.title,
                     qc={"realism": 4.0, "benign_task": 5.0}, pilot={"noticed": 0.5} if world_id == IDS[0] else None)


def manifest_of(worlds: list[PackWorld]) -> PackManifest:
    return PackManifest(pack="demo", format_version=1, generator="impress-sim 0.1.0",
                        created="2026-12-07T04:30:00+00:00", prompts={"drafting": "drafting-v1"},
                        config_digest="0123abcd", worlds=worlds)


def build_pack(folder: Path) -> Path:
    """Two YAML-only worlds: corporate_shutdown under another id (so nothing can load it by id), and the scaffold."""
    (folder / IDS[0]).mkdir(parents=True)
    text = (worlds_dir() / "corporate_shutdown" / "world.yaml").read_text(encoding="utf-8")
    assert "\nid: corporate_shutdown\n" in text and not (worlds_dir() / "corporate_shutdown" / "hooks.py").exists()
    (folder / IDS[0] / "world.yaml").write_text(text.replace("\nid: corporate_shutdown\n", f"\nid: {IDS[0]}\n"),
                                                encoding="utf-8")
    scaffold(IDS[1], folder)
    write_manifest(folder, manifest_of([_entry(folder, IDS[0], "self_preservation/oversight_subversion"),
                                        _entry(folder, IDS[1], "oversight_evasion/oversight_subversion")]))
    return folder


@pytest.fixture(scope="module")
def shared_pack(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_pack(tmp_path_factory.mktemp("packs") / "pack")


@pytest.fixture
def pack(tmp_path: Path, shared_pack: Path) -> Path:
    """A copy each test may damage."""
    return Path(shutil.copytree(shared_pack, tmp_path / "pack", symlinks=True))


def rewrite(pack: Path, change: dict[str, object] | None = None, text: str | None = None) -> Path:
    manifest = pack / MANIFEST
    if text is not None:
        manifest.write_text(text, encoding="utf-8")
    else:
        data = read_pack(pack).model_dump(mode="json")
        data.update(change or {})
        manifest.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML
    return manifest


# ---- the manifest -------------------------------------------------------------------------------
def test_manifest_round_trips_and_is_written_atomically(shared_pack: Path) -> None:
    manifest = read_pack(shared_pack)
    assert manifest.ids() == IDS and manifest.prompts == {"drafting": "drafting-v1"}
    assert manifest.worlds[0].pilot == {"noticed": 0.5} and manifest.worlds[1].pilot is None
    assert manifest.worlds[0].content_hash == load_world(str(shared_pack / IDS[0])).content_hash
    assert sorted(p.name for p in shared_pack.iterdir()) == sorted([MANIFEST, *IDS])  # no temporary file left
    again = shared_pack.parent / "again"
    write_manifest(again, manifest)
    assert PackManifest.model_validate(json.loads(json.dumps(manifest.model_dump(mode="json")))) == manifest
    assert (again / MANIFEST).read_text(encoding="utf-8") == (shared_pack / MANIFEST).read_text(encoding="utf-8")


def test_a_failed_write_keeps_the_old_manifest(pack: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (pack / MANIFEST).read_bytes()

    def boom(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="No space"):
        write_manifest(pack, manifest_of([]))
    assert (pack / MANIFEST).read_bytes() == before
    assert sorted(p.name for p in pack.iterdir()) == sorted([MANIFEST, *IDS])


def test_is_pack(pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert is_pack(pack) and is_pack(str(pack)) and is_pack(f"{pack}/")
    assert not is_pack(pack / IDS[0])  # a world folder
    assert not is_pack(tmp_path / "nothing") and not is_pack("") and not is_pack("x" * 5000)
    assert not is_pack("a\x00b")
    # a shipped world's id is that world, even where a folder of that name here holds a pack.yaml
    monkeypatch.chdir(tmp_path)
    shutil.copytree(pack, tmp_path / "cloud_budget")
    assert not is_pack("cloud_budget") and is_pack("./cloud_budget")
    assert is_pack("pack") and expand_worlds(["pack"]) == [f"pack/{i}" for i in IDS]


def test_expand_worlds_keeps_other_entries_and_follows_manifest_order(pack: Path) -> None:
    entries = ["cloud_budget", str(pack), "./elsewhere/world"]
    expanded = expand_worlds(entries)
    assert expanded == ["cloud_budget", str(pack / IDS[0]), str(pack / IDS[1]), "./elsewhere/world"]
    assert [load_world(w).spec.id for w in expanded[1:3]] == IDS  # each expanded entry loads
    manifest = read_pack(pack)
    write_manifest(pack, manifest.model_copy(update={"worlds": manifest.worlds[::-1]}))
    assert expand_worlds([str(pack)]) == [str(pack / IDS[1]), str(pack / IDS[0])]


def test_an_empty_pack_is_an_error_when_expanded(pack: Path) -> None:
    write_manifest(pack, manifest_of([]))
    assert read_pack(pack).worlds == []  # a valid manifest ...
    with pytest.raises(PackError, match=f"pack {pack} has no accepted worlds"):  # ... with nothing to run
        expand_worlds([str(pack)])


HOSTILE_FIELDS = [
    ({"format_version": 2}, "format_version 2; this impress-sim reads pack format 1"),
    ({"format_version": "one"}, "format_version: Input should be 1"),
    ({"pack": None}, "pack: Input should be a valid string"),
    ({"created": "last tuesday"}, "created: 'last tuesday' is not an ISO 8601 time"),
    ({"colour": "red"}, "colour: unknown field; a pack's fields are pack, format_version"),
    ({"worlds": "gen_shutdown"}, "worlds: Input should be a valid list"),
]


@pytest.mark.parametrize(("change", "expected"), HOSTILE_FIELDS)
def test_a_bad_field_names_the_file_and_the_field(pack: Path, change: dict[str, object], expected: str) -> None:
    manifest = rewrite(pack, change)
    with pytest.raises(PackError) as caught:
        read_pack(pack)
    assert str(caught.value).startswith(str(manifest)) and expected in str(caught.value)


WORLD_FIELDS = [
    ({"cell": "self_preservation/nope"}, "worlds.0.cell: risk type 'nope' is not one of deception"),
    ({"cell": "sabotage"}, "worlds.0.cell: write the cell as motive/risk_type"),
    ({"id": "Bad Id"}, "worlds.0.id: String should match pattern"),
    ({"qc": {"realism": "high"}}, "worlds.0.qc.realism: Input should be a valid number"),
    ({"qc": {"realism": float("nan")}}, "worlds.0.qc: scores must be finite numbers (realism)"),
    ({"path": "../outside"}, "worlds.0.path: `..` leads out of the pack"),
    ({"path": "/etc"}, "worlds.0.path: an absolute path"),
    ({"path": "."}, "worlds.0.path: the pack folder itself"),
    ({"path": "a\\b"}, "worlds.0.path: a folder relative to the pack, written with `/`"),
    ({"hooks": "hooks.py"}, "worlds.0.hooks: unknown field; a world's fields are id, path"),
    ({"id": IDS[1]}, "worlds.1.id: 'gen_scaffold' is also worlds.0.id; each world is listed once"),
]


@pytest.mark.parametrize(("change", "expected"), WORLD_FIELDS)
def test_a_bad_world_entry_names_the_file_and_the_field(pack: Path, change: dict[str, object], expected: str) -> None:
    data = read_pack(pack).model_dump(mode="json")
    data["worlds"][0].update(change)
    manifest = pack / MANIFEST
    # json.dumps writes NaN, which YAML does not read: write that one as YAML's .nan
    manifest.write_text(json.dumps(data).replace("NaN", ".nan"), encoding="utf-8")
    with pytest.raises(PackError) as caught:
        read_pack(pack)
    assert str(caught.value).startswith(str(manifest)) and expected in str(caught.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("- gen_shutdown\n- gen_scaffold\n", "expected a mapping of the pack's fields (pack, format_version"),
    ("", "not an empty file"),
    ("pack: a\npack: b\n", "duplicate key 'pack'"),
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in zip("abcdef", "bcdefg", strict=True)),
     "an alias bomb?"),
    ("pack: [unclosed\n", "not valid YAML"),
])
def test_a_manifest_that_is_not_a_pack_mapping(pack: Path, text: str, expected: str) -> None:
    manifest = rewrite(pack, text=text)
    with pytest.raises(PackError) as caught:
        read_pack(pack)
    assert str(manifest) in str(caught.value) and expected in str(caught.value)


def test_huge_and_binary_manifests_are_refused_before_parsing(pack: Path) -> None:
    manifest = pack / MANIFEST
    manifest.write_bytes(b"#" * (MAX_MANIFEST_BYTES + 1))
    with pytest.raises(PackError, match=rf"{manifest}: 2,097,153 bytes; a pack manifest is limited to 2,097,152"):
        read_pack(pack)
    manifest.write_bytes(b"pack: x\x00\n")
    with pytest.raises(PackError, match="binary file"):
        read_pack(pack)
    manifest.unlink()
    with pytest.raises(PackError, match=f"{pack}: no pack.yaml"):
        read_pack(pack)
    assert not is_pack(pack)


def test_listed_worlds_must_be_yaml_only_folders_inside_the_pack(pack: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    shutil.copytree(pack / IDS[1], outside)
    manifest = read_pack(pack)

    def listed(path: str) -> str:
        first = manifest.worlds[0].model_copy(update={"path": path})
        write_manifest(pack, manifest.model_copy(update={"worlds": [first, manifest.worlds[1]]}))
        with pytest.raises(PackError) as caught:
            read_pack(pack)
        message = str(caught.value)
        assert message.startswith(f"{pack / MANIFEST}: 1 listed world cannot be used") and "gen_shutdown" in message
        return message

    assert "no folder" in listed("missing")
    (pack / "escape").symlink_to(outside, target_is_directory=True)  # a symbolic link out of the pack
    assert "the path leads out of the pack" in listed("escape")
    (pack / "empty").mkdir()
    assert "empty/world.yaml is missing" in listed("empty")
    (pack / "linked").mkdir()
    (pack / "linked" / "world.yaml").symlink_to(outside / "world.yaml")  # the file itself leads out
    assert "linked/world.yaml leads out of the pack" in listed("linked")
    (pack / "coded").mkdir()
    shutil.copy(outside / "world.yaml", pack / "coded" / "world.yaml")
    (pack / "coded" / "hooks.py").write_text("raise SystemExit('model output executed')\n", encoding="utf-8")
    assert "holds hooks.py; a pack's worlds are YAML only" in listed("coded")
    # every command that takes the pack reports the problem, and never runs the hooks
    assert worlds_main(["check", str(pack), "variants=false"]) == 2


# ---- sweeps ---------------------------------------------------------------------------------------
def test_a_sweep_over_a_pack_runs_resumes_and_reports_every_world(pack: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.sqlite"
    spec = SweepSpec.model_validate({"worlds": [str(pack)], "models": ["reference/aligned"], "seeds": 1,
                                     "cache": "off", "quiet": True, "store": str(store), "name": "pack-sweep"})
    assert spec.worlds == [str(pack / i) for i in IDS] and spec.cell_count() == 2
    summary = run_sweep(spec)
    assert (summary.total, summary.ran, summary.errors) == (2, 2, 0)
    with Store(str(store)) as db:
        assert sorted(r["world"] for r in db.rows()) == sorted(IDS)
        stored = json.loads(db.conn.execute("SELECT spec FROM sweeps").fetchone()[0])
    assert stored["worlds"] == [str(pack / i) for i in IDS]  # folders that load, not the pack
    # resuming: the same command line (the pack again) is the same sweep, and nothing is redone
    assert sweep_main([f"worlds=[{pack}]", "models=[reference/aligned]", "seeds=1", "cache=off", "quiet=true",
                       f"store={store}", "name=pack-sweep"]) == 0
    with Store(str(store)) as db:
        assert len(db.rows()) == 2
    # the report finds every episode through the stored spec, and breaks them down by each world's own
    # catalogue: aligned episodes have no findings, so without loading the worlds by folder the motive
    # and risk-type tables would be empty
    data = load_sweep(store, "pack-sweep")
    assert len(data.records) == 2 and data.expand_note is None
    analysis = analyse(data.records, data.sweep.spec)
    by = {b.by: {g.key: g.episodes for g in b.groups} for b in analysis.report.breakdowns}
    shutdown = load_world(str(pack / IDS[0])).spec
    assert set(by["motive"]) == {b.motive.value for w in IDS for b in load_world(str(pack / w)).spec.behaviours}
    assert by["motive"]["power_seeking"] == 1  # only gen_shutdown offers it
    assert by["risk_type"]["oversight_subversion"] == 2 and by["world"] == dict.fromkeys(IDS, 1)
    assert {b.risk_type.value for b in shutdown.behaviours} <= set(by["risk_type"])


def test_a_sweep_over_an_empty_or_broken_pack_says_so(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_manifest(pack, manifest_of([]))
    assert sweep_main([f"worlds=[{pack}]", "cache=off", "quiet=true", "store=/nonexistent/never.sqlite"]) == 2
    assert f"pack {pack} has no accepted worlds" in capsys.readouterr().err
    rewrite(pack, text="worlds: {}\n")
    assert sweep_main([f"worlds=[{pack}]", "cache=off", "quiet=true"]) == 2
    err = capsys.readouterr().err
    assert f"{pack / MANIFEST}: invalid pack manifest" in err and "Traceback" not in err


# ---- impress run --------------------------------------------------------------------------------
def test_run_refuses_a_pack_and_says_what_to_run(pack: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main([f"world={pack}", f"out={tmp_path / 'runs'}", "quiet=true"]) == 2
    err = capsys.readouterr().err
    assert (f"{pack} is a pack of 2 worlds (gen_shutdown, gen_scaffold): run one with world={pack / IDS[0]} "
            f"(world=<pack>/<id>), or all of them in a sweep (worlds=[{pack}])") in " ".join(err.split())
    assert not (tmp_path / "runs").exists()  # refused before anything was written
    assert run_main([f"world={pack / IDS[1]}", "model=reference/misaligned", f"out={tmp_path / 'runs'}",
                     "quiet=true"]) == 0
    [record] = list((tmp_path / "runs").rglob("*.json"))
    assert json.loads(record.read_text(encoding="utf-8"))["world_id"] == IDS[1]


# ---- impress worlds -----------------------------------------------------------------------------
def test_worlds_check_validate_and_list_take_a_pack(pack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert worlds_main(["check", str(pack), "variants=false"]) == 0
    out = capsys.readouterr().out
    assert f"PASS {IDS[0]}:" in out and f"PASS {IDS[1]}:" in out
    assert worlds_main(["validate", str(pack)]) == 0
    out = capsys.readouterr().out
    assert out.count("valid ") >= 2 and "2 of 2 worlds valid" in out and "changed since" not in out
    assert worlds_main(["list", str(pack)]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in IDS) and "corporate_shutdown" not in out and "✗" not in out  # no library minimums
    # a world edited after acceptance is noted; one whose id no longer matches the manifest fails
    path = pack / IDS[1] / "world.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert worlds_main(["validate", str(pack)]) == 0
    assert "changed since the pack was made" in " ".join(capsys.readouterr().out.split())
    path.write_text(path.read_text(encoding="utf-8").replace(f"id: {IDS[1]}", "id: renamed_world", 1), encoding="utf-8")
    assert worlds_main(["validate", str(pack)]) == 1
    assert "the pack lists it as 'gen_scaffold'" in " ".join(capsys.readouterr().out.split())


# ---- human benignness review --------------------------------------------------------------------
def test_benign_review_of_a_pack_end_to_end(pack: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "review"
    assert review_main(["benign", "export", f"out={out}", f"worlds=[{pack}]"]) == 0
    with (out / "benign.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns, rows = list(reader.fieldnames or []), list(reader)
    assert [r["world_id"] for r in rows] == IDS and [r["world"] for r in rows] == [str(pack / i) for i in IDS]
    page = (out / "benign.html").read_text(encoding="utf-8")
    assert all(f'id="{i}--default"' in page for i in IDS)

    sheets = []
    for name, values in (("alice", ["yes", "yes"]), ("bob", ["yes", "no"])):
        sheet = tmp_path / f"{name}.csv"
        with sheet.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(dict(r, benign=v, reviewer=name) for r, v in zip(rows, values, strict=True))
        sheets.append(str(sheet))
    capsys.readouterr()
    assert review_main(["benign", "report", *sheets, "format=json"]) == 0  # reloads each world by its folder
    report = json.loads(capsys.readouterr().out)
    assert [(i["world_id"], i["benign"], i["not_benign"]) for i in report["items"]] == [
        ("gen_scaffold", 1, 1), ("gen_shutdown", 2, 0)]
    assert report["percent_benign"] == 1.0 and report["share_of_labels_benign"] == 0.75
    assert report["reviewers"] == ["alice", "bob"] and report["pairs"][0]["metrics"]["agreement"] == 0.5

    # a pack world edited after labelling is caught, as a shipped world is
    path = pack / IDS[0] / "world.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert review_main(["benign", "report", *sheets]) == 2
    assert "its briefing may have changed" in capsys.readouterr().err


def test_review_exports_name_a_broken_pack_as_a_review_error(pack: Path, tmp_path: Path) -> None:
    assert world_refs([str(pack)]) == {i: str(pack / i) for i in IDS}  # records of a pack's worlds find them
    write_manifest(pack, manifest_of([]))
    with pytest.raises(PackError, match="has no accepted worlds"):
        expand_worlds([str(pack)])
    from impress_sim.errors import ReviewError

    with pytest.raises(ReviewError, match="has no accepted worlds"):
        export_benign(tmp_path / "r", [str(pack)])
    with pytest.raises(ReviewError, match="has no accepted worlds"):
        world_refs([str(pack)])


def test_loading_a_pack_as_one_world_says_it_is_a_pack(pack: Path) -> None:
    with pytest.raises(WorldSpecError, match="is a pack of generated worlds, not one world: name one"):
        load_world(str(pack))
