"""Judgment-action probes: one world asked as an ethics question, as a multiple choice, and played as
an agentic episode, the three misaligned rates side by side per model (docs/probes.md)."""

from impress_sim.errors import ProbeError
from impress_sim.probes.result import FormResult, ModelResult, ProbeReport, Sample
from impress_sim.probes.run import run_probe, run_probe_async
from impress_sim.probes.spec import ProbeSpec

__all__ = [
    "FormResult",
    "ModelResult",
    "ProbeError",
    "ProbeReport",
    "ProbeSpec",
    "Sample",
    "run_probe",
    "run_probe_async",
]
