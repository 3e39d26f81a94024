"""Batch progress: a tqdm bar with counts and ETA on a terminal, one line per student otherwise."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

from grader.course.gradebook import Row


class Progress:
    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.bar: Any = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.bar is not None:
            self.bar.close()

    def start(self, total: int, skipped: int) -> None:
        if skipped:
            print(
                f"labgrade: {skipped} unchanged submission(s) already graded: skipped", flush=True
            )
        if self.tty and total:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="submission", file=sys.stderr, dynamic_ncols=True)
        elif total:
            print(f"labgrade: grading {total} submission(s)", flush=True)

    def done(self, row: Row, count: int, total: int) -> None:
        score = f"{row.result['score']:g}/{row.result['max_score']:g}"
        seconds = row.result["execution"]["seconds"]
        line = f"[{count}/{total}] {row.student}: {score} {row.status} ({seconds:.1f} s)"
        if not self.tty:
            print(line, flush=True)  # CI logs: one plain line per submission
            return
        self.bar.set_postfix_str(f"{row.student}: {score}", refresh=False)
        self.bar.update(1)
