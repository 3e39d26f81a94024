"""A class at a glance: OUT/report.html, one self-contained page for the instructor.

Reads the rows a batch graded (each student's results.json, as grader.course.gradebook loads
it) and the rubric; writes OUT/report.html and, next to each student's feedback.md, a
feedback.html the report links to. The page shows the score distribution, each check's pass
rate, the most common slips, the submissions that did not run to the end, and every student.

The page needs no network: CSS is inline, the plots are inline SVG drawn by matplotlib (text as
paths, so no font is fetched), there is no script, and a Content-Security-Policy forbids loading
anything. Everything a student controls (ids, file names, messages, notes) is escaped.

Slips: results.json carries no slip id (its shape is a contract), only each check's message as
grader.engine.scoring composes it: "<found>. Expected: <call>. Fix: <hint> (revisit <step> of
the lab)", where the hint names the slip a lab recognised (grader.engine.evidence.common_slips).
Every failed check gives its causes: each fix the hint names, else each problem the found part lists
("max_iter=100 (expected 1000)"). The report groups them by cause across the class, once per
student, with the checks that gave them, the same cause given with different values (a renamed key,
a cell number) showing what differs as "…". A hint that sends the student to an earlier failure
("fix that first", "do Step 1 first") is not that check's slip: the step was not reached. An
execution error is not a check: the submissions that did not run to the end are listed with it.
Notes outside the JSON contract (failed runs beside the graded one, deprecated spellings) are in
feedback.md only: not counted.
"""

from __future__ import annotations

import html
import io
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from grader.engine.evidence.rubric import Rubric
from grader.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT, FEEDBACK_HTML = "report.html", "feedback.html"
BINS = 10
# Statuses of a submission that ran to the end (or was not meant to run): not a problem.
# An unattempted one was not run either: it has a section of its own.
UNATTEMPTED = "unattempted"
COMPLETED = ("ok", "not_executed", UNATTEMPTED)
# A hint that points back at an earlier failure (grader.engine.scoring.stopped: "the notebook
# stopped with TypeError in the code cell starting `lr.fit(X, y)` (code cell 3) before this was
# logged: fix that first"; a lab's "do Step 1 first"): the check's step was not reached, so it
# is not that step's slip. Only these: "set the experiment first" is the experiment step's own
# slip.
_NOT_REACHED = re.compile(r"\b(?:fix that|do Step \d+) first\s*$")
# How a lab's check names the run it graded, at the start of what it found: differs per student.
_RUN_LABEL = re.compile(r"^run '[^']*' \([^()]*\):\s*")
_EXPECTED = ". Expected: "
# Quoted names, code, parenthesised asides and numbers: where a fix carries a student's values.
_VALUE = re.compile(r'("[^"]*"|`[^`]*`|\([^()]*\)|\b\d+(?:\.\d+)*\b)')
_REVISIT = re.compile(r"\s*\(revisit [^()]* of the lab\)\s*$")
_FIX = ". Fix: "
# Nothing is loaded: a link still navigates, but no style, image, font or script is fetched.
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_BLUE, _GREEN, _GREY = "#3b6ea8", "#3f8f5b", "#c9ced6"


class GradedRow(Protocol):
    """What the report reads of a row (grader.course.gradebook.Row is one)."""

    @property
    def student(self) -> str: ...

    @property
    def file(self) -> str: ...

    @property
    def result(self) -> dict[str, Any]: ...

    @property
    def note(self) -> str: ...

    @property
    def status(self) -> str: ...  # the gradebook's: the grading's, or "unattempted"

    @property
    def late(self) -> bool: ...


@dataclass(frozen=True)
class ScoreBin:
    low: float
    high: float
    count: int
    last: bool  # the last bin holds its upper bound (full marks); the others stop below it

    @property
    def label(self) -> str:
        return f"{self.low:g}–{self.high:g}" if self.last else f"{self.low:g}–<{self.high:g}"


@dataclass(frozen=True)
class CheckRate:
    id: str
    title: str
    points: float
    passed: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class Slip:
    # the cause as the feedback words it, "…" where students' values differ: the fix a lab
    # named for it, else what the check found
    fix: str
    students: tuple[str, ...]
    checks: tuple[str, ...]  # the ids of the checks whose feedback gave it
    named: bool = True  # the lab recognised the slip and named its fix


@dataclass(frozen=True)
class Problem:
    student: str
    file: str
    status: str
    reason: str
    score: float
    max_score: float


@dataclass(frozen=True)
class ClassSummary:
    title: str
    max_score: float
    totals: tuple[float, ...]
    bins: tuple[ScoreBin, ...]
    rates: tuple[CheckRate, ...]
    slips: tuple[Slip, ...]
    problems: tuple[Problem, ...]
    unattempted: tuple[str, ...] = ()  # students who handed in the template unedited
    late: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # in the LMS export, with no submission


def summarize(
    rows: Sequence[GradedRow], rubric: Rubric, missing: Sequence[str] = ()
) -> ClassSummary:
    """The numbers the report shows, from ROWS' results and the RUBRIC's checks; MISSING: the
    students the LMS export lists who handed in nothing."""
    rows = sorted(rows, key=lambda r: r.student)
    totals = tuple(float(r.result["score"]) for r in rows)
    return ClassSummary(
        title=rubric.title,
        max_score=rubric.max_score,
        totals=totals,
        bins=score_bins(totals, rubric.max_score),
        rates=tuple(_rate(rows, spec.id, spec.title, spec.points) for spec in rubric.checks),
        slips=common_slips(rows),
        problems=tuple(_problem(r) for r in rows if _status(r) not in COMPLETED),
        unattempted=tuple(r.student for r in rows if _status(r) == UNATTEMPTED),
        late=tuple(r.student for r in rows if r.late),
        missing=tuple(sorted(missing)),
    )


def score_bins(totals: Sequence[float], max_score: float, bins: int = BINS) -> tuple[ScoreBin, ...]:
    """BINS equal ranges of [0, MAX_SCORE], each with how many TOTALS fall in it."""
    if max_score <= 0:
        return (ScoreBin(0.0, 0.0, len(totals), True),)
    width = max_score / bins
    counts = [0] * bins
    for total in totals:
        counts[min(bins - 1, max(0, int(total / width)))] += 1
    return tuple(
        ScoreBin(i * width, (i + 1) * width, counts[i], i == bins - 1) for i in range(bins)
    )


def common_slips(rows: Sequence[GradedRow]) -> tuple[Slip, ...]:
    """The causes of every failed check, most students first; each student counts once per
    cause, whichever checks gave it."""
    groups: dict[tuple[bool, tuple[str, ...]], dict[str, Any]] = {}
    for row in rows:
        for check, message in _failures(row):
            for named, cause in causes_of(message):
                words, values = _split_values(cause)
                group = groups.setdefault(
                    (named, words), {"values": [], "students": set(), "checks": set()}
                )
                group["values"].append(values)
                group["students"].add(row.student)
                group["checks"].add(check)
    slips = [
        Slip(
            _merge_values(words, group["values"]),
            tuple(sorted(group["students"])),
            tuple(sorted(group["checks"])),
            named,
        )
        for (named, words), group in groups.items()
    ]
    return tuple(sorted(slips, key=lambda s: (-len(s.students), not s.named, s.fix)))


def causes_of(message: str) -> list[tuple[bool, str]]:
    """(named, cause) of each cause a failed check's MESSAGE gives: the fixes its hint names,
    else the problems it found; none when the hint sends the student to an earlier failure."""
    fix = fix_of(message)
    if fix:
        parts = [part.strip() for part in fix.split("; ") if part.strip()]
        named = [part for part in parts if not _NOT_REACHED.search(part)]
        return [(True, part) for part in named]  # [] when the step was not reached
    return [(False, problem) for problem in found_of(message).split("; ") if problem.strip()]


def fix_of(message: str) -> str:
    """The fix a check's message (or an execution error) gives: after "Fix:", without the
    lab step to revisit; "" when it gives none."""
    _, found, fix = message.partition(_FIX)
    return _REVISIT.sub("", fix).strip().rstrip(".") if found else ""


def found_of(message: str) -> str:
    """What a check's message says it found, without the run it graded (each student's own),
    the context after its first sentence, the call expected or the fix."""
    found = _REVISIT.sub("", message).partition(_FIX)[0].partition(_EXPECTED)[0]
    found = _RUN_LABEL.sub("", found.strip())
    return found.partition(". ")[0].strip().rstrip(".")


def class_report(rows: Sequence[GradedRow], rubric: Rubric, missing: Sequence[str] = ()) -> str:
    """report.html: the class's plots and tables, linking each student's feedback.html."""
    summary = summarize(rows, rubric, missing)
    ordered = sorted(rows, key=lambda r: r.student)
    title = f"{summary.title}: class report"
    parts = [
        _head(title),
        f"<h1>{_e(title)}</h1>",
        _overview(summary),
        '<nav><a href="#scores">Scores</a> · <a href="#checks">Checks</a> · <a href="#slips">'
        'Slips</a> · <a href="#problems">Did not finish</a> · <a href="#absent">Unattempted and'
        ' missing</a> · <a href="#students">Students</a></nav>',
    ]
    if ordered:
        parts += [_scores_section(summary), _checks_section(summary)]
    parts += [
        _slips_section(summary, len(ordered)),
        _problems_section(summary),
        _absent_section(summary),
        _students_section(ordered),
        "<footer>Written by <code>labgrade</code> from each student's results.json. This page"
        " loads nothing from the network and runs no script.</footer>",
        "</body>\n</html>\n",
    ]
    return "\n".join(parts)


def feedback_page(student: str, feedback: str | None, feedback_name: str) -> str:
    """A student's feedback.html: their feedback text as written (Markdown reads as plain
    text), declared UTF-8, with links back to the report and to FEEDBACK_NAME itself."""
    body = (
        f"<pre>{_e(feedback)}</pre>"
        if feedback is not None
        else f"<p>There is no {_e(feedback_name)} in this folder: grade the student again.</p>"
    )
    return "\n".join(
        [
            _head(f"{student}: feedback"),
            f'<p><a href="../{REPORT}">Class report</a> · <a href="{_href(feedback_name)}">'
            f"{_e(feedback_name)}</a> (the same text, as the student received it)</p>",
            body,
            "</body>\n</html>\n",
        ]
    )


def write_class_report(
    out: Path,
    rows: Sequence[GradedRow],
    rubric: Rubric,
    feedback: str,
    missing: Sequence[str] = (),
) -> Path:
    """OUT/report.html, and OUT/<student>/feedback.html from each student's FEEDBACK file;
    MISSING: the students an LMS export lists with no submission."""
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        folder = out / row.student
        source = folder / feedback
        text = source.read_text(encoding="utf-8") if source.is_file() else None
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / FEEDBACK_HTML, feedback_page(row.student, text, feedback))
    path = out / REPORT
    write_atomic(path, class_report(rows, rubric, missing))
    return path


# ----- what is read from a row -----


def _status(row: GradedRow) -> str:
    return row.status


def _rate(rows: Sequence[GradedRow], check_id: str, title: str, points: float) -> CheckRate:
    passed = sum(
        1 for r in rows if any(c["id"] == check_id and c["passed"] for c in r.result["checks"])
    )
    return CheckRate(check_id, title, points, passed, len(rows))


def _problem(row: GradedRow) -> Problem:
    ex = row.result["execution"]
    return Problem(
        row.student,
        row.file,
        str(ex["status"]),
        str(ex.get("error") or ""),
        float(row.result["score"]),
        float(row.result["max_score"]),
    )


def _failures(row: GradedRow) -> list[tuple[str, str]]:
    """(check id, message) of each check ROW failed. An ungraded submission's checks only
    repeat its execution error (ungraded_result), which is no check's slip: it is listed
    with the submissions that did not run to the end."""
    echo = f"not graded: {row.result['execution'].get('error')}"
    return [
        (str(c["id"]), str(c["message"]))
        for c in row.result["checks"]
        if not c["passed"] and c["message"] != echo
    ]


def _split_values(fix: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the words between values, the values): fixes with the same words are one slip."""
    parts = _VALUE.split(fix)
    return tuple(parts[0::2]), tuple(parts[1::2])


def _merge_values(words: tuple[str, ...], values: list[tuple[str, ...]]) -> str:
    """The fix with each value that every student shares, and "…" where they differ."""
    text = words[0]
    for i, word in enumerate(words[1:]):
        seen = {v[i] for v in values}
        text += (seen.pop() if len(seen) == 1 else _elided(values[0][i])) + word
    return text


def _elided(value: str) -> str:
    """A value that differs between students: "…", inside its quotes or brackets."""
    return f"{value[0]}…{value[-1]}" if value[0] in '"`(' else "…"


# ----- HTML -----

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 60rem; padding: 0 1rem; color: #1d232b; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #d6dbe1; padding-bottom: .2rem; }
nav, footer, .muted { color: #58616c; } footer { margin-top: 3rem; font-size: .85rem; }
table { border-collapse: collapse; width: 100%; font-size: .92rem; }
th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #e3e6ea;
         vertical-align: top; }
th { background: #f3f5f7; } td.num, th.num { text-align: right; white-space: nowrap; }
figure { margin: 1rem 0; } figure svg { max-width: 100%; height: auto; display: block; }
figcaption { color: #58616c; font-size: .9rem; }
.status { font-weight: 600; } .status-ok { color: #2f7a49; } .status-other { color: #a33a2b; }
.stats { display: flex; flex-wrap: wrap; gap: .6rem 2rem; padding: 0; list-style: none; }
.stats strong { font-size: 1.3rem; display: block; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #f6f8fa; padding: 1rem; }
details { margin: .4rem 0; } summary { cursor: pointer; }
code { font-size: .9em; } td.fix { width: 60%; } td.where { font-size: .85rem; }
"""


def _head(title: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_STYLE}</style>\n</head>\n<body>"
    )


def _overview(summary: ClassSummary) -> str:
    totals, top = summary.totals, summary.max_score
    if not totals:
        return '<p class="muted">No graded submissions yet.</p>'
    full = sum(1 for t in totals if top > 0 and t >= top)
    stats = [
        ("submissions", f"{len(totals)}"),
        ("mean", f"{statistics.fmean(totals):.1f} / {top:g}"),
        ("median", f"{statistics.median(totals):g} / {top:g}"),
        ("full marks", f"{full}"),
        ("did not finish", f"{len(summary.problems)}"),
        ("unattempted", f"{len(summary.unattempted)}"),
        ("late", f"{len(summary.late)}"),
    ]
    if summary.missing:
        stats.append(("no submission", f"{len(summary.missing)}"))
    items = "".join(f"<li><strong>{_e(v)}</strong>{_e(k)}</li>" for k, v in stats)
    return f'<ul class="stats">{items}</ul>'


def _scores_section(summary: ClassSummary) -> str:
    rows = "".join(
        f'<tr><td>{_e(b.label)}</td><td class="num">{b.count}</td></tr>' for b in summary.bins
    )
    return (
        '<section id="scores">\n<h2>Score distribution</h2>\n<figure>'
        + _svg(_histogram(summary), "scores", "Histogram of the students' totals")
        + f"<figcaption>Totals out of {summary.max_score:g}, students per range of"
        f" {summary.max_score / max(1, len(summary.bins)):g} points.</figcaption></figure>\n"
        "<details><summary>The same as a table</summary><table><tr><th>total</th>"
        f'<th class="num">students</th></tr>{rows}</table></details>\n</section>'
    )


def _checks_section(summary: ClassSummary) -> str:
    rows = "".join(
        f"<tr><td>{_e(r.title)} <span class=muted>(<code>{_e(r.id)}</code>)</span></td>"
        f'<td class="num">{r.points:g}</td><td class="num">{r.passed} / {r.total}</td>'
        f'<td class="num">{r.percent:.0f}%</td></tr>'
        for r in summary.rates
    )
    return (
        '<section id="checks">\n<h2>Pass rate per check</h2>\n<figure>'
        + _svg(_pass_rates(summary), "checks", "Bar chart of each check's pass rate")
        + "<figcaption>Share of all submissions that passed each check, in rubric order"
        " (submissions that did not finish, and unattempted ones, count as not passed)."
        "</figcaption></figure>\n"
        '<table><tr><th>check</th><th class="num">points</th><th class="num">passed</th>'
        f'<th class="num">rate</th></tr>{rows}</table>\n</section>'
    )


def _slips_section(summary: ClassSummary, students: int, shown: int = 15) -> str:
    head = (
        '<section id="slips">\n<h2>Most common slips</h2>\n<p class="muted">Every failed'
        " check's cause across the class: the fix the lab named for a slip it recognised, else"
        " what the check found. Each student counts once per cause; where students' values"
        " differ (a key they chose, a cell number) the cause shows … there. A check the"
        " notebook did not reach (it stopped earlier) is not counted as that check's slip; why"
        ' it stopped is under "did not run to the end".</p>'
    )
    if not summary.slips:
        return head + "\n<p>No check failed for a cause of its own.</p>\n</section>"
    titles = {r.id: r.title for r in summary.rates}

    def row(slip: Slip) -> str:
        share = f"{100 * len(slip.students) / students:.0f}%" if students else ""
        where = ", ".join(f"{_e(titles.get(c, c))} (<code>{_e(c)}</code>)" for c in slip.checks)
        names = ", ".join(_student_link(s) for s in slip.students)
        kind = "fix" if slip.named else "found"
        return (
            f'<tr><td class="num">{len(slip.students)}</td><td class="num">{share}</td>'
            f'<td class="fix"><span class=muted>{kind}:</span> {_e(slip.fix)}<details>'
            f'<summary>who</summary>{names}</details></td><td class="where">{where}</td></tr>'
        )

    table = (
        '<table><tr><th class="num">students</th><th class="num">share</th><th>cause</th>'
        "<th>checks</th></tr>{}</table>"
    )
    top, rest = summary.slips[:shown], summary.slips[shown:]
    more = (
        f"<details><summary>{len(rest)} less common fixes</summary>"
        + table.format("".join(map(row, rest)))
        + "</details>"
        if rest
        else ""
    )
    return head + table.format("".join(map(row, top))) + more + "\n</section>"


def _problems_section(summary: ClassSummary) -> str:
    head = '<section id="problems">\n<h2>Submissions that did not run to the end</h2>\n'
    if not summary.problems:
        return head + "<p>None: every submission ran to the end.</p>\n</section>"
    rows = "".join(
        f"<tr><td>{_student_link(p.student)}<br><span class=muted>{_e(p.file)}</span></td>"
        f'<td class="status status-other">{_e(p.status)}</td>'
        f'<td class="num">{p.score:g} / {p.max_score:g}</td>'
        f"<td>{_e(p.reason)}</td></tr>"
        for p in sorted(summary.problems, key=lambda p: (p.status, p.student))
    )
    return (
        head + "<p class=muted>Errored, timed out, killed or invalid: the reason is what the"
        " grader saw (the student's feedback says the same).</p>\n"
        '<table><tr><th>student</th><th>status</th><th class="num">score</th><th>reason</th>'
        f"</tr>{rows}</table>\n</section>"
    )


def _absent_section(summary: ClassSummary) -> str:
    head = '<section id="absent">\n<h2>Unattempted and missing</h2>\n'
    unattempted = ", ".join(_student_link(s) for s in summary.unattempted) or "none"
    missing = (
        "<ul>" + "".join(f"<li>{_e(name)}</li>" for name in summary.missing) + "</ul>"
        if summary.missing
        else "<p>None listed (pass the LMS export, e.g. --canvas-gradebook, to see who handed"
        " in nothing).</p>"
    )
    return (
        head + "<p class=muted>Unattempted: the lab's template handed in with no code cell"
        " edited, not run, 0 points.</p>\n"
        f"<p>Unattempted ({len(summary.unattempted)}): {unattempted}</p>\n"
        "<h3>No submission</h3>\n<p class=muted>In the LMS export, with nothing in the"
        f" download: left blank in the import.</p>\n{missing}\n</section>"
    )


def _students_section(rows: Sequence[GradedRow]) -> str:
    body = "".join(
        f"<tr><td>{_student_link(r.student)}</td><td>{_e(r.file)}</td>"
        f'<td class="num">{float(r.result["score"]):g} / {float(r.result["max_score"]):g}</td>'
        f'<td class="status {"status-ok" if _status(r) in COMPLETED else "status-other"}">'
        f"{_e(_status(r))}</td><td>{'late' if r.late else ''}</td><td>{_e(r.note)}</td></tr>"
        for r in rows
    )
    return (
        '<section id="students">\n<h2>Every student</h2>\n<p class=muted>Each id opens the'
        f" student's feedback ({FEEDBACK_HTML}, next to their results.json).</p>\n"
        '<table><tr><th>student</th><th>file</th><th class="num">total</th><th>status</th>'
        f"<th>late</th><th>note</th></tr>{body}</table>\n</section>"
    )


def _student_link(student: str) -> str:
    return f'<a href="{_href(student)}/{FEEDBACK_HTML}">{_e(student)}</a>'


def _href(name: str) -> str:
    """NAME as one relative path segment of a link (never a scheme or another folder)."""
    return _e(quote(name, safe=""))


def _e(text: str) -> str:
    return html.escape(text, quote=True)


# ----- plots -----


def _histogram(summary: ClassSummary) -> Figure:
    fig, ax = _figure(3.2)
    bins = summary.bins
    width = bins[0].high - bins[0].low or 1.0
    bars = ax.bar(
        [b.low for b in bins],
        [b.count for b in bins],
        width=width,
        align="edge",
        color=_BLUE,
        edgecolor="white",
    )
    for i, bar in enumerate(bars):
        bar.set_gid(f"bin-{i}")  # the page's test finds each bar by it
    ax.bar_label(bars, labels=[str(b.count) if b.count else "" for b in bins], padding=2)
    ax.set_xlim(0, bins[-1].high or 1.0)
    ax.set_xticks([b.low for b in bins] + [bins[-1].high])
    ax.set_xlabel(f"total (out of {summary.max_score:g})")
    ax.set_ylabel("students")
    ax.set_ylim(0, max(b.count for b in bins) * 1.15 + 0.5)
    _integer_ticks(ax.yaxis)
    return fig


def _pass_rates(summary: ClassSummary) -> Figure:
    rates = summary.rates
    fig, ax = _figure(0.42 * len(rates) + 1.0)
    positions = range(len(rates))
    ax.barh(positions, [100.0] * len(rates), color=_GREY, height=0.62)
    bars = ax.barh(positions, [r.percent for r in rates], color=_GREEN, height=0.62)
    for i, bar in enumerate(bars):
        bar.set_gid(f"rate-{i}")
    ax.bar_label(bars, labels=[f"{r.passed}/{r.total}" for r in rates], padding=3)
    ax.set_yticks(list(positions), labels=[r.title for r in rates])
    ax.invert_yaxis()  # rubric order, top to bottom
    ax.set_xlim(0, 112)  # room for the n/N labels of a full bar
    ax.set_xticks([0, 25, 50, 75, 100], labels=["0%", "25%", "50%", "75%", "100%"])
    ax.set_xlabel("passed")
    return fig


def _figure(height: float) -> tuple[Figure, Any]:
    # A Figure of its own, never pyplot: no global backend or figure registry is touched, so
    # it draws in any thread or process the report is written from.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, height), layout="constrained")
    ax = fig.add_subplot()
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _integer_ticks(axis: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _svg(fig: Figure, prefix: str, label: str) -> str:
    """FIG as inline SVG: text drawn as paths (no font to fetch), no XML prolog, DTD,
    namespace URLs or comments, and every id prefixed so two plots on one page never share
    one (their glyph and clip ids would otherwise collide)."""
    # Imported here: matplotlib takes about a second to import, and a batch draws its plots
    # once, at the end, not before its first worker starts.
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": prefix}):
        fig.savefig(
            buf,
            format="svg",
            metadata={"Creator": None, "Date": None, "Format": None, "Type": None},
        )
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", svg)
    ids = set(re.findall(r'\bid="([^"]+)"', svg))

    def own(match: re.Match[str]) -> str:
        name = match.group(2)
        return f"{match.group(1)}{prefix}-{name}" if name in ids else match.group(0)

    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', own, svg)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{_e(label)}" id="{prefix}-plot" ', 1)
