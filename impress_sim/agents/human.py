"""The `human` architecture: a person plays the agent in the terminal.

    human ──► tools ──► human ...     (END when the person finishes or quits, or the episode ends)

The person sees what a model would see — the briefing messages (system prompt with notes,
remembered turns, the task), then each observation — and answers with one tool call at a time:

    read_email {"email_id": "m-101"}     a tool and its JSON arguments (asked for if left out and
                                         the tool has required arguments)
    ?            ? read_email            the tools with their arguments / one tool's JSON schema
    # text                               a thought, recorded with the next action (StepRecord.thought)
    finish                               end the task: the world's `finish` tool if it has one
    quit                                 stop without finishing (so does end of input after an action)

It is still a LangGraph graph: its "model" node asks the person instead of a model, and every
action goes through the shared tool node, i.e. `session.act`, like any model's. Typos (an unknown
tool, arguments that are not a JSON object) are answered locally and cost no step. The `model`
argument of `arun` is not used. Input and output are injectable (`input_fn`, `output_fn`), so it
runs without a TTY in tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from impress_sim.agents.base import (
    AgentState,
    Ctx,
    GraphAgent,
    Update,
    acting_loop,
    openai_tools,
)
from impress_sim.agents.messages import text_of
from impress_sim.agents.session import EpisodeSession

InputFn = Callable[[str], str]
OutputFn = Callable[[str], None]

HELP = """Commands:
  <tool> [JSON arguments]   call a tool, e.g. read_email {"email_id": "m-101"}
  ?  |  ? <tool>            list the tools and their arguments  |  one tool's JSON schema
  # <text>                  a thought, recorded with your next action
  finish [JSON arguments]   end the task
  quit                      stop without finishing (also end of input, once you have acted)"""

BANNER = ("You are playing the agent yourself: no model acts, and the record names the model \"human\".\n"
          "Type ? for the tools and commands.\n")
FINISH = "finish"
QUIT = ("quit", "exit")


def _signature(fn: dict[str, Any]) -> str:
    params = fn.get("parameters", {})
    required = set(params.get("required", []))
    args = [f"{name}{'' if name in required else '?'}: {spec.get('type', 'any')}"
            for name, spec in params.get("properties", {}).items()]
    summary = (fn.get("description") or "").splitlines()[0] if fn.get("description") else ""
    return f"  {fn['name']}({', '.join(args)})  {summary}"


class NobodyPlayed(RuntimeError):
    """Input ended before the person took any action: nobody played, so the episode measured
    nothing and is recorded as an error (never as an aligned episode)."""


class _Stop(Exception):
    """The person stops (quit, or too many invalid entries)."""


class _EndOfInput(_Stop):
    """Input ended (Ctrl-D, or a closed pipe)."""


class HumanAgent(GraphAgent):
    """A person at the terminal in the model's place; every action is one `session.act`."""

    name = "human"

    def __init__(self, input_fn: InputFn | None = None, output_fn: OutputFn | None = None,
                 max_invalid: int = 50) -> None:
        self.input = input_fn or input
        self.output = output_fn or print
        self.max_invalid = max_invalid

    # ---- showing -------------------------------------------------------------------------------
    def show(self, message: BaseMessage) -> None:
        if isinstance(message, SystemMessage):
            title = "system"
        elif isinstance(message, ToolMessage):
            title = f"observation ({message.name})" if message.name else "observation"
        elif isinstance(message, AIMessage):
            title = "assistant (earlier)"
        else:
            title = "user"
        self.output(f"── {title} ──\n{text_of(message)}\n")

    def show_tools(self, tools: dict[str, dict[str, Any]], name: str = "") -> None:
        if not name:
            self.output("Tools:\n" + "\n".join(_signature(fn) for fn in tools.values()) + "\n\n" + HELP)
        elif name in tools:
            self.output(json.dumps(tools[name], indent=2, ensure_ascii=False))
        else:
            self.output(f"unknown tool {name!r}; type ? for the list")

    # ---- asking --------------------------------------------------------------------------------
    def read(self, prompt: str) -> str:
        try:
            return self.input(prompt).strip()
        except EOFError:
            self.output("")  # end the prompt's line
            raise _EndOfInput from None

    def read_args(self, fn: dict[str, Any], typed: str) -> dict[str, Any] | None:
        """JSON arguments typed after the tool name, else asked for; None when the person cancels."""
        params = fn.get("parameters", {})
        if not typed and not params.get("required"):
            return {}
        text = typed
        for _ in range(self.max_invalid):
            if not text:
                text = self.read(f"{fn['name']} arguments (JSON object; empty line to cancel)> ")
                if not text:
                    return None
            try:
                args = json.loads(text)
            except ValueError as exc:
                self.output(f"not valid JSON: {exc}")
            else:
                if isinstance(args, dict):
                    return args
                self.output("the arguments must be a JSON object, e.g. {\"path\": \"/tmp/x\"}")
            text = ""
        raise _Stop

    def next_turn(self, tools: dict[str, dict[str, Any]], call_id: str, steps_taken: int = 0) -> AIMessage:
        """The person's next turn. End of input before any action is `NobodyPlayed` (an error
        episode); after one, it stops the episode like `quit`."""
        thoughts: list[str] = []
        try:
            for _ in range(self.max_invalid):
                line = self.read("tool> ")
                name, _, rest = line.partition(" ")
                if line.startswith("#"):
                    thoughts.append(line[1:].strip())
                elif name in ("?", "help"):
                    self.show_tools(tools, rest.strip())
                elif line.startswith("?"):
                    self.show_tools(tools, line[1:].strip())
                elif name in QUIT:
                    break
                elif name in tools:
                    args = self.read_args(tools[name], rest.strip())
                    if args is not None:
                        call = {"name": name, "args": args, "id": call_id, "type": "tool_call"}
                        return AIMessage(content="\n".join(thoughts), tool_calls=[call])
                elif name == FINISH:  # a world without a finish tool: finishing is just stopping
                    return AIMessage(content="\n".join([*thoughts, rest.strip()]).strip() or "Done.")
                elif line:
                    self.output(f"unknown tool {name!r}; type ? for the tools and commands")
        except _EndOfInput:
            if steps_taken == 0:
                raise NobodyPlayed("input ended before any action (no person at the terminal?): nobody played, "
                                   "so the episode is an error; type `quit` to stop on purpose") from None
        except _Stop:
            pass
        return AIMessage(content="\n".join(thoughts) or "(the person stopped without finishing)")

    # ---- the graph -----------------------------------------------------------------------------
    def episode_extras(self, session: EpisodeSession) -> dict[str, Any]:
        tools = {t["function"]["name"]: t["function"] for t in openai_tools(session)}
        return {"tools": tools, "shown": 0}  # `shown`: how many messages the person has seen

    @classmethod
    def build(cls) -> Any:
        async def ask(state: AgentState, runtime: Ctx) -> Update:
            ep = runtime.context
            person = ep.agent_as(HumanAgent)
            if ep.extras["shown"] == 0:
                person.output(BANNER)
            for message in state["messages"][ep.extras["shown"]:]:
                person.show(message)
            ep.extras["shown"] = len(state["messages"]) + 1  # the turn returned here is the person's own
            return {"messages": [person.next_turn(ep.extras["tools"], f"human-{len(ep.session.steps)}",
                                                          len(ep.session.steps))]}

        return acting_loop(AgentState, "human", ask).compile()

    def recursion_limit(self, session: EpisodeSession) -> int:
        return 2 * session.max_tool_calls + 6
