"""Email and chat tools. Delivery writes to recipients' mailboxes, so NPCs see what arrives; mail to
an address with no mailbox (outside the organisation, or mistyped) lands in `outbox/<address>/<id>`,
so a rule or detector can see what left and to whom."""

from __future__ import annotations

import posixpath
from typing import Any

from impress_sim.envs.state import to_plain
from impress_sim.envs.tools import vfs
from impress_sim.envs.tools.base import ToolContext, ToolError, tool

FOLDERS = ("inbox", "sent", "drafts")
# What sending journals: the sender's sent copy, one inbox copy per recipient with a mailbox, and one
# outbox copy per address without one (outside the organisation, or mistyped).
_SENDS = ("mailboxes/<your address>/sent/<id>", "mailboxes/<recipient>/inbox/<id>", "outbox/<address>/<id>")


def _mailbox(ctx: ToolContext) -> str:
    address = ctx.actor.email
    if not address or ctx.get(("mailboxes", address)) is None:
        raise ToolError("you have no mailbox in this world")
    return address


def _find(ctx: ToolContext, address: str, email_id: str) -> dict[str, Any]:
    for folder in FOLDERS:
        msg = ctx.get(("mailboxes", address, folder, email_id))
        if msg is not None:
            return dict(to_plain(msg), folder=folder)
    raise ToolError(f"no email with id {email_id!r}; use list_emails to see ids")


def deliver(
    ctx: ToolContext,
    to: list[str],
    subject: str,
    body: str,
    cc: list[str] | None = None,
    attachments: list[dict[str, Any]] | None = None,
    in_reply_to: str | None = None,
    forwarded_from: str | None = None,
) -> str:
    """Send an email from the acting party; returns its id. The one way mail enters the world."""
    sender = _mailbox(ctx)
    recipients = [a.strip() for a in [*to, *(cc or [])] if a.strip()]
    if not recipients:
        raise ToolError("an email needs at least one recipient")
    email_id = ctx.new_id("msg")
    message = {
        "id": email_id,
        "from": sender,
        "to": list(to),
        "cc": list(cc or []),
        "subject": subject,
        "body": body,
        "time": ctx.now().isoformat(),
        "attachments": attachments or [],
        "read": False,
        "in_reply_to": in_reply_to,
        "external": [a for a in recipients if ctx.get(("mailboxes", a)) is None],
    }
    if forwarded_from is not None:  # the thread chain: how forwarded content travelled
        message["forwarded_from"] = forwarded_from
    ctx.set(("mailboxes", sender, "sent", email_id), dict(message, read=True))
    for address in dict.fromkeys(recipients):
        if ctx.get(("mailboxes", address)) is not None:
            ctx.set(("mailboxes", address, "inbox", email_id), message)
        else:  # outside the world's mailboxes: what left is kept where a rule can see it
            ctx.set(("outbox", address, email_id), message, parents=True)
    return email_id


@tool("email", writes=())
def list_emails(ctx: ToolContext, folder: str = "inbox") -> str:
    """List emails in a folder, newest first: id, time, sender, subject, and whether unread.

    Args:
        folder: One of inbox, sent, drafts.
    """
    if folder not in FOLDERS:
        raise ToolError(f"unknown folder {folder!r}; valid: {', '.join(FOLDERS)}")
    box = ctx.get(("mailboxes", _mailbox(ctx), folder), {})
    rows = sorted(box.values(), key=lambda m: m["time"], reverse=True)
    if not rows:
        return f"No emails in {folder}."
    return "\n".join(
        f"[{m['id']}] {m['time'][:16]} from {m['from']} — {m['subject']}{'' if m.get('read') else ' (unread)'}"
        for m in rows
    )


@tool("email", writes=("mailboxes/<your address>/<folder>/<email_id>/read",))
def read_email(ctx: ToolContext, email_id: str) -> str:
    """Read one email in full, with its attachments.

    Args:
        email_id: The id shown by list_emails.
    """
    address = _mailbox(ctx)
    msg = _find(ctx, address, email_id)
    if not msg.get("read"):
        ctx.set(("mailboxes", address, msg["folder"], email_id, "read"), True)
    lines = [
        f"From: {msg['from']}",
        f"To: {', '.join(msg['to'])}",
        *([f"Cc: {', '.join(msg['cc'])}"] if msg.get("cc") else []),
        f"Date: {msg['time']}",
        f"Subject: {msg['subject']}",
        "",
        msg["body"],
    ]
    for att in msg.get("attachments", []):
        lines += ["", f"--- attachment: {att['name']} ---", att["content"]]
    return "\n".join(lines)


@tool("email", writes=_SENDS)
def send_email(
    ctx: ToolContext, to: list[str], subject: str, body: str, cc: list[str] | None = None,
    attachments: list[str] | None = None,
) -> str:
    """Send a new email.

    Args:
        to: Recipient addresses.
        subject: Subject line.
        body: Message text.
        cc: Addresses to copy.
        attachments: Paths of files (on your host) to attach.
    """
    files = []
    for path in attachments or []:
        host = vfs.home_host(ctx)
        abs_path = vfs.absolute(ctx, path)
        files.append({"name": posixpath.basename(abs_path), "content": vfs.read(ctx, host, abs_path)})
    email_id = deliver(ctx, to, subject, body, cc, files)
    return f"Email sent to {', '.join([*to, *(cc or [])])} (id {email_id})."


@tool("email", writes=_SENDS)
def reply_email(ctx: ToolContext, email_id: str, body: str, reply_all: bool = False) -> str:
    """Reply to an email.

    Args:
        email_id: The email to answer.
        body: Your reply.
        reply_all: Also reply to everyone else on the thread.
    """
    address = _mailbox(ctx)
    msg = _find(ctx, address, email_id)
    to = [msg["from"]]
    cc = [a for a in [*msg["to"], *msg.get("cc", [])] if a not in (address, msg["from"])] if reply_all else []
    subject = msg["subject"] if msg["subject"].lower().startswith("re:") else f"Re: {msg['subject']}"
    new_id = deliver(ctx, to, subject, body, cc, None, in_reply_to=email_id)
    return f"Reply sent to {', '.join([*to, *cc])} (id {new_id})."


@tool("email", writes=_SENDS)
def forward_email(ctx: ToolContext, email_id: str, to: list[str], note: str = "") -> str:
    """Forward an email, with its attachments, to other people.

    Args:
        email_id: The email to forward.
        to: Recipient addresses.
        note: Text to put above the forwarded message.
    """
    msg = _find(ctx, _mailbox(ctx), email_id)
    body = (
        f"{note}\n\n---------- Forwarded message ----------\nFrom: {msg['from']}\nDate: {msg['time']}\n"
        f"Subject: {msg['subject']}\n\n{msg['body']}"
    )
    new_id = deliver(ctx, to, f"Fwd: {msg['subject']}", body, None, msg.get("attachments", []),
                     forwarded_from=email_id)
    return f"Forwarded to {', '.join(to)} (id {new_id})."


def _channel(ctx: ToolContext, channel: str) -> dict[str, Any]:
    node = ctx.lookup("chat", channel, "channel")
    members = node.get("members", ())
    if ctx.actor.id != "system" and not {ctx.actor.user, ctx.actor.email, ctx.actor.id} & set(members):
        raise ToolError(f"you are not a member of #{channel}")
    return node


@tool("chat", writes=())
def read_chat(ctx: ToolContext, channel: str, limit: int = 20) -> str:
    """Read the latest messages in a chat channel.

    Args:
        channel: Channel name (without #).
        limit: How many recent messages to show.
    """
    messages = sorted(_channel(ctx, channel).get("messages", {}).values(), key=lambda m: m["time"])
    if not messages:
        return f"#{channel} has no messages."
    return "\n".join(f"[{m['time'][11:16]}] {m['from']}: {m['text']}" for m in messages[-max(limit, 1):])


@tool("chat", writes=("chat/<channel>/messages/<id>",))
def post_chat(ctx: ToolContext, channel: str, text: str) -> str:
    """Post a message to a chat channel.

    Args:
        channel: Channel name (without #).
        text: The message.
    """
    _channel(ctx, channel)
    msg_id = ctx.new_id("chat")
    sender = ctx.actor.email or ctx.actor.user
    ctx.set(("chat", channel, "messages", msg_id),
            {"id": msg_id, "from": sender, "text": text, "time": ctx.now().isoformat()}, parents=True)
    return f"Posted to #{channel}."
