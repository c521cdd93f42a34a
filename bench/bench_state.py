"""Benchmark: does a world step cost what changed, not how big the world is?

Run `python bench/bench_state.py` (about a minute) or `python bench/bench_state.py --quick` (a few
seconds). One run measures three things side by side for worlds of 10, 1,000 and 10,000 extra
files (generated on the fly from the structure of tests/worlds/mini/world.yaml):

1. Step cost: the mean of a representative step mix (read_file, write_file of a new file,
   append_file, send_email, list_emails) through `World.step`, on a fresh `World` per episode
   (construction timed separately). The same mix is re-run after `World.restore` to the fresh
   state, which does the same work with warm CPU caches (building a 10,000-file world evicts them).
2. Step diff: the journal (`State.since(mark)`) and `State.diff_since(snapshot)` against the naive
   approach (`copy.deepcopy(state.to_plain())` before the step, then a recursive compare of the
   before/after plain trees).
3. Branching: `State.snapshot()` + `State.restore()` (and the same with one file write in between,
   which pays the copy-on-write copies) against `copy.deepcopy(state)`.

The machine may be shared and noisy, so every round measures every size (in rotating order), each
figure is a median over rounds, and every ratio is the median of per-round ratios (both sides
measured within the same round). Timings use `time.perf_counter`; the cyclic garbage collector is
paused during timed regions, as `timeit` does.
"""

from __future__ import annotations

import argparse
import copy
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from impress_sim.envs import World, load_world
from impress_sim.envs.loader import LoadedWorld
from impress_sim.envs.state import State, format_path

REPO = Path(__file__).resolve().parent.parent
if str(REPO / "bench") not in sys.path:  # bench/figures.py, however this file was loaded
    sys.path.insert(0, str(REPO / "bench"))
from figures import number  # noqa: E402

MINI_WORLD = REPO / "tests" / "worlds" / "mini" / "world.yaml"

SIZES = (10, 1_000, 10_000)
FILES_PER_DIR = 100
DEFAULT_ROUNDS, DEFAULT_EPISODES = 30, 4
QUICK_ROUNDS, QUICK_EPISODES = 3, 2
STEP_TARGET = 1.5  # step cost at the largest size / at the smallest: at most this
DIFF_TARGET = 50.0  # naive diff / journal diff at the largest size: at least this

# The representative step mix (agent home is /home/tess on host `box`).
MIX: tuple[dict[str, Any], ...] = (
    {"tool": "read_file", "args": {"path": "/home/tess/readme.txt"}},
    {"tool": "write_file", "args": {"path": "/home/tess/out/note.txt", "content": "All good.\n"}},
    {"tool": "append_file", "args": {"path": "/home/tess/readme.txt", "content": "third line\n"}},
    {
        "tool": "send_email",
        "args": {"to": ["boss@example.test"], "subject": "Status", "body": "The note is written."},
    },
    {"tool": "list_emails", "args": {}},
)
MIX_NAMES = tuple(str(a["tool"]) for a in MIX)


# ---- worlds ----------------------------------------------------------------------------------
def data_dir(i: int) -> str:
    """The /srv/data directory of extra file number `i` (files are grouped by directory)."""
    return f"/srv/data/d{i // FILES_PER_DIR:03d}"


def probe_action(n_files: int) -> dict[str, Any]:
    """Not part of the mix: a new file in the last /srv/data directory, whose files come last."""
    path = f"{data_dir(max(n_files - 1, 0))}/probe.txt"
    return {"tool": "write_file", "args": {"path": path, "content": "probe\n"}}


def world_spec(n_files: int) -> dict[str, Any]:
    """The mini world (same agent, tools, detector, task check, trajectories) plus `n_files` files."""
    spec = yaml.safe_load(MINI_WORLD.read_text(encoding="utf-8"))
    spec["id"] = f"bench_{n_files}"
    spec["title"] = f"Mini world with {n_files:,} extra files"
    files = spec["initial_state"]["hosts"]["box"]["files"]
    for i in range(n_files):
        files[f"{data_dir(i)}/f{i:05d}.csv"] = {"content": f"id,value\n{i},{i * 7 % 1000}\n", "owner": "tess"}
    return spec


def write_world(n_files: int, root: Path) -> Path:
    """Write the `n_files` world as `root/bench_<n>/world.yaml`; returns its folder."""
    folder = root / f"bench_{n_files}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "world.yaml").write_text(yaml.safe_dump(world_spec(n_files), sort_keys=False), encoding="utf-8")
    return folder


# ---- the naive diff --------------------------------------------------------------------------
def naive_changed_paths(before: Any, after: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths where two plain trees differ, by a full recursive compare.

    Equal subtrees are skipped with one (C-speed) `==`, which keeps this baseline honest.
    """
    if before == after:
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[tuple[str, ...]] = []
        for key in before.keys() | after.keys():
            if key not in before or key not in after:
                out.append((*path, key))
            else:
                out.extend(naive_changed_paths(before[key], after[key], (*path, key)))
        return out
    return [path]


def _covers(outer: Iterable[str], inner: Iterable[str]) -> bool:
    """Whether every `/`-joined state path in `inner` is at or under some path in `outer`."""
    tops = tuple(outer)
    return all(any(p == t or p.startswith(t + "/") for t in tops) for p in inner)


# ---- timing helpers --------------------------------------------------------------------------
def _per_call(fn: Callable[[], Any], min_seconds: float = 0.002, max_calls: int = 10_000) -> float:
    """Mean seconds per call of `fn`, repeating it until `min_seconds` have passed."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or calls >= max_calls:
            return elapsed / calls


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def _us(seconds: float) -> float:
    return seconds * 1e6


# ---- one round's measurements ----------------------------------------------------------------
def measure_episode(loaded: LoadedWorld, n_files: int) -> dict[str, Any]:
    """One episode: build a World, run the mix (fresh), restore, run it again (warm)."""
    t0 = time.perf_counter()
    world = World(loaded, seed=0)
    construct = time.perf_counter() - t0
    start = world.snapshot()
    fresh: list[float] = []
    for action in MIX:
        t0 = time.perf_counter()
        world.step(action)
        fresh.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    result = world.step(probe_action(n_files))
    probe = time.perf_counter() - t0
    if result.error_kind:
        raise RuntimeError(f"probe step failed: {result.output}")
    world.restore(start)
    warm: list[float] = []
    for action in MIX:
        t0 = time.perf_counter()
        result = world.step(action)
        warm.append(time.perf_counter() - t0)
        if result.error_kind:
            raise RuntimeError(f"{action['tool']} failed: {result.output}")
    return {"construct": construct, "fresh": fresh, "warm": warm, "probe": probe}


def measure_diff(loaded: LoadedWorld) -> dict[str, Any]:
    """Per mix step: naive deepcopy+compare vs `since(mark)` vs `diff_since(snapshot)`."""
    world = World(loaded, seed=0)
    state = world.state
    naive: list[float] = []
    journal: list[float] = []
    net: list[float] = []
    changes = 0
    agrees = True
    for action in MIX:
        mark = state.mark()
        snap = state.snapshot()
        t0 = time.perf_counter()
        before = copy.deepcopy(state.to_plain())
        naive_before = time.perf_counter() - t0
        world.step(action)
        t0 = time.perf_counter()
        changed = naive_changed_paths(before, state.to_plain())
        naive.append(naive_before + time.perf_counter() - t0)
        journal.append(_per_call(lambda m=mark: state.since(m), min_seconds=0.0002))
        net.append(_per_call(lambda s=snap: state.diff_since(s), min_seconds=0.0005))
        since = state.since(mark)
        changes += len(since)
        # Sanity: the naive compare, the journal and diff_since must agree on what changed. Compared
        # as strings: diff_since reports `/`-joined paths, which `parse_path` cannot split back
        # when they go below a file key (`.../files/home/a.txt/content`).
        naive_paths = [format_path(p) for p in changed]
        diff_paths = [d["path"] for d in state.diff_since(snap)]
        agrees &= bool(changed) and _covers(diff_paths, naive_paths) and _covers(naive_paths, diff_paths)
        agrees &= _covers([c.path_str for c in since], naive_paths)
    return {"naive": naive, "journal": journal, "diff_since": net, "changes": changes, "agrees": agrees}


def measure_snapshots(loaded: LoadedWorld) -> dict[str, float]:
    """Snapshot+restore, snapshot+write+restore (pays copy-on-write), and deepcopy of the state."""
    state: State = World(loaded, seed=0).state
    target = ("hosts", "box", "files", "home/tess/readme.txt", "content")

    def snap_restore() -> None:
        state.restore(state.snapshot())

    def snap_write_restore() -> None:
        snap = state.snapshot()
        state.set(target, "changed\n", actor="bench")
        state.restore(snap)

    return {
        "snapshot_restore": _per_call(snap_restore),
        "snapshot_write_restore": _per_call(snap_write_restore),
        "deepcopy": _per_call(lambda: copy.deepcopy(state), min_seconds=0.005),
    }


def measure_round(
    worlds: Mapping[int, LoadedWorld], round_index: int, episodes: int
) -> dict[int, dict[str, Any]]:
    """Every measurement for every size, interleaved, in an order that rotates between rounds."""
    sizes = list(worlds)
    shift = round_index % len(sizes)
    order = sizes[shift:] + sizes[:shift]
    out: dict[int, dict[str, Any]] = {n: {"episodes": []} for n in sizes}
    gc.disable()
    try:
        for _ in range(episodes):
            for n in order:
                out[n]["episodes"].append(measure_episode(worlds[n], n))
        for n in order:
            out[n]["diff"] = measure_diff(worlds[n])
        for n in order:
            out[n]["snapshots"] = measure_snapshots(worlds[n])
    finally:
        gc.enable()
    gc.collect()
    return out


# ---- summary ---------------------------------------------------------------------------------
@dataclass
class SizeResult:
    """Medians over rounds for one world size (µs), and medians of per-round ratios."""

    n_files: int
    state_files: int
    construct_us: float
    step_us: float
    step_warm_us: float
    tool_us: dict[str, float]
    probe_us: float
    step_vs_smallest: float
    step_warm_vs_smallest: float
    naive_diff_us: float
    journal_us: float
    diff_since_us: float
    naive_over_journal: float
    naive_over_diff_since: float
    changes_per_step: float
    diff_agrees: bool
    snapshot_restore_us: float
    snapshot_write_restore_us: float
    deepcopy_us: float
    deepcopy_over_snapshot: float
    deepcopy_over_snapshot_write: float


@dataclass
class BenchResult:
    sizes: list[int]
    rounds: int
    episodes: int
    load_s: dict[int, float]
    by_size: dict[int, SizeResult] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def largest(self) -> SizeResult:
        return self.by_size[max(self.sizes)]


def summarise(rounds: list[dict[int, dict[str, Any]]], worlds: Mapping[int, LoadedWorld]) -> dict[int, SizeResult]:
    sizes = sorted(worlds)
    small = sizes[0]

    def per_round(n: int, key: str) -> list[float]:
        """One value per round: the median over that round's episodes of the mean step time."""
        return [_median([statistics.fmean(e[key]) for e in r[n]["episodes"]]) for r in rounds]

    def ratio(num: list[float], den: list[float]) -> float:
        return _median([a / b for a, b in zip(num, den, strict=True)])

    out: dict[int, SizeResult] = {}
    for n in sizes:
        fresh, warm = per_round(n, "fresh"), per_round(n, "warm")
        naive = [statistics.fmean(r[n]["diff"]["naive"]) for r in rounds]
        journal = [statistics.fmean(r[n]["diff"]["journal"]) for r in rounds]
        net = [statistics.fmean(r[n]["diff"]["diff_since"]) for r in rounds]
        snaps = [r[n]["snapshots"] for r in rounds]
        sr = [s["snapshot_restore"] for s in snaps]
        swr = [s["snapshot_write_restore"] for s in snaps]
        deep = [s["deepcopy"] for s in snaps]
        tools = {
            name: _us(_median([_median([e["fresh"][i] for e in r[n]["episodes"]]) for r in rounds]))
            for i, name in enumerate(MIX_NAMES)
        }
        out[n] = SizeResult(
            n_files=n,
            state_files=len(worlds[n].spec.initial_state.hosts["box"].files),
            construct_us=_us(_median([e["construct"] for r in rounds for e in r[n]["episodes"]])),
            step_us=_us(_median(fresh)),
            step_warm_us=_us(_median(warm)),
            tool_us=tools,
            probe_us=_us(_median([e["probe"] for r in rounds for e in r[n]["episodes"]])),
            step_vs_smallest=ratio(fresh, per_round(small, "fresh")),
            step_warm_vs_smallest=ratio(warm, per_round(small, "warm")),
            naive_diff_us=_us(_median(naive)),
            journal_us=_us(_median(journal)),
            diff_since_us=_us(_median(net)),
            naive_over_journal=ratio(naive, journal),
            naive_over_diff_since=ratio(naive, net),
            changes_per_step=statistics.fmean(r[n]["diff"]["changes"] for r in rounds) / len(MIX),
            diff_agrees=all(r[n]["diff"]["agrees"] for r in rounds),
            snapshot_restore_us=_us(_median(sr)),
            snapshot_write_restore_us=_us(_median(swr)),
            deepcopy_us=_us(_median(deep)),
            deepcopy_over_snapshot=ratio(deep, sr),
            deepcopy_over_snapshot_write=ratio(deep, swr),
        )
    return out


def run_benchmark(
    sizes: Sequence[int] = SIZES,
    rounds: int = DEFAULT_ROUNDS,
    episodes: int = DEFAULT_EPISODES,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchResult:
    """Generate the worlds, warm up, run `rounds` interleaved rounds, and summarise."""
    began = time.perf_counter()
    say = progress or (lambda _msg: None)
    with tempfile.TemporaryDirectory(prefix="impress-bench-") as tmp:
        root = workdir or Path(tmp)
        worlds: dict[int, LoadedWorld] = {}
        load_s: dict[int, float] = {}
        for n in sorted(sizes):
            say(f"generating and loading the {n:,}-file world")
            folder = write_world(n, root)
            t0 = time.perf_counter()
            worlds[n] = load_world(str(folder))
            load_s[n] = time.perf_counter() - t0
        say("warming up")
        measure_round(worlds, 0, 1)
        results = []
        for i in range(rounds):
            say(f"round {i + 1}/{rounds}")
            results.append(measure_round(worlds, i, episodes))
        result = BenchResult(sorted(sizes), rounds, episodes, load_s, summarise(results, worlds))
    result.elapsed_s = time.perf_counter() - began
    return result


# ---- report ----------------------------------------------------------------------------------
_n = number


def _x(x: float) -> str:
    return f"{x:,.0f}x" if x >= 100 else f"{x:.2f}x"


def tables(result: BenchResult) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for each table."""
    rows = [result.by_size[n] for n in result.sizes]
    small = result.sizes[0]
    step = (
        f"1. Step cost through World.step (µs per step, mean over the mix; ratio vs {small:,} files)",
        ["extra files", "files on box", "World() µs", "step, fresh World", "ratio", "step, warm re-run", "ratio"],
        [[f"{r.n_files:,}", f"{r.state_files:,}", _n(r.construct_us), _n(r.step_us), _x(r.step_vs_smallest),
          _n(r.step_warm_us), _x(r.step_warm_vs_smallest)] for r in rows],
    )
    tools = (
        "1b. Per tool (µs, fresh World; probe* is not part of the mix)",
        ["extra files", *MIX_NAMES, "probe write*"],
        [[f"{r.n_files:,}", *(_n(r.tool_us[t]) for t in MIX_NAMES), _n(r.probe_us)] for r in rows],
    )
    diff = (
        "2. Step diff (µs per step, mean over the mix)",
        ["extra files", "naive deepcopy+compare", "journal since()", "diff_since()", "naive/journal",
         "naive/diff_since", "changes/step", "paths agree"],
        [[f"{r.n_files:,}", _n(r.naive_diff_us), _n(r.journal_us), _n(r.diff_since_us), _x(r.naive_over_journal),
          _x(r.naive_over_diff_since), f"{r.changes_per_step:.1f}", "yes" if r.diff_agrees else "NO"] for r in rows],
    )
    snap = (
        "3. Branching (µs per branch)",
        ["extra files", "snapshot+restore", "snapshot+write+restore", "deepcopy(state)", "deepcopy/snap",
         "deepcopy/snap+write"],
        [[f"{r.n_files:,}", _n(r.snapshot_restore_us), _n(r.snapshot_write_restore_us), _n(r.deepcopy_us),
          _x(r.deepcopy_over_snapshot), _x(r.deepcopy_over_snapshot_write)] for r in rows],
    )
    return [step, tools, diff, snap]


NOTES = (
    "* probe write: write_file of a new file in the last /srv/data directory, timed after the mix and "
    "not part of it.\n"
    "fresh = on a World built just before the episode; warm = the same mix after World.restore to "
    "that fresh state (same work, CPU caches warm).\n"
    "naive = copy.deepcopy(state.to_plain()) before the step + to_plain() and a recursive compare after."
)


def readme_figures(result: BenchResult) -> list[str]:
    small, big = result.by_size[result.sizes[0]], result.largest
    s, b = f"{small.n_files:,}", f"{big.n_files:,}"
    step_ok = "meets" if big.step_vs_smallest <= STEP_TARGET else "MISSES"
    diff_ok = "meets" if big.naive_over_journal >= DIFF_TARGET else "MISSES"
    return [
        f"README figures ({result.rounds} rounds x {result.episodes} episodes; ratios are medians of "
        f"per-round ratios)",
        f"- Step cost, {b} vs {s} extra files: {_x(big.step_vs_smallest)} on a fresh World "
        f"({_n(big.step_us)} vs {_n(small.step_us)} µs; {step_ok} the <= {STEP_TARGET}x target); "
        f"{_x(big.step_warm_vs_smallest)} with warm caches.",
        f"- Step diff at {b} files: journal {_x(big.naive_over_journal)} faster than deepcopy+compare "
        f"({diff_ok} the >= {DIFF_TARGET:.0f}x target); diff_since {_x(big.naive_over_diff_since)} faster.",
        f"- Branching at {b} files: snapshot+restore {_x(big.deepcopy_over_snapshot)} cheaper than "
        f"deepcopy ({_x(big.deepcopy_over_snapshot_write)} including one copy-on-write file write).",
        f"- World construction: {_n(small.construct_us / 1000, ' ms')} at {s} files, "
        f"{_n(big.construct_us / 1000, ' ms')} at {b} files.",
    ]


def render(result: BenchResult) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency, but plain text is fine too
        render_plain(result)
        return
    console = Console(width=max(Console().width, 132))
    loads = ", ".join(f"{n:,} files {s:.2f} s" for n, s in result.load_s.items())
    console.print(f"[bold]impress_sim state benchmark[/] (load_world: {loads})")
    for title, header, rows in tables(result):
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(NOTES, style="dim")
    console.print("\n".join(readme_figures(result)))
    console.print(f"(total {result.elapsed_s:.1f} s)", style="dim")


def render_plain(result: BenchResult) -> None:
    for title, header, rows in tables(result):
        widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
        print(f"\n{title}")
        for row in [header, *rows]:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print(NOTES)
    print("\n".join(readme_figures(result)))
    print(f"(total {result.elapsed_s:.1f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (a few rounds)")
    parser.add_argument(
        "--rounds", type=int, help=f"interleaved rounds (default {DEFAULT_ROUNDS}, quick {QUICK_ROUNDS})"
    )
    parser.add_argument("--episodes", type=int, help="episodes per size per round")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated extra-file counts")
    parser.add_argument("--plain", action="store_true", help="plain-text tables instead of rich")
    args = parser.parse_args(argv)
    rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    episodes = args.episodes or (QUICK_EPISODES if args.quick else DEFAULT_EPISODES)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    result = run_benchmark(sizes, rounds, episodes, progress=lambda m: print(m, file=sys.stderr, flush=True))
    (render_plain if args.plain else render)(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
