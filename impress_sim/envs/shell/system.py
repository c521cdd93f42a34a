"""The simulated shell's system commands: identity, time, processes, cron jobs, services, copying
between hosts, HTTP endpoints, and sudo. All of them read and write the world state through the
session's context (see `commands.Session`); none reaches the real machine or network.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

from impress_sim.envs.shell.commands import (
    BadUsage,
    Result,
    Session,
    copy_failure,
    copy_tree,
    errs,
    getopts,
    lines_out,
    reason,
)
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolError


# ---- who, where, when ------------------------------------------------------------------------------
def whoami(sh: Session, args: list[str], stdin: str) -> Result:
    return Result(sh.user + "\n")


def id_(sh: Session, args: list[str], stdin: str) -> Result:
    uid = 0 if sh.user == "root" else 1000
    groups = f"{uid}({sh.user})" + (",27(sudo)" if sh.ctx.granted("admin") and uid else "")
    return Result(f"uid={uid}({sh.user}) gid={uid}({sh.user}) groups={groups}\n")


def hostname(sh: Session, args: list[str], stdin: str) -> Result:
    if "-I" in args or "-i" in args:
        return Result(f"{sh.ctx.get(('hosts', sh.host, 'address')) or '127.0.1.1'}\n")
    return Result(sh.host + "\n")


def date(sh: Session, args: list[str], stdin: str) -> Result:
    now = sh.ctx.now().replace(tzinfo=UTC)
    formats = [a for a in args if a.startswith("+")]
    for a in args:
        if not a.startswith("+") and a not in ("-u", "--utc", "-I", "--iso-8601", "-R"):
            return Result(err=f"date: invalid date '{a}'\n" if not a.startswith("-") else
                          f"date: invalid option -- '{a[1:2]}'\nTry 'date --help' for more information.\n", code=1)
    if formats:
        return Result(now.strftime(formats[-1][1:]) + "\n")
    if "-I" in args or "--iso-8601" in args:
        return Result(f"{now:%Y-%m-%d}\n")
    if "-R" in args:
        return Result(f"{now:%a, %d %b %Y %H:%M:%S} +0000\n")
    return Result(f"{now:%a %b} {now.day:>2} {now:%H:%M:%S} UTC {now:%Y}\n")


# ---- processes ---------------------------------------------------------------------------------------
def _processes(sh: Session) -> dict[str, Any]:
    procs: dict[str, Any] = dict(sh.ctx.get(("hosts", sh.host, "processes"), {}))
    return procs


def ps(sh: Session, args: list[str], stdin: str) -> Result:
    procs = _processes(sh)
    rows = sorted(procs.items(), key=lambda kv: (len(kv[0]), kv[0]))
    lines = [f"{pid:>7} {p.get('user', 'root'):<8} {p.get('command', '')}" for pid, p in rows]
    return Result(lines_out(["    PID USER     COMMAND", *lines]))


# Signal names and numbers kill understands (what they do to a simulated process: 0 and CONT leave it be,
# every other one ends it; a stopped process is no longer doing its job either).
_SIGNALS = {name: name for name in ("HUP", "INT", "QUIT", "KILL", "TERM", "STOP", "TSTP", "USR1", "USR2", "CONT")}
_SIGNALS.update({"0": "0", "1": "HUP", "2": "INT", "3": "QUIT", "9": "KILL", "15": "TERM", "19": "STOP", "18": "CONT"})


def kill(sh: Session, args: list[str], stdin: str) -> Result:
    if args[:1] == ["-l"]:
        return Result(" 1) SIGHUP\t 2) SIGINT\t 3) SIGQUIT\t 9) SIGKILL\t15) SIGTERM\n")
    pids: list[str] = []
    signal = "TERM"
    it = iter(args)
    for a in it:
        if a in ("-s", "-n"):
            signal = next(it, "TERM")
        elif a.startswith("-") and a != "-" and a != "--":
            signal = a[1:]
        elif a != "--":
            pids.append(a)
    name = signal.upper().removeprefix("SIG")
    if name not in _SIGNALS:
        return Result(err=f"bash: kill: {signal}: invalid signal specification\n", code=1)
    if not pids:
        usage = "kill [-s sigspec | -n signum | -sigspec] pid | jobspec ... or kill -l [sigspec]"
        return Result(err=f"kill: usage: {usage}\n", code=2)
    procs = _processes(sh)
    messages: list[str] = []
    for pid in pids:
        proc = procs.get(pid)
        if not pid.isdigit():
            messages.append(f"bash: kill: {pid}: arguments must be process or job IDs")
        elif proc is None:
            messages.append(f"bash: kill: ({pid}) - No such process")
        elif proc.get("user", "root") != sh.user and not sh.ctx.has_permission("admin"):
            messages.append(f"bash: kill: ({pid}) - Operation not permitted")
        elif _SIGNALS[name] not in ("0", "CONT"):  # signal 0 only checks the process exists
            sh.ctx.delete(("hosts", sh.host, "processes", pid))
    return Result(err=errs(messages), code=1 if messages else 0)


# ---- cron jobs ---------------------------------------------------------------------------------------
def crontab(sh: Session, args: list[str], stdin: str) -> Result:
    opts, ops = getopts(args, "lrei", "u")
    user = opts.value("u", sh.user)
    if user != sh.user and not sh.ctx.has_permission("scheduler"):
        return Result(err="crontab: must be privileged to use -u\n", code=1)
    if ops or not ({"l", "r"} & set(opts.given)):
        raise BadUsage("usage error: use -l to list or -r to remove the crontab")
    jobs = sorted(
        ((jid, j) for jid, j in sh.ctx.get("jobs", {}).items() if j.get("host") == sh.host),
        key=lambda kv: str(kv[1].get("run_at", "")),
    )
    if "l" in opts:
        rows = [(jid, j) for jid, j in jobs if "u" not in opts or j.get("owner") == user]
        if not rows:
            return Result(err=f"no crontab for {user}\n", code=1)
        lines = ["# m h dom mon dow command"]
        for jid, j in rows:
            when = str(j.get("run_at", ""))
            minute, hour, day, month = when[14:16], when[11:13], when[8:10], when[5:7]
            cron = f"{int(minute or 0)} {int(hour or 0)} {int(day or 1)} {int(month or 1)} *"
            lines.append(f"{cron} {j.get('command') or j.get('description', '')}  "
                         f"# id={jid} owner={j.get('owner')} status={j.get('status')} run_at={when}")
        return Result(lines_out(lines))
    own = [jid for jid, j in jobs if j.get("owner") == user and j.get("status") in ("scheduled", "paused")]
    if not own:
        return Result(err=f"no crontab for {user}\n", code=1)
    for jid in own:
        sh.ctx.set(("jobs", jid, "status"), "cancelled")
    return Result()


# ---- services ----------------------------------------------------------------------------------------
def systemctl(sh: Session, args: list[str], stdin: str) -> Result:
    ops = [a for a in args if not a.startswith("-")]
    verb, names = (ops[0], ops[1:]) if ops else ("list-units", [])
    if verb == "status" and not names:
        verb = "list-units"
    services = {n: s for n, s in sh.ctx.get("services", {}).items() if s.get("host") == sh.host}
    if verb in ("list-units", "list-unit-files"):
        rows = [f"{n + '.service':<28} loaded {'active' if s.get('status') == 'running' else 'inactive':<8} "
                f"{s.get('status', 'running'):<8} {s.get('description', '')}" for n, s in sorted(services.items())]
        return Result(lines_out(["UNIT                         LOAD   ACTIVE   SUB      DESCRIPTION", *rows]))
    if verb not in ("status", "stop", "start", "restart", "is-active"):
        return Result(err=f"Unknown command verb {verb}.\n", code=1)
    if not names:
        return Result(err="Too few arguments.\n", code=1)
    out: list[str] = []
    messages: list[str] = []
    code = 0
    for raw in names:
        name = raw.removesuffix(".service")
        service = services.get(name)
        if service is None:
            if verb == "is-active":
                out.append("inactive")
                code = 3
            elif verb == "status":
                messages.append(f"Unit {name}.service could not be found.")
                code = 4
            else:
                messages.append(f"Failed to {verb} {name}.service: Unit {name}.service not loaded.")
                code = 5
            continue
        running = service.get("status") == "running"
        if verb == "is-active":
            out.append("active" if running else "inactive")
            code = code or (0 if running else 3)
        elif verb == "status":
            since = sh.ctx.now()
            state = f"active (running) since {since:%a %Y-%m-%d %H:%M:%S} UTC" if running else "inactive (dead)"
            out += [f"{'●' if running else '○'} {name}.service - {service.get('description') or name}",
                    f"     Loaded: loaded (/etc/systemd/system/{name}.service; enabled; preset: enabled)",
                    f"     Active: {state}"]
            code = code or (0 if running else 3)
        elif not sh.ctx.has_permission("admin"):
            messages += [f"Failed to {verb} {name}.service: Interactive authentication required.",
                         f"See system logs and 'systemctl status {name}.service' for details."]
            code = 1
        else:
            sh.ctx.set(("services", name, "status"), "stopped" if verb == "stop" else "running")
    return Result(lines_out(out), errs(messages), code)


# ---- copying between hosts ---------------------------------------------------------------------------
class Unreachable(Exception):
    """A remote path on a host that does not resolve or cannot be reached."""


def _location(sh: Session, spec: str) -> tuple[str, str]:
    """(host, absolute path) for `PATH` or `[user@]HOST:PATH`; raises Unreachable with ssh's words."""
    head, sep, rest = spec.partition(":")
    if not sep or "/" in head:
        return sh.host, sh.path(spec)
    name = head.rpartition("@")[2]
    hosts = sh.ctx.get("hosts", {})
    host = name if name in hosts else next((h for h, n in hosts.items() if n.get("address") == name), None)
    if host is None:
        raise Unreachable(f"ssh: Could not resolve hostname {name}: Name or service not known")
    if not vfs.reachable(sh.ctx, host):
        raise Unreachable(f"ssh: connect to host {name} port 22: Connection timed out")
    path = rest if rest.startswith("/") else posixpath.join(sh.home, rest or ".")
    return host, posixpath.normpath("/" + path.lstrip("/"))


def _transfer(sh: Session, cmd: str, args: list[str], recursive: bool, verbose: bool, dry_run: bool) -> Result:
    if len(args) < 2:
        usage = "usage: scp [-r] source ... target" if cmd == "scp" else "rsync [OPTION]... SRC [SRC]... DEST"
        return Result(err=usage + "\n", code=1)
    try:
        dst_host, dst = _location(sh, args[-1])
        sources = [(typed, *_location(sh, typed)) for typed in args[:-1]]
    except Unreachable as exc:
        tail = ("lost connection" if cmd == "scp" else
                "rsync: connection unexpectedly closed (0 bytes received so far) [sender]")
        return Result(err=f"{exc}\n{tail}\n", code=1 if cmd == "scp" else 255)
    into = vfs.is_dir(sh.ctx, dst_host, dst)
    if len(sources) > 1 and not into:
        return Result(err=f"{cmd}: {args[-1]}: Not a directory\n", code=1)
    sent: list[str] = []
    messages: list[str] = []
    for typed, src_host, src in sources:
        contents_only = cmd == "rsync" and typed.endswith("/")
        target = dst if contents_only or not into else posixpath.join(dst, posixpath.basename(src))
        if vfs.is_file(sh.ctx, src_host, src):
            sent.append(posixpath.basename(src))
            if dry_run:
                continue
            try:
                vfs.copy_entry(sh.ctx, src_host, src, dst_host, target)
            except ToolError as exc:
                messages.append(copy_failure(cmd, src, target, exc))
        elif vfs.is_dir(sh.ctx, src_host, src):
            if not recursive:
                messages.append(f"scp: {src}: not a regular file" if cmd == "scp" else f"skipping directory {typed}")
                continue
            sent += [posixpath.relpath(f, src) for f in vfs.walk_files(sh.ctx, src_host, src)]
            if not dry_run:
                messages += copy_tree(sh, cmd, src_host, src, dst_host, target)
        elif cmd == "scp":
            messages.append(f"scp: {src}: No such file or directory")
        else:
            messages.append(f'rsync: [sender] link_stat "{src}" failed: No such file or directory (2)')
    out = ""
    if cmd == "rsync" and verbose:
        out = lines_out(["sending incremental file list", *sent, ""]) + (
            f"sent {sum(len(s) for s in sent) + 64} bytes  received 35 bytes\n")
    if cmd == "rsync" and messages:
        messages.append("rsync error: some files/attrs were not transferred (see previous errors) (code 23)")
    return Result(out, errs(messages), (23 if cmd == "rsync" else 1) if messages else 0)


def scp(sh: Session, args: list[str], stdin: str) -> Result:
    opts, ops = getopts(args, "rpqvC346BT", "PioFlcSJ")
    return _transfer(sh, "scp", ops, "r" in opts, False, False)


def rsync(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {
        "archive": "a", "verbose": "v", "compress": "z", "recursive": "r", "human-readable": "h", "progress": "P",
        "partial": "P", "dry-run": "n", "delete": "D", "update": "u", "quiet": "q", "checksum": "c",
        "exclude": "exclude=", "include": "include=", "rsh": "e=", "stats": "s",
    }
    opts, ops = getopts(args, "avzrhPnuqcltpgoDHS", "e", longs)
    return _transfer(sh, "rsync", ops, bool({"a", "r"} & set(opts.given)), "v" in opts, "n" in opts)


# ---- HTTP --------------------------------------------------------------------------------------------
def _endpoint(sh: Session, url: str) -> tuple[str, Any] | None:
    endpoints = sh.ctx.get("endpoints", {})
    bare = url.split("#")[0]
    for candidate in (url, bare, bare.split("?")[0], bare.split("?")[0].rstrip("/")):
        if candidate in endpoints:
            return candidate, endpoints[candidate]
    return None


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed"}
_NOT_FOUND = "<html><head><title>404 Not Found</title></head><body><h1>Not Found</h1></body></html>\n"


def _request(sh: Session, url: str, method: str, data: str | None) -> tuple[int, str] | str:
    """Send one request to a world endpoint: (status, body), or curl's error line if it never arrives."""
    parts = urlsplit(url)
    name = parts.hostname or url
    found = _endpoint(sh, url)
    if found is None:
        if any(urlsplit(u).hostname == name for u in sh.ctx.get("endpoints", {})):
            return 404, _NOT_FOUND
        return f"curl: (6) Could not resolve host: {name}"
    key, endpoint = found
    served_by = endpoint.get("host")
    if served_by and not vfs.reachable(sh.ctx, served_by):
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"curl: (28) Failed to connect to {name} port {port} after 30001 ms: Timeout was reached"
    if method != "GET" or data is not None:  # the endpoint saw it: record what was sent
        rid = sh.ctx.new_id("req")
        request = {"method": method, "data": data, "time": sh.ctx.now().isoformat(), "by": sh.user}
        sh.ctx.set(("endpoints", key, "requests", rid), request, parents=True)
    methods = endpoint.get("methods", ("GET",))
    if method in methods or (method == "HEAD" and "GET" in methods):
        return 200, str(endpoint.get("response", ""))
    return 405, "Method Not Allowed\n"


def curl(sh: Session, args: list[str], stdin: str) -> Result:
    longs = {
        "request": "X=", "data": "d=", "data-raw": "d=", "data-binary": "d=", "data-urlencode": "d=", "json": "json=",
        "header": "H=", "output": "o=", "silent": "s", "show-error": "S", "location": "L", "include": "i",
        "insecure": "k", "fail": "f", "verbose": "v", "head": "I", "user-agent": "A=", "max-time": "m=",
        "write-out": "w=", "user": "u=", "connect-timeout": "connect-timeout=", "compressed": "compressed",
    }
    opts, urls = getopts(args, "sSLikfvIG", "XdHoAmwu", longs, code=2)
    if not urls:
        return Result(err="curl: try 'curl --help' or 'curl --manual' for more information\n", code=2)
    data_parts: list[str] = []
    for d in [*opts.values("d"), *opts.values("json")]:
        if d.startswith("@"):
            try:
                d = stdin if d == "@-" else vfs.read(sh.ctx, sh.host, sh.path(d[1:]))
            except ToolError as exc:
                return Result(err=f"Warning: Couldn't read data from file \"{d[1:]}\", {reason(exc)}\n", code=26)
        data_parts.append(d)
    data = "&".join(data_parts) if data_parts else None
    method = opts.value("X") or ("HEAD" if "I" in opts else "POST" if data is not None and "G" not in opts else "GET")
    out: list[str] = []
    messages: list[str] = []
    code = 0
    for raw in urls:
        response = _request(sh, raw if "://" in raw else f"http://{raw}", method.upper(), data)
        if isinstance(response, str):
            messages.append(response)
            code = int(response[7 : response.index(")")])
            continue
        status, body = response
        if status >= 400 and "f" in opts:
            messages.append(f"curl: (22) The requested URL returned error: {status}")
            code = 22
            continue
        head = f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-length: {len(body.encode())}\r\n\r\n"
        text = head if method == "HEAD" else (head if "i" in opts else "") + body
        if not opts.value("o"):
            out.append(text)
            continue
        try:
            sh.write(sh.path(opts.value("o")), text)
        except ToolError as exc:
            messages.append(f"curl: (23) Failure writing output to destination: {reason(exc)}")
            code = 23
    return Result("".join(out), errs(messages) if "s" not in opts or "S" in opts else "", code)


# ---- sudo --------------------------------------------------------------------------------------------
def sudo(sh: Session, args: list[str], stdin: str) -> Result:
    rest = list(args)
    while rest and rest[0].startswith("-"):
        flag = rest.pop(0)
        if flag in ("-u", "-g", "-p", "-C") and rest:
            rest.pop(0)
    if not rest:
        return Result(err="usage: sudo -h | -K | -k | -V\nusage: sudo [-u user] command [arg ...]\n", code=1)
    if not sh.ctx.has_permission("admin"):
        return Result(err="sudo: a password is required\n", code=1)
    return sh.run(rest, stdin)


SYSTEM_COMMANDS: dict[str, Callable[[Session, list[str], str], Result]] = {
    "whoami": whoami, "id": id_, "hostname": hostname, "date": date, "ps": ps, "kill": kill, "crontab": crontab,
    "systemctl": systemctl, "scp": scp, "rsync": rsync, "curl": curl, "sudo": sudo,
}
