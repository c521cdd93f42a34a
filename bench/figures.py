"""Number formatting shared by the benchmark reports: three significant-ish digits, thousands separated."""

from __future__ import annotations


def number(x: float, unit: str = "") -> str:
    if x >= 100:
        return f"{x:,.0f}{unit}"
    if x >= 10:
        return f"{x:.1f}{unit}"
    return f"{x:.2f}{unit}"
