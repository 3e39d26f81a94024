"""Grades handed back to the LMS a class's submissions came from, in the file it imports.

Both files are the LMS's own export with our scores filled in, never made from nothing: the
export names the students as the LMS knows them, the assignment and its maximum, and our
download names carry only the LMS's user ids (grader.course.roster.LmsIdentity).

Canvas: the gradebook CSV. Export it (Grades > Export > Export Entire Gradebook), import
ours (Grades > Import). Documented in "How do I import grades in the Gradebook?"
(https://community.canvaslms.com/t5/Instructor-Guide/How-do-I-import-grades-in-the-Gradebook/ta-p/807)
and "How do I export grades in the Gradebook?"; Canvas's exporter and importer
(https://github.com/instructure/canvas-lms, lib/gradebook_exporter.rb and
app/models/gradebook_importer.rb) fix the details:
- header: Student (or LastName, FirstName), ID, then SIS User ID, SIS Login ID (Integration
  ID, Root Account) when present, then Section; then one column per assignment titled
  "Title (assignment id)", then read-only totals (Current Score, ...).
- a "Points Possible" row (first cell "    Points Possible") before the students, and perhaps
  a "Muted" / "Manual Posting" row, which the importer skips.
- students are matched by ID (the Canvas user id, as in the download's file names), then by
  SIS ids, then by name; an assignment column by the id in its title, then by title, and an
  unknown title creates a new assignment. Numbers may use a decimal comma; a field separator
  may be ";" (it is detected). A cell equal to the grade Canvas holds is no change; a blank
  cell where Canvas holds none is none either.
Our file keeps the student columns, the Points Possible row and the one assignment's column
(read-only columns are ignored on import anyway, and other assignments' columns, stale since
the export, could only overwrite grades entered after it). A student with no graded
submission keeps the cell as exported, mostly blank, so the import changes nothing for them:
a 0 would fail someone the grader never saw (a late upload, a submission by other means), and
a blank where Canvas holds a grade counts as a change to no grade. EX (excused) and N/A (not
assigned to them) stay too, even for a student graded: they are the instructor's call.

Moodle: the assignment's offline grading worksheet (enable the "Offline grading worksheet"
feedback type; Submissions > Actions > Download grading worksheet, then Upload grading
worksheet; https://docs.moodle.org/en/Assignment_settings#Feedback_types). Its importer
(https://github.com/moodle/moodle, mod/assign/feedback/offline/importgradeslib.php and
locallib.php; the columns come from mod/assign/gradingtable.php) needs the columns Identifier
("Participant 12345", the participant id of the download's folder names), Grade and "Last
modified (grade)"; it also writes Full name, Email address, Status, "Maximum Grade" (or
"Scale"), "Grade can be changed", "Last modified (submission)" and one column per feedback
field, e.g. "Feedback comments". On import it skips a blank grade, a grade above the maximum
(silently), a locked one, and one changed in Moodle after "Last modified (grade)" (kept as
downloaded, so a grade a teacher entered since is not overwritten). Headers are in the
language of the Moodle that wrote them: these are English's. Our file is the worksheet with
Grade filled in for the participants graded (as the worksheet writes numbers, decimal comma
or point), and an empty "Feedback comments" cell with a one-line summary; a participant with
no graded submission keeps their row as downloaded (a blank grade: skipped).

Our scores are scaled to the LMS's maximum (Canvas's points possible, Moodle's Maximum Grade):
an LMS assignment worth 10 points takes 90 of our 100 as 9. Canvas would take 90 as extra credit
and Moodle would skip it, both silently.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import ClassVar

from grader.course.attempt import UNATTEMPTED_NOTE
from grader.course.gradebook import Row
from grader.course.roster import Lms, LmsIdentity, lms_identity
from grader.errors import InputError
from grader.files import write_atomic


class LmsExportError(InputError):
    """An LMS export the grades cannot go into, or a class it does not match: the instructor
    fixes the file or the command (labgrade exits 2)."""


CANVAS_FILE, MOODLE_FILE = "canvas-import.csv", "moodle-worksheet.csv"
LISTED = 8  # names listed in a refusal before "and N more"
FEEDBACK_CHARS = 1000  # of a Moodle feedback comment

CANVAS_EXPORT = "Grades > Export > Export Entire Gradebook"
MOODLE_EXPORT = (
    "the assignment's Submissions page > Actions > Download grading worksheet, with all"
    " participants shown (no group selected)"
)
# Canvas's Assignment.title_and_id: "Lab 1 (1234)".
_TITLED = re.compile(r"^(?P<title>.*)\s\((?P<id>\d+)\)$")
# What Canvas's exporter writes between the name columns and Section, longest first.
_CANVAS_SIS = (
    ("SIS User ID", "SIS Login ID", "Integration ID"),
    ("SIS User ID", "SIS Login ID"),
    ("SIS Login ID",),
    (),
)
_CANVAS_SKIPPED = re.compile(r"\s*(Muted|Manual Posting.*)?\s*", re.IGNORECASE)
_CANVAS_KEPT = {"EX": "excused", "N/A": "not assigned to them"}
M_ID, M_GRADE, M_MODIFIED = "Identifier", "Grade", "Last modified (grade)"
M_MAX, M_SCALE = "Maximum Grade", "Scale"
M_FEEDBACK, M_CHANGEABLE = "Feedback comments", "Grade can be changed"
M_NAME = "Full name"
M_SUBMITTED = "Last modified (submission)"
# How an English Moodle writes a date in the worksheet (its strftimedatetime, and near kin).
_MOODLE_TIMES = (
    "%A, %d %B %Y, %I:%M %p",
    "%A, %d %B %Y, %H:%M",
    "%d %B %Y, %I:%M %p",
    "%d %B %Y, %H:%M",
)
_PARTICIPANT = re.compile(r"^Participant\s*(?P<id>\d+)$")
_NUMBER = re.compile(r"^\d+(?:[.,]\d+)?$")


@dataclass(frozen=True)
class Written:
    """One LMS file written: where, from which export, and what to know before importing it."""

    lms: Lms
    path: Path
    source: Path
    graded: int  # students whose grade we filled in
    untouched: int  # rows of the export left as exported: no graded submission, or kept
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Filled:
    text: str
    graded: tuple[Row, ...]
    untouched: int
    notes: tuple[str, ...]


@dataclass(frozen=True)
class CanvasGradebook:
    """A Canvas gradebook export, read for one assignment's column."""

    source: Path
    assignment: str  # the column's header, "Lab 1 (1234)"
    points_possible: Decimal
    info: tuple[str, ...]  # the student columns: Student, ID, ..., Section
    points_label: str  # the Points Possible row's first cell, as exported
    points_cell: str  # its cell in the assignment's column, as exported
    students: tuple[tuple[tuple[str, ...], str], ...]  # (student cells, the column's cell)
    delimiter: str = ","
    bom: bool = False
    lms: ClassVar[Lms] = "canvas"
    filename: ClassVar[str] = CANVAS_FILE

    @property
    def user_ids(self) -> frozenset[str]:
        return frozenset(self._id(cells) for cells, _ in self.students)

    def roster(self) -> list[tuple[str, str]]:
        """(Canvas ID, name) of every student the export lists."""
        return [(self._id(cells), cells[0].strip()) for cells, _ in self.students]

    def _id(self, cells: tuple[str, ...]) -> str:
        return cells[self.info.index("ID")].strip()

    def fill(self, rows: Sequence[Row]) -> _Filled:
        by_user = _by_user(rows)
        buffer = io.StringIO()
        out = csv.writer(buffer, delimiter=self.delimiter)
        out.writerow([*self.info, self.assignment])
        out.writerow([self.points_label, *[""] * (len(self.info) - 1), self.points_cell])
        graded: list[Row] = []
        kept: list[str] = []
        for cells, cell in self.students:
            row, value = by_user.get(self._id(cells)), cell
            if row is not None and cell.strip().upper() in _CANVAS_KEPT:
                # Excused, or not assigned to them: the instructor's call, which a score undoes.
                kept.append(f"{cells[0]} ({cell.strip()}: {_CANVAS_KEPT[cell.strip().upper()]})")
            elif row is not None:
                value = _number(_scaled(row, self.points_possible), decimal_comma=False)
                graded.append(row)
            out.writerow([*cells, value])
        notes = _kept_note(kept, "left as exported")
        return _Filled(
            _text(buffer, self.bom),
            tuple(graded),
            len(self.students) - len(graded),
            (*notes, *_notes(graded, self.points_possible, "points possible")),
        )


@dataclass(frozen=True)
class MoodleWorksheet:
    """A Moodle assignment's offline grading worksheet."""

    source: Path
    header: tuple[str, ...]
    participants: tuple[tuple[str, tuple[str, ...]], ...]  # (participant id, its cells)
    maximum: Decimal
    decimal_comma: bool  # as the worksheet writes Maximum Grade: Moodle reads numbers so
    delimiter: str = ","
    bom: bool = False
    lms: ClassVar[Lms] = "moodle"
    filename: ClassVar[str] = MOODLE_FILE

    @property
    def user_ids(self) -> frozenset[str]:
        return frozenset(pid for pid, _ in self.participants)

    def submitted_after(self, due: datetime.datetime) -> frozenset[str]:
        """The participants whose submission the worksheet dates after DUE (both in the time
        zone the Moodle user who downloaded it sees)."""
        if M_SUBMITTED not in self.header:
            raise LmsExportError(
                f"{self.source}: no {M_SUBMITTED!r} column, which --due compares with. Fix:"
                f" download the worksheet again ({MOODLE_EXPORT}) and pass it unedited"
            )
        column = self.header.index(M_SUBMITTED)
        late = set()
        for pid, cells in self.participants:
            when = _moodle_time(self.source, pid, cells[column])
            if when is not None and when > due:
                late.add(pid)
        return frozenset(late)

    def roster(self) -> list[tuple[str, str]]:
        """(participant id, full name) of every participant the worksheet lists."""
        name = self.header.index(M_NAME) if M_NAME in self.header else None
        return [
            (pid, cells[name].strip() if name is not None else f"Participant {pid}")
            for pid, cells in self.participants
        ]

    def fill(self, rows: Sequence[Row]) -> _Filled:
        by_user = _by_user(rows)
        grade = self.header.index(M_GRADE)
        feedback = self.header.index(M_FEEDBACK) if M_FEEDBACK in self.header else None
        changeable = self.header.index(M_CHANGEABLE) if M_CHANGEABLE in self.header else None
        buffer = io.StringIO()
        out = csv.writer(buffer, delimiter=self.delimiter)
        out.writerow(self.header)
        graded: list[Row] = []
        locked: list[str] = []
        commented: list[str] = []
        for pid, cells in self.participants:
            row, filled = by_user.get(pid), list(cells)
            if row is not None and changeable is not None and cells[changeable].strip() == "No":
                locked.append(f"Participant {pid}")  # Moodle's upload would skip it anyway
            elif row is not None:
                scaled = _scaled(row, self.maximum)
                filled[grade] = _number(scaled, self.decimal_comma)
                graded.append(row)
                if feedback is not None and cells[feedback].strip():
                    commented.append(f"Participant {pid}")  # a teacher's own words stay
                elif feedback is not None:
                    filled[feedback] = feedback_comment(row, scaled, self.maximum)
            out.writerow(filled)
        notes = (
            *_kept_note(locked, f"locked in Moodle ({M_CHANGEABLE}: No), left as downloaded"),
            *_kept_note(commented, "already had a feedback comment, kept as downloaded"),
        )
        return _Filled(
            _text(buffer, self.bom),
            tuple(graded),
            len(self.participants) - len(graded),
            (*notes, *_notes(graded, self.maximum, M_MAX)),
        )


ImportFile = CanvasGradebook | MoodleWorksheet


def read_canvas_gradebook(path: Path, assignment: str | None) -> CanvasGradebook:
    """PATH, a Canvas gradebook export, read for the column ASSIGNMENT names: its id
    ("1234"), its header ("Lab 1 (1234)") or its title ("Lab 1")."""
    text, bom = _read(path, "Canvas gradebook export", CANVAS_EXPORT)
    delimiter, table = _table(path, text, lambda cells: cells[0] in ("Student", "LastName"))
    if table is None:
        raise LmsExportError(
            f"{path}: not a Canvas gradebook export: its first row does not start with"
            f" Student (or LastName, FirstName). Fix: pass the CSV Canvas exports"
            f" ({CANVAS_EXPORT}), unedited"
        )
    header = [cell.strip() for cell in table[0]]
    info = _canvas_info(path, header)
    column = _canvas_column(path, header[len(info) :], assignment)
    index = header.index(column)
    points: list[str] | None = None
    students: list[tuple[tuple[str, ...], str]] = []
    for cells in table[1:]:
        cells = cells + [""] * (len(header) - len(cells))
        if not any(cell.strip() for cell in cells):
            continue
        if "Points Possible" in cells[0]:
            points = cells
        elif not all(_CANVAS_SKIPPED.fullmatch(cell) for cell in cells):
            students.append((tuple(cells[: len(info)]), cells[index]))
    if points is None:
        raise LmsExportError(
            f"{path}: no Points Possible row under the header, which Canvas's export always"
            f" writes. Fix: pass the CSV Canvas exports ({CANVAS_EXPORT}), unedited"
        )
    possible = _decimal(points[index])
    if possible is None or possible <= 0:
        raise LmsExportError(
            f"{path}: the Points Possible of {column!r} reads {points[index].strip()!r}, not a"
            " number above 0, so our scores cannot be put on its scale. Fix: grade the"
            " assignment in points in Canvas (Points above 0, Display Grade as Points),"
            " then export again"
        )
    ids = [cells[info.index("ID")].strip() for cells, _ in students]
    _refuse_duplicates(path, [i for i in ids if i], "students with Canvas ID")
    return CanvasGradebook(
        source=path,
        assignment=column,
        points_possible=possible,
        info=tuple(info),
        points_label=points[0],
        points_cell=points[index].strip(),
        students=tuple(students),
        delimiter=delimiter,
        bom=bom,
    )


def read_moodle_worksheet(path: Path) -> MoodleWorksheet:
    """PATH, a Moodle assignment's offline grading worksheet."""
    text, bom = _read(path, "Moodle grading worksheet", MOODLE_EXPORT)
    delimiter, table = _table(path, text, lambda cells: M_ID in cells)
    header = tuple(cell.strip() for cell in table[0]) if table else ()
    missing = [c for c in (M_ID, M_GRADE, M_MODIFIED) if c not in header]
    if table is None or missing:
        raise LmsExportError(
            f"{path}: not a grading worksheet as Moodle's upload reads one: no column"
            f" {', '.join(repr(c) for c in missing or [M_ID])} (found:"
            f" {', '.join(header) or 'none'}). Fix: download it again ({MOODLE_EXPORT}) and"
            " pass it unedited; a Moodle in another language names the columns in it: switch"
            " your Moodle language to English before downloading"
        )
    _refuse_duplicates(path, [h for h in header if h], "columns named")
    if M_SCALE in header or M_MAX not in header:
        raise LmsExportError(
            f"{path}: no {M_MAX!r} column: the assignment is graded on a scale, and the grader"
            " gives points. Fix: set the assignment's grade type to Point in Moodle (Settings >"
            " Grade), then download the worksheet again"
        )
    participants: list[tuple[str, tuple[str, ...]]] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        cells = (cells + [""] * (len(header) - len(cells)))[: len(header)]
        identifier = cells[header.index(M_ID)].strip()
        match = _PARTICIPANT.match(identifier)
        if match is None:
            raise LmsExportError(
                f"{path}: row {number}: {M_ID} {identifier!r} is not 'Participant <number>',"
                " which Moodle's upload matches students on. Fix: download the worksheet again"
                f" ({MOODLE_EXPORT}) and pass it unedited"
            )
        participants.append((match.group("id"), tuple(cells)))
    _refuse_duplicates(path, [pid for pid, _ in participants], "rows for Participant")
    maxima = sorted({cells[header.index(M_MAX)].strip() for _, cells in participants})
    maximum = _decimal(maxima[0]) if len(maxima) == 1 else None
    if participants and (maximum is None or maximum <= 0):
        raise LmsExportError(
            f"{path}: {M_MAX!r} reads {', '.join(repr(m) for m in maxima)}, not one number"
            " above 0, so our scores cannot be put on its scale. Fix: download the worksheet"
            f" again ({MOODLE_EXPORT}) and pass it unedited"
        )
    return MoodleWorksheet(
        source=path,
        header=header,
        participants=tuple(participants),
        maximum=maximum or Decimal(0),
        decimal_comma=any("," in m for m in maxima),
        delimiter=delimiter,
        bom=bom,
    )


def check_students(targets: Sequence[ImportFile], graded: Mapping[str, LmsIdentity | None]) -> None:
    """Refuse what a TARGET could not take, before anything is written or graded: a submission
    not named as that LMS's download names them, a second one of a user, a user unknown to the
    export. GRADED: each submission's file or folder name, and the identity it carries."""
    for target in targets:
        lms = target.lms.capitalize()
        label = "Canvas ID" if target.lms == "canvas" else "Participant"
        foreign = sorted(
            f for f, ident in graded.items() if ident is None or ident.lms != target.lms
        )
        if foreign:
            raise LmsExportError(
                f"{target.source}: {_count(foreign, 'submission')} not named as {lms}'s download"
                f" names them, so nothing says which {lms} user each is: {_listed(foreign)}."
                f" Fix: grade the download as {lms} made it (its zip, names unchanged), or leave"
                f" out the {lms} file"
            )
        users: dict[str, list[str]] = {}
        for file, ident in graded.items():
            if ident is not None:
                users.setdefault(ident.user_id, []).append(file)
        twice = [f"{label} {uid}: {', '.join(sorted(f))}" for uid, f in users.items() if len(f) > 1]
        if twice:
            raise LmsExportError(
                f"{target.source}: more than one submission of one {lms} user, and a row takes"
                f" one grade: {_listed(sorted(twice))}. Fix: leave one submission per student"
                " in the download, then run the command again"
            )
        unknown = sorted(
            f"{file} ({label} {ident.user_id})"
            for file, ident in graded.items()
            if ident is not None and ident.user_id not in target.user_ids
        )
        if unknown:
            where = CANVAS_EXPORT if target.lms == "canvas" else MOODLE_EXPORT
            raise LmsExportError(
                f"{target.source}: {_count(unknown, 'graded student')} missing from it, so their"
                f" grades could not be imported: {_listed(unknown)}. Fix: take the file from"
                f" the course and assignment the submissions came from, after the last"
                f" enrolment ({where}); if these students left the course, take their"
                " submissions out of the download and run the command again (finished"
                " gradings are kept)"
            )


def late_by_due(
    targets: Sequence[ImportFile], rows: Sequence[Row], due: datetime.datetime | None
) -> frozenset[str]:
    """The students of ROWS a Moodle worksheet among TARGETS dates after DUE (Canvas marks its
    late submissions itself, _LATE: grader.course.roster.is_late)."""
    if due is None:
        return frozenset()
    late: set[str] = set()
    by_user = _by_user(rows)
    for target in targets:
        if isinstance(target, MoodleWorksheet):
            late |= {by_user[pid].student for pid in target.submitted_after(due) if pid in by_user}
    return frozenset(late)


def _moodle_time(source: Path, pid: str, cell: str) -> datetime.datetime | None:
    text = " ".join(cell.split())
    if text in ("", "-"):
        return None  # nothing submitted
    for pattern in _MOODLE_TIMES:
        try:
            return datetime.datetime.strptime(text, pattern)
        except ValueError:
            continue
    raise LmsExportError(
        f"{source}: Participant {pid}'s {M_SUBMITTED!r} reads {text!r}, not a date as an"
        f" English Moodle writes one ('Friday, 20 November 2026, 12:00 PM'), so --due cannot"
        " tell whether it was late. Fix: switch your Moodle language to English, download the"
        " worksheet again and pass it unedited"
    )


def missing_students(targets: Sequence[ImportFile], rows: Sequence[Row]) -> list[str]:
    """The students TARGETS list who have no row: they handed in nothing (their cells stay as
    exported), each as "Name (Canvas ID 123)"."""
    graded = set(_by_user(rows))
    missing = set()
    for target in targets:
        label = "Canvas ID" if target.lms == "canvas" else "Participant"
        missing |= {f"{name} ({label} {uid})" for uid, name in target.roster() if uid not in graded}
    return sorted(missing)


def write_imports(out: Path, rows: Sequence[Row], targets: Sequence[ImportFile]) -> list[Written]:
    """Each of TARGETS filled with ROWS' scores, written into OUT; all checked before any is."""
    check_students(targets, {row.file: lms_identity(row.file) for row in rows})
    filled = [(target, target.fill(rows)) for target in targets]
    written = []
    for target, done in filled:
        path = out / target.filename
        # newline="": the csv writer's CRLF line ends, as both LMSs export, stay as written.
        write_atomic(path, done.text, newline="")
        written.append(
            Written(target.lms, path, target.source, len(done.graded), done.untouched, done.notes)
        )
    return written


def feedback_comment(row: Row, scaled: Decimal, maximum: Decimal) -> str:
    """A short plain-text summary of ROW's grading, for an LMS's feedback comment."""
    result = row.result
    most = _decimal_of(result["max_score"])
    first = f"Autograder: {_plain(result['score'])} of {_plain(most)} points"
    if most != maximum:
        first += f" ({_plain(scaled)} of {_plain(maximum)} here)"
    parts = [first]
    status = result["execution"]["status"]
    if row.unattempted:
        parts.append(UNATTEMPTED_NOTE)
    elif status != "ok":
        error = " ".join(str(result["execution"].get("error") or "").split())
        parts.append(
            f"the notebook did not run to the end ({status}{': ' if error else ''}{error})"
        )
    adjusted = result.get("adjustments", {}).get("notes", [])
    if row.late and not adjusted:
        parts.append("submitted late")
    parts += adjusted
    for check in [] if row.unattempted else result["checks"]:
        if not check["passed"]:
            lost = _decimal_of(check["max_score"]) - _decimal_of(check["score"])
            message = " ".join(str(check["message"]).split())
            parts.append(f"{check['title']} (-{_plain(lost)}): {message}")
    text = "; ".join(p.rstrip(". ") for p in parts) + "."
    if len(text) > FEEDBACK_CHARS:
        text = text[: FEEDBACK_CHARS - 3].rstrip() + "..."
    # Moodle keeps feedback comments as HTML: a "<" in a message must stay text.
    return html.escape(text, quote=False)


def _canvas_info(path: Path, header: list[str]) -> list[str]:
    """The student columns of a Canvas export's HEADER, as Canvas's importer reads them."""
    at = 1 if header[0] == "Student" else 2 if header[:2] == ["LastName", "FirstName"] else 0
    if at == 0 or header[at : at + 1] != ["ID"]:
        raise LmsExportError(
            f"{path}: the first columns are {', '.join(header[:3])}, not Student, ID: Canvas"
            " matches students on ID (the Canvas user id the download's file names carry)."
            f" Fix: pass the CSV Canvas exports ({CANVAS_EXPORT}) with its columns as they are"
        )
    at += 1
    for sis in _CANVAS_SIS:
        if tuple(header[at : at + len(sis)]) == sis:
            at += len(sis)
            break
    if header[at : at + 1] == ["Root Account"]:
        at += 1
    if header[at : at + 1] != ["Section"]:
        raise LmsExportError(
            f"{path}: column {at + 1} is {header[at] if at < len(header) else 'missing'!r} where"
            f" Canvas's export has Section, after {', '.join(header[:at])}: Canvas's import"
            " reads the student columns by position, so it would take this file wrong. Fix:"
            f" pass the CSV Canvas exports ({CANVAS_EXPORT}) with its columns as they are"
        )
    return header[: at + 1]


def _canvas_column(path: Path, columns: list[str], wanted: str | None) -> str:
    """The one assignment column WANTED names among a Canvas export's COLUMNS."""
    titled = [(c, m.group("title"), m.group("id")) for c in columns if (m := _TITLED.match(c))]
    listing = ", ".join(repr(c) for c, _, _ in titled) or "none"
    if wanted is None:
        raise LmsExportError(
            f"{path}: which assignment's column should take the grades? Fix: pass"
            f" --canvas-assignment with its title or id; this export has: {listing}"
        )
    key = wanted.strip()
    hits = (
        [c for c, _, _ in titled if c == key]
        or [c for c, _, aid in titled if aid == key]
        or [c for c, title, _ in titled if title == key]
    )
    if not hits:
        raise LmsExportError(
            f"{path}: no assignment column {key!r} (Canvas's export titles them 'Title (id)'),"
            f" and a column Canvas does not know would import as a new assignment. Fix: create"
            f" the assignment in Canvas first, export again, and pass its title or id; this"
            f" export has: {listing}"
        )
    if len(hits) > 1:
        raise LmsExportError(
            f"{path}: {len(hits)} assignment columns match {key!r}: {', '.join(hits)}. Fix: pass"
            " --canvas-assignment with the id in parentheses of the one to grade"
        )
    return hits[0]


def _read(path: Path, what: str, where: str) -> tuple[str, bool]:
    """PATH's text, and whether it began with a UTF-8 byte order mark (as Excel writes)."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise LmsExportError(
            f"{path}: cannot read this {what} ({err.strerror or err}). Fix: download it"
            f" ({where}) and pass its path"
        ) from err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LmsExportError(
            f"{path}: not UTF-8 text ({err.reason} at byte {err.start}), as the LMS writes it."
            f" Fix: download it again ({where}); a spreadsheet program that opened it must"
            " save it as 'CSV UTF-8'"
        ) from err
    return text, data.startswith(b"\xef\xbb\xbf")


def _table(
    path: Path, text: str, is_header: Callable[[list[str]], bool]
) -> tuple[str, list[list[str]] | None]:
    """TEXT's rows, split by the field separator that makes its first row a header IS_HEADER
    accepts (Canvas writes ";" where a decimal comma is usual); None when none does."""
    malformed: list[csv.Error] = []
    for delimiter in (",", ";", "\t"):
        try:
            reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
            table = list(reader)
        except csv.Error as err:  # quotes that suit another separator; wrong if all refuse
            malformed.append(err)
            continue
        if table and table[0] and is_header([cell.strip() for cell in table[0]]):
            return delimiter, table
    if len(malformed) == 3:
        raise LmsExportError(
            f"{path}: not a well-formed CSV file ({malformed[0]}). Fix: download it again from"
            " the LMS and pass it unedited"
        ) from malformed[0]
    return ",", None


def _by_user(rows: Sequence[Row]) -> dict[str, Row]:
    return {ident.user_id: row for row in rows if (ident := lms_identity(row.file)) is not None}


def _scaled(row: Row, maximum: Decimal) -> Decimal:
    """ROW's score on the LMS's scale, 0..MAXIMUM."""
    score, most = _decimal_of(row.result["score"]), _decimal_of(row.result["max_score"])
    if most == maximum:
        return score
    return score * maximum / most if most > 0 else Decimal(0)


def _number(value: Decimal, decimal_comma: bool) -> str:
    """VALUE as both LMSs show grades: at most 2 decimals, half up, no trailing zeros."""
    text = _plain(value)
    return text.replace(".", ",") if decimal_comma else text


def _plain(value: Decimal | float) -> str:
    rounded = _decimal_of(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{rounded.normalize():f}"


def _decimal_of(value: Decimal | float) -> Decimal:
    # str(): a float's shortest repr, 0.1 rather than 0.1000000000000000055511151231257827.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _decimal(cell: str) -> Decimal | None:
    """A number as the LMSs write one, with a decimal point or comma; None if it is not one."""
    text = cell.strip()
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:
        return None


def _notes(graded: Sequence[Row], maximum: Decimal, what: str) -> tuple[str, ...]:
    notes = []
    ours = sorted({_decimal_of(row.result["max_score"]) for row in graded})
    if any(most != maximum for most in ours):
        scales = " and ".join(_plain(m) for m in ours)
        notes.append(
            f"scores out of {scales} scaled to the {what} of {_plain(maximum)} (rounded to 2"
            " decimals)"
        )
    unfinished = [f"{row.file} ({row.status})" for row in graded if row.status != "ok"]
    if unfinished:
        notes.append(
            f"{_count(unfinished, 'student')} graded with a status other than ok, their scores"
            f" written as the grader gave them: look at them before importing:"
            f" {_listed(unfinished)}"
        )
    return tuple(notes)


def _kept_note(names: list[str], why: str) -> tuple[str, ...]:
    return (f"{_count(names, 'graded student')} {why}: {_listed(names)}",) if names else ()


def _refuse_duplicates(path: Path, values: list[str], what: str) -> None:
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise LmsExportError(
            f"{path}: two {what} {_listed(twice)}: a grade would go to one of them at random."
            " Fix: download the file again from the LMS and pass it unedited"
        )


def _count(names: Sequence[str], noun: str) -> str:
    return f"1 {noun}" if len(names) == 1 else f"{len(names)} {noun}s"


def _listed(names: Sequence[str]) -> str:
    more = f", and {len(names) - LISTED} more" if len(names) > LISTED else ""
    return ", ".join(names[:LISTED]) + more


def _text(buffer: io.StringIO, bom: bool) -> str:
    return ("\ufeff" if bom else "") + buffer.getvalue()
