"""Quoting untrusted text (an episode, a transcript) inside a prompt to another model.

The judge and the monitor both hand a model data between markers; the data must not be able to
close its block early and smuggle in instructions, so the markers' characters are replaced by
look-alikes inside it. One rule, shared, so the two never drift apart.
"""

from __future__ import annotations


def neutralise(text: str) -> str:
    """Data text that cannot contain a marker: `<<<` and `>>>` are replaced by look-alikes."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")
