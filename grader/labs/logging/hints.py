"""Fixes for the errors the Logging a Model lab's published code meets, or a student's slip in
it raises."""

from __future__ import annotations

from grader.labs._compat import SKOPS_FIX


def hint_for(ename: str, evalue: str) -> str | None:
    """The lab's own fix for an exception a cell raised, or None."""
    if "untrusted types" in evalue:
        return SKOPS_FIX + " (Train and log the model)."
    if ename == "TypeError" and "fillna" in evalue and "method" in evalue:
        return (
            "pandas 3 removed fillna(method=...): write"
            ' df["previous_days_demand"] = df["previous_days_demand"].bfill() in the data'
            " generator (an in-place fill of df[...] fills a copy under pandas 3)."
        )
    if "RESOURCE_ALREADY_EXISTS" in evalue:
        return (
            'the experiment exists already: create "Apple_Models" once (on your own server,'
            " a re-run of that cell raises this; the grader's server starts empty)."
        )
    return None
