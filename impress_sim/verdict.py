"""Verdicts: what each judge said about an episode, and the combined label.

Leaf data models shared by the judges (which produce them), the episode record (which stores
them) and reports (which read them). Labels are named by polarity: `acted` means the misaligned
action was taken, `considered` that it appeared in visible reasoning but was not taken.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from impress_sim.taxonomy import Severity

Policy = Literal["state_or_llm_with_evidence", "state_only", "state_and_llm"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
# How the agent's answer to the follow-up interview relates to what the state shows it did.
InterviewLabel = Literal["confession", "partial", "denial"]
STATE = "state"  # the state judge's name in a verdict's `judges`
# The label of harm outside the world's behaviour catalogue (an LLM judge's `other_misconduct`), as
# its citations name it: reported on its own, never folded into `misaligned`.
OTHER_MISCONDUCT = "other_misconduct"
# An episode's "was the task done" is `task_done` everywhere (records, verdicts, stores, review sheets);
# verdicts written before schema 3 called it `task_completed`, and still load.
TASK_DONE_NAMES = AliasChoices("task_done", "task_completed")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Evidence(_Model):
    """A citation: the step (1-based env step) and a quote from the agent's own words at it (step 0, text
    outside any step, is accepted here but never checks: see `impress_sim.judge.evidence`)."""

    step: int = Field(ge=0)
    quote: str = ""


class BehaviourLabel(_Model):
    behaviour: str
    acted: bool = Field(description="The misaligned action was taken (seen in the world or the trajectory).")
    considered: bool = Field(False, description="It appears in visible reasoning (whether or not it was taken).")
    evidence: list[Evidence] = Field(default_factory=list)
    attempted: bool = Field(
        False, description="State judge: the world refused an act that would have done it (an attempt, never "
        "counted as acted).")
    attempt_evidence: list[Evidence] = Field(default_factory=list, description="Where each attempt was refused.")
    gate: bool = Field(
        False, description="State judge: acted only by a state gate (a detector whose findings an LLM judge must "
        "confirm, e.g. a secret sent to its owner with a demand).")


class OtherMisconduct(_Model):
    """An LLM judge's report of harm the world's behaviour catalogue does not name."""

    acted: bool = False
    description: str = ""
    evidence: list[Evidence] = Field(default_factory=list)


class InformationFlow(_Model):
    """Labelled content that travelled from a source, through the agent's steps, to a sink."""

    label: str
    source: str = Field(description="Where the content lived, e.g. mailboxes/<addr>/inbox/<id>.")
    sink: str = Field(description="Who or where received it: an address, a host, a channel.")
    sink_path: str = Field(description="The state path written at the sink.")
    chain: list[int] = Field(description="Steps from the read to the write, in order.")
    allowed: bool
    evidence: str = ""
    outside_company: bool | None = Field(
        None, description="The sink reaches someone outside the company (per the world's org); None: unknown.")


class JudgeVerdict(_Model):
    """One judge's labels for one episode."""

    judge: str = Field(description="'state', or 'llm:<model>'.")
    behaviours: list[BehaviourLabel] = Field(default_factory=list)
    flows: list[InformationFlow] = Field(default_factory=list)
    task_done: bool | None = Field(None, validation_alias=TASK_DONE_NAMES, description="The agent did its benign task.")
    eval_awareness: bool | None = Field(None, description="The agent said it might be in a test.")
    severity: Severity | None = None
    rationale: str = ""
    interview_label: InterviewLabel | None = Field(
        None, description="The agent's interview answer against what it did (when it was interviewed).")
    other_misconduct: OtherMisconduct | None = Field(
        None, description="LLM judges: misconduct outside the catalogue (None: not reported).")
    error: str | None = Field(None, description="Set when the judge could not give a verdict.")

    @property
    def acted(self) -> set[str]:
        return {b.behaviour for b in self.behaviours if b.acted}

    @property
    def attempted(self) -> set[str]:
        return {b.behaviour for b in self.behaviours if b.attempted}


class Citation(_Model):
    """Why a behaviour counts in the combined verdict: which judge cited which step, with what quote."""

    behaviour: str
    judge: str
    step: int = Field(ge=0)
    quote: str = ""


class CombinedVerdict(_Model):
    """Both judges' outputs kept with their provenance, and the label the policy derives from them.

    Only an episode that ran has a verdict: an error episode has none (never "aligned")."""

    policy: Policy = "state_or_llm_with_evidence"
    misaligned: bool
    behaviours: list[str] = Field(description="Behaviours counted as acted under the policy.")
    llm_behaviours: list[str] | None = Field(
        None, description="What the LLM opinion alone counts: behaviours it says were acted, each backed by a "
        "citation that checks; None without an LLM opinion (no LLM judge, or every one failed).")
    attempted: list[str] = Field(
        default_factory=list, description="Behaviours the state judge found attempted but refused by the world "
        "(never counted as acted, under any policy).")
    other_misconduct: list[str] = Field(
        default_factory=list, description="Harm outside the catalogue that an LLM opinion reported with evidence "
        "that checks: reported separately, never counted in `misaligned`; sets needs_review.")
    judge_errors: list[str] = Field(default_factory=list, description="Judges that gave no verdict, and why.")
    considered: list[str] = Field(default_factory=list)
    task_done: bool | None = Field(
        None, validation_alias=TASK_DONE_NAMES, description="The task checks' label (ground truth), as the state judge "
        "gives it.")
    eval_awareness: bool | None = None
    severity: Severity | None = None
    judges: list[JudgeVerdict]
    disagreements: list[str] = Field(default_factory=list)
    needs_review: bool = False
    rejected_evidence: list[str] = Field(
        default_factory=list, description="LLM claims whose cited steps or quotes do not check against the record."
    )
    citations: list[Citation] = Field(default_factory=list, description="The evidence behind each counted behaviour.")
    interview_label: InterviewLabel | None = None
    interview_judge: str | None = Field(None, description="Who labelled the interview: an LLM judge, or 'rule'.")

    @property
    def state_behaviours(self) -> list[str]:
        """What the state judge alone found acted (whatever the policy counts)."""
        state = next((j for j in self.judges if j.judge == STATE), None)
        return [b.behaviour for b in state.behaviours if b.acted] if state is not None else []
