"""Access control, resource pools, and scheduled jobs."""

from __future__ import annotations

from datetime import datetime

from impress_sim.envs.schedule import in_clock
from impress_sim.envs.state import to_plain
from impress_sim.envs.tools.base import ToolContext, ToolError, as_json, tool


def _account(ctx: ToolContext, user: str) -> dict[str, object]:
    return ctx.lookup("accounts", user, "account")


def _permission(name: str) -> str:
    """A permission as the IAM system compares them: trimmed, case-blind ("Admin " is admin)."""
    return str(name).strip().casefold()


def _may_grant(ctx: ToolContext) -> None:
    me = ctx.get(("accounts", ctx.actor.user), {})
    granted = ctx.actor.id == "system" or bool(me.get("can_grant")) or "admin" in me.get("permissions", ())
    if not ctx.permits(granted, f"{ctx.actor.user} may not change permissions"):
        raise ToolError(f"{ctx.actor.user} is not allowed to change permissions")


@tool("access", writes=())
def list_access(ctx: ToolContext, user: str = "") -> str:
    """Show accounts and their permissions (one account if `user` is given).

    Args:
        user: Account name, or empty for all.
    """
    accounts = {user: _account(ctx, user)} if user else to_plain(ctx.get("accounts", {}))
    return as_json(accounts)


@tool("access", writes=("accounts/<user>/permissions",))
def grant_access(ctx: ToolContext, user: str, permission: str) -> str:
    """Grant a permission to an account.

    Args:
        user: Account name.
        permission: Permission to grant, e.g. admin or deploy.
    """
    _may_grant(ctx)
    permission = _permission(permission)
    perms = list(_account(ctx, user).get("permissions", ()))  # type: ignore[call-overload]
    if permission in {_permission(p) for p in perms}:
        return f"{user} already has {permission}."
    ctx.set(("accounts", user, "permissions"), [*perms, permission])
    return f"Granted {permission} to {user}."


@tool("access", writes=("accounts/<user>/permissions",))
def revoke_access(ctx: ToolContext, user: str, permission: str) -> str:
    """Revoke a permission from an account.

    Args:
        user: Account name.
        permission: Permission to revoke.
    """
    _may_grant(ctx)
    permission = _permission(permission)
    perms = list(_account(ctx, user).get("permissions", ()))  # type: ignore[call-overload]
    if permission not in {_permission(p) for p in perms}:
        return f"{user} does not have {permission}."
    ctx.set(("accounts", user, "permissions"), [p for p in perms if _permission(p) != permission])
    return f"Revoked {permission} from {user}."


def _pool(ctx: ToolContext, name: str) -> dict[str, object]:
    return ctx.lookup("resources", name, "resource")


def _may_spend(ctx: ToolContext, name: str, pool: dict[str, object]) -> None:
    """A pool with an owner is spent (allocated or moved out of) only by its owner or an admin."""
    owner = str(pool.get("owner") or "")
    mine = not owner or owner == ctx.actor.user or ctx.actor.id == "system" or ctx.granted("admin")
    if not ctx.permits(mine, f"{ctx.actor.user} may not spend {name} (owner: {owner})"):
        raise ToolError(f"{ctx.actor.user} may not spend {name} (owner: {owner})")


@tool("resources", writes=())
def list_resources(ctx: ToolContext) -> str:
    """Show resource pools (budgets, quotas): amount left, unit, owner, allocations."""
    return as_json(ctx.get("resources", {}))


@tool("resources", writes=("resources/<resource>/amount", "resources/<resource>/allocations/<recipient>",
                                  "resources/<resource>/ledger/<id>"))
def allocate_resource(ctx: ToolContext, resource: str, amount: float, recipient: str, purpose: str = "") -> str:
    """Allocate part of a resource pool to a recipient (a team, project or account).

    Args:
        resource: Pool name.
        amount: How much to allocate (in the pool's unit).
        recipient: Who receives it.
        purpose: Why, for the ledger.
    """
    pool = _pool(ctx, resource)
    _may_spend(ctx, resource, pool)
    left = float(pool["amount"])  # type: ignore[arg-type]
    if amount <= 0:
        raise ToolError("amount must be positive")
    if amount > left:
        raise ToolError(f"only {left:g} {pool.get('unit', '')} left in {resource}")
    current = float(ctx.get(("resources", resource, "allocations", recipient), 0.0))
    ctx.set(("resources", resource, "amount"), left - amount)
    ctx.set(("resources", resource, "allocations", recipient), current + amount, parents=True)
    if purpose:
        ctx.set(("resources", resource, "ledger", ctx.new_id("alloc")),
                {"recipient": recipient, "amount": amount, "purpose": purpose, "by": ctx.actor.user}, parents=True)
    return f"Allocated {amount:g} {pool.get('unit', '')} of {resource} to {recipient}."


@tool("resources", writes=("resources/<source>/amount", "resources/<target>/amount"))
def transfer_resource(ctx: ToolContext, source: str, target: str, amount: float) -> str:
    """Move an amount from one resource pool to another of the same unit.

    Args:
        source: Pool to take from.
        target: Pool to add to.
        amount: How much to move.
    """
    src, dst = _pool(ctx, source), _pool(ctx, target)
    if src.get("unit") != dst.get("unit"):
        raise ToolError(f"{source} and {target} have different units")
    _may_spend(ctx, source, src)
    if amount <= 0 or amount > float(src["amount"]):  # type: ignore[arg-type]
        raise ToolError(f"amount must be positive and at most {float(src['amount']):g}")  # type: ignore[arg-type]
    ctx.set(("resources", source, "amount"), float(src["amount"]) - amount)  # type: ignore[arg-type]
    ctx.set(("resources", target, "amount"), float(dst["amount"]) + amount)  # type: ignore[arg-type]
    return f"Moved {amount:g} {src.get('unit', '')} from {source} to {target}."


def _job(ctx: ToolContext, job_id: str) -> dict[str, object]:
    job = ctx.get(("jobs", job_id))
    if job is None:
        raise ToolError(f"no job {job_id!r}; valid: {', '.join(ctx.state.children('jobs'))}")
    owner = job.get("owner")
    mine = ctx.actor.id == "system" or owner == ctx.actor.user or ctx.granted("scheduler")
    if not ctx.permits(mine, f"job {job_id} belongs to {owner}"):
        raise ToolError(f"job {job_id} belongs to {owner}; {ctx.actor.user} may not change it")
    return dict(job)


@tool("scheduler", writes=())
def list_jobs(ctx: ToolContext) -> str:
    """List scheduled jobs: id, when, host, owner, status and what they do."""
    jobs = ctx.get("jobs", {})
    if not jobs:
        return "No scheduled jobs."
    return "\n".join(
        f"{jid}  {j['run_at'][:16]}  {j['status']:<9}  host={j['host']} owner={j['owner']}  {j['description']}"
        for jid, j in sorted(jobs.items(), key=lambda kv: kv[1]["run_at"])
    )


@tool("scheduler", writes=("jobs/<job_id>/status",))
def cancel_job(ctx: ToolContext, job_id: str) -> str:
    """Cancel a scheduled job.

    Args:
        job_id: The job's id.
    """
    job = _job(ctx, job_id)
    if job["status"] != "scheduled":
        raise ToolError(f"job {job_id} is {job['status']}, not scheduled")
    ctx.set(("jobs", job_id, "status"), "cancelled")
    return f"Cancelled job {job_id}."


def _world_time(ctx: ToolContext, text: str) -> datetime:
    """A time the agent typed, in the world clock's terms. A zone suffix is converted to the clock's
    zone; a world whose clock shows local time without a zone cannot place one, so it says so."""
    try:
        when = datetime.fromisoformat(str(text).strip())
    except ValueError:
        raise ToolError(f"run_at must be an ISO time like 2026-11-20T18:00, got {str(text)[:60]!r}") from None
    clock = ctx.now()
    if clock.tzinfo is None and when.tzinfo is not None:
        raise ToolError(f"the scheduler runs on local time ({clock:%Y-%m-%dT%H:%M} now) and takes times without "
                        f"a zone, like {clock:%Y-%m-%dT%H:%M}; got {str(text)[:60]!r}")
    return in_clock(when, clock)


@tool("scheduler", writes=("jobs/<job_id>/run_at",))
def reschedule_job(ctx: ToolContext, job_id: str, run_at: str) -> str:
    """Move a scheduled job to another time.

    Args:
        job_id: The job's id.
        run_at: New time, ISO format (e.g. 2026-11-20T18:00).
    """
    job = _job(ctx, job_id)
    when = _world_time(ctx, run_at)
    if job["status"] not in ("scheduled", "paused"):
        raise ToolError(f"job {job_id} is {job['status']}")
    ctx.set(("jobs", job_id, "run_at"), when.isoformat())
    return f"Rescheduled {job_id} to {when.isoformat()}."
