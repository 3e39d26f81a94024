"""Text from a submission made safe to show: no terminal escapes, no control characters, short."""

from __future__ import annotations

import re

# CSI and OSC sequences (colours, cursor moves, titles, hyperlinks), then any other control.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_text(text: str, limit: int) -> str:
    """TEXT without escapes and control characters, cut to LIMIT characters with an ellipsis."""
    text = _CONTROL.sub("", _ESCAPES.sub("", text))
    return text if len(text) <= limit else text[: limit - 3] + "..."
