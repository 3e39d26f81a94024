"""Fixes for the errors the Search Runs lab's code meets when a filter is mistyped."""

from __future__ import annotations

import re


def hint_for(ename: str, evalue: str) -> str | None:
    """The lab's own fix for an exception a cell raised, or None."""
    if "filter" in evalue.casefold() and re.search(r"f1 score|learning rate", evalue):
        return 'a name with a space goes in double quotes in a filter: metrics."f1 score" (Step 2).'
    if "Invalid clause(s) in filter string" in evalue or "Invalid filter" in evalue:
        return (
            "the filter does not parse: quote names with spaces or dashes"
            ' (metrics."f1 score"), and string values and IN lists with single quotes (Step 2).'
        )
    return None
