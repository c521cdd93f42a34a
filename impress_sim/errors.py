"""Every error impress-sim raises on purpose, under one root.

Three families, because they end in different places:

- `UserError`: something the person running a command can fix (a bad world file, an unknown key,
  a model without credentials, a missing store). Every command catches this one class, prints its
  message on one line and exits with status 2. The message names what to fix and, where it can,
  what is allowed.
- `ReplyError`: a model answered with something the caller cannot use (a judge's malformed JSON,
  an NPC's unknown tool, a monitor's missing score). The caller re-asks or records it; it never
  reaches the user as a crash.
- `ProviderError`: a provider fault (an empty reply, a guard model that failed on every call) that
  retries did not cure: the episode is recorded as an error, never as aligned.

Errors that become an *observation for the agent* (a tool refusing a call, malformed action JSON,
a shell syntax error) are not here: they are part of the world's behaviour, live in
`impress_sim.envs` (`ToolError`, `ActionError`) and are caught by the world step, never by a CLI.

Where a class also derives from `ValueError` or `RuntimeError`, that is for callers that caught
it by that base before this module existed; new code catches the classes below.
"""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

SHOWN_CHARS = 200  # how much of a value a message echoes (a megabyte value is clipped, never echoed whole)


class ImpressError(Exception):
    """The root: every error impress-sim raises deliberately."""


class UserError(ImpressError):
    """A problem the user can fix; the message says what, where, and what is allowed."""


class UsageError(UserError):
    """A mistake on the command line (unknown key, bad value, bad list)."""


class WorldSpecError(UserError):
    """A world that cannot be loaded; the message names the file, the field and what was expected."""


class UnknownWorldError(WorldSpecError):
    """No world by that id or path."""


class ModelError(UserError, ValueError):
    """A model that cannot be used as configured (unknown provider, no credentials, bad api_base)."""


class AgentConfigError(UserError, ValueError):
    """An agent that cannot be built as asked: unknown name, or options it does not take."""


class UnknownAgentError(AgentConfigError):
    """No agent architecture by that name."""


class GuardRulesError(AgentConfigError):
    """A guard deny-list file that cannot be read or has a bad rule."""


class ProbeError(UserError, ValueError):
    """A probe that cannot run as configured (e.g. the world has no `probes:` section)."""


class ReportError(UserError):
    """A report that cannot be made (no store, unknown sweep, ...)."""


class ReviewError(UserError):
    """A review sheet or labelled set that cannot be used as given."""


class RecordMismatchError(UserError, ValueError):
    """A record made with a different version of the world than the one loaded."""


class MissingExtraError(UserError, RuntimeError):
    """An optional extra that is not installed; the message names the `pip install` that adds it."""


class RayUnavailableError(MissingExtraError):
    """backend=ray without Ray installed."""


class ReplyError(ImpressError, ValueError):
    """A model's reply that its caller cannot use; the message says why (it is shown on a re-ask)."""


class ProviderError(ImpressError, RuntimeError):
    """A provider fault that retries did not cure, or that is retried like a 5xx."""


class EmptyResponseError(ProviderError):
    """The provider answered with no choices."""


class GuardFailure(ProviderError):
    """The guard failed on every call it screened: the episode measured nothing and is an error."""

def clipped(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` whole if it has at most `limit` characters, else its first `limit` and how many more there
    are: `aaaa… (999,800 more characters)`. Every message that repeats text a user (or an agent) gave
    goes through this or `shown`, so an error about a megabyte value is a line, not a megabyte."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


_REPR = reprlib.Repr()
_REPR.maxlevel = 4
_REPR.maxstring = _REPR.maxother = _REPR.maxlong = SHOWN_CHARS
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 20


def shown(value: object, limit: int = SHOWN_CHARS) -> str:
    """`value` as a message quotes it (`repr`: a string in quotes), clipped as `clipped` clips text. A
    string is cut before it is quoted (a megabyte is never copied whole), and a deep or long list or
    mapping is abbreviated (`[[[[...]]]]`), so this never raises and costs O(limit), whatever `value`."""
    if isinstance(value, str):
        if len(value) <= limit:
            return repr(value)
        return f"{value[:limit]!r}… ({len(value) - limit:,} more characters)"
    try:
        text = _REPR.repr(value)
    except Exception:  # a value whose repr fails is still named
        text = f"<{type(value).__name__}>"
    return clipped(text, limit)


def did_you_mean(name: object, choices: Iterable[object]) -> list[str]:
    """The choices close to `name` (difflib), best first: what a typo most likely meant."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=3, cutoff=0.6)
    score = [difflib.SequenceMatcher(None, str(name), c).ratio() for c in close]
    return [c for c, s in zip(close, score, strict=True) if s >= score[0] - 0.1]  # the best, and any as close


def unknown(kind: str, name: object, valid: Iterable[object], *, valid_label: str = "valid", more: str = "",
            prefix: str = "") -> str:
    """The one wording of "no such name", with a suggestion when one is close:
    `unknown world 'corprate_shutdown'; did you mean 'corporate_shutdown'? valid: a, b, c`.
    `more` follows the valid names, e.g. "(or a path to a world folder)"; `prefix` is shown before the
    name and each valid name but not compared (`judge.` of `judge.modle`)."""
    names = [str(v) for v in valid]
    close = did_you_mean(name, names)
    hint = f"; did you mean {' or '.join(repr(prefix + c) for c in close)}?" if close else ";"
    listed = ", ".join(prefix + n for n in names) if names else "none"
    return f"unknown {kind} {shown(prefix + str(name))}{hint} {valid_label}: {listed}" + (f" {more}" if more else "")
