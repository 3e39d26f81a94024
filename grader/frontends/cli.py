"""`labgrade`: grade one submission, a whole class, or merge shard outputs.

labgrade grade PATH [--grade-json J] [--feedback F] [--timeout S] [--lab ID] [--rubric R] [LIMITS]
labgrade batch SUBMISSIONS --out DIR [--jobs N] [--timeout S] [--regrade] [--only ID]
               [--shard K/N] [--lab ID] [--rubric R] [LMS] [LIMITS]
labgrade merge DIR1 DIR2 ... --out DIR [--lab ID] [--rubric R] [LMS]
labgrade gradescope OUT.zip [--timeout S] [--lab ID] [--rubric R]
labgrade classroom50 OUT [--timeout S] [--lab ID] [--rubric R]
labgrade release OUT [--lab ID] [--rubric R] [--template NOTEBOOK]
labgrade verify REPO [--manifest M]
labgrade labs [FOLDER ...]

LIMITS: --isolation auto|full|process, --cell-timeout S, --memory-limit SIZE,
--cpu-limit S, --max-processes N, --output-limit SIZE, --disk-limit SIZE, --hide PATH
LMS: --canvas-gradebook EXPORT.csv --canvas-assignment NAME, --moodle-worksheet WORKSHEET.csv
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from grader.engine.evidence.rubric import Rubric
from grader.engine.lab import Lab
from grader.errors import GraderError, InputError, RubricError, UsageError
from grader.frontends import quickexit
from grader.frontends.options import FLAGS, ISOLATION, LAB, RUBRIC
from grader.sandbox.limits import ISOLATIONS, Limits, with_values

if TYPE_CHECKING:  # imported where used: `labgrade grade` starts without them
    from grader.course.adjust import Policy
    from grader.course.gradebook import Row
    from grader.course.lms import ImportFile, Written

EXIT_FULL, EXIT_PARTIAL, EXIT_USAGE, EXIT_GRADER, EXIT_INVALID = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    """`labgrade ARGS`; ARGV given (a caller's own program): no quick exit is armed."""
    code = _run(argv)
    if argv is None:
        quickexit.arm(code)
    return code


def _run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputError as err:  # the command or its inputs (options, roster, LMS export)
        print(f"labgrade: {err}", file=sys.stderr)
        return EXIT_USAGE
    except GraderError as err:
        print(f"labgrade: {err}", file=sys.stderr)
        return EXIT_GRADER
    except KeyboardInterrupt:
        print("labgrade: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labgrade", description="MLflow lab grader")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    one = sub.add_parser("grade", help="grade one submission (what `pytest grader` runs)")
    one.add_argument("submission", type=Path, help=".ipynb, .py, or a folder holding one")
    one.add_argument("--grade-json", type=Path, help="write the JSON result here")
    one.add_argument("--feedback", type=Path, help="write the student's feedback (Markdown) here")
    one.add_argument(
        "--cold",
        action="store_true",
        help="start the MLflow server and the model probe as fresh Pythons (slower) instead of"
        " forking them from a process that imported MLflow once",
    )
    _common(one)
    one.set_defaults(handler=_grade)

    batch = sub.add_parser("batch", help="grade a folder or an LMS .zip of submissions")
    batch.add_argument("submissions", type=Path, help="folder (file or folder per student) or .zip")
    batch.add_argument("--out", type=Path, required=True, help="gradebook folder")
    batch.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="gradings at once (default: number of cores)",
    )
    batch.add_argument("--regrade", action="store_true", help="grade unchanged submissions again")
    batch.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="(re)grade only this student; repeatable",
    )
    batch.add_argument(
        "--shard",
        type=_shard,
        default=(1, 1),
        metavar="K/N",
        help="grade the K-th of N deterministic slices (for CI matrices)",
    )
    batch.add_argument(
        "--cold",
        action="store_true",
        help="start each worker, kernel, server and model probe as a fresh Python (slower) instead"
        " of forking them from one process that imported MLflow once",
    )
    _common(batch)
    _lms_options(batch)
    _adjust_options(batch)
    batch.set_defaults(handler=_batch)

    merge = sub.add_parser("merge", help="join shard outputs into one gradebook")
    merge.add_argument("dirs", type=Path, nargs="+", help="gradebook folders of the shards")
    merge.add_argument("--out", type=Path, required=True, help="merged gradebook folder")
    _lab_options(merge)
    _lms_options(merge)
    _adjust_options(merge)
    merge.set_defaults(handler=_merge)

    gradescope = sub.add_parser("gradescope", help="build a Gradescope autograder zip")
    gradescope.add_argument("out", type=Path, metavar="OUT.zip", help="the zip to write")
    _common(gradescope)
    gradescope.set_defaults(handler=_gradescope)

    classroom50 = sub.add_parser(
        "classroom50", help="write a Classroom 50 assignment's autograder folder"
    )
    classroom50.add_argument(
        "out", type=Path, help="new or empty folder: CLASSROOM/autograders/ASSIGNMENT/"
    )
    classroom50.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for executing a submission (default 300; Classroom 50's 15-minute job"
        " caps it)",
    )
    _lab_options(classroom50)
    classroom50.set_defaults(handler=_classroom50)

    release = sub.add_parser("release", help="write the student-facing repository")
    release.add_argument("out", type=Path, help="a new or empty folder")
    _lab_options(release)
    release.add_argument(
        "--template", type=Path, help="the notebook students start from (default: the lab's)"
    )
    release.set_defaults(handler=_release)

    verify = sub.add_parser("verify", help="was a student repo's grader or workflow changed?")
    verify.add_argument("repo", type=Path, help="the student repository's folder")
    verify.add_argument(
        "--manifest",
        type=Path,
        help="your copy of the release's .labgrade/manifest.json, or the released folder"
        " (default: the repo's own, which a student could edit too)",
    )
    verify.set_defaults(handler=_verify)

    listing = sub.add_parser("labs", help="list the installed labs, or the labs of FOLDERS")
    listing.add_argument(
        "folders", nargs="*", metavar="FOLDER", help="a lab's own folder: checks that it loads"
    )
    listing.set_defaults(handler=_labs)
    return parser


def subcommands() -> list[str]:
    """labgrade's sub-commands, as its parser knows them (the docs' commands are checked
    against these)."""
    for action in _parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    raise AssertionError("labgrade's parser has no sub-commands")


def _lab_options(parser: argparse.ArgumentParser) -> None:
    from grader.labs import DEFAULT

    parser.add_argument(LAB.flag, default=DEFAULT, metavar=LAB.metavar, help=LAB.help)
    parser.add_argument(RUBRIC.flag, type=Path, metavar=RUBRIC.metavar, help=RUBRIC.help)


def _lms_options(parser: argparse.ArgumentParser) -> None:
    lms = parser.add_argument_group(
        "LMS gradebook import (the submissions as Canvas or Moodle downloaded them)"
    )
    lms.add_argument(
        "--canvas-gradebook",
        type=Path,
        metavar="EXPORT.csv",
        help="the gradebook CSV Canvas exported (Grades > Export > Export Entire Gradebook):"
        " also write OUT/canvas-import.csv, it with the assignment's grades, for Grades > Import",
    )
    lms.add_argument(
        "--canvas-assignment",
        metavar="NAME",
        help="the assignment whose column takes the grades: its title or id, as the export's"
        " header 'Title (id)' shows them",
    )
    lms.add_argument(
        "--moodle-worksheet",
        type=Path,
        metavar="WORKSHEET.csv",
        help="the assignment's grading worksheet from Moodle (Actions > Download grading"
        " worksheet): also write OUT/moodle-worksheet.csv, it with the grades, for Upload"
        " grading worksheet",
    )
    lms.add_argument(
        "--due",
        type=_due,
        metavar="YYYY-MM-DD HH:MM",
        help="when the assignment was due, as your Moodle shows times: a submission the"
        " worksheet dates later is late (Canvas marks its own late ones)",
    )


def _adjust_options(parser: argparse.ArgumentParser) -> None:
    adjust = parser.add_argument_group(
        "after grading (kept in OUT/adjustments.json for the runs after this one)"
    )
    adjust.add_argument(
        "--late-penalty",
        type=float,
        metavar="PERCENT",
        help="take PERCENT of the total from a late submission (Canvas's _LATE); the note"
        " and the student's feedback say so",
    )
    adjust.add_argument(
        "--overrides",
        type=Path,
        metavar="FILE.csv",
        help="per-student changes, a CSV with the header student,check_or_total,points,reason:"
        " a check's points or the total set by hand, the reason shown to the student",
    )


def _policy(args: argparse.Namespace, rubric: Rubric, sources: list[Path]) -> Policy:
    """The late penalty and overrides ARGS give, else those OUT holds, else (merging) those
    the SOURCES hold, which must agree."""
    from grader.course.adjust import NONE, OverridesError, load_policy, policy_for

    policy = policy_for(args.out, args.late_penalty, args.overrides, rubric)
    found = {load_policy(source) for source in sources} - {NONE}
    if policy != NONE or not found:
        return policy
    if len(found) > 1:
        raise OverridesError(
            f"the gradebooks {', '.join(map(str, sources))} hold different late penalties or"
            " overrides (adjustments.json). Fix: pass --late-penalty and --overrides to this"
            " merge"
        )
    return found.pop()


def _lms_files(args: argparse.Namespace) -> tuple[ImportFile, ...]:
    """The LMS exports ARGS name, read now: a wrong file fails before any grading."""
    from grader.course.lms import read_canvas_gradebook, read_moodle_worksheet

    if args.due is not None and args.moodle_worksheet is None:
        raise UsageError(
            "--due is compared with each submission's time in the Moodle grading worksheet:"
            " pass the worksheet too, with --moodle-worksheet WORKSHEET.csv (a Canvas download"
            " marks late submissions itself)"
        )
    if args.canvas_assignment is not None and args.canvas_gradebook is None:
        raise UsageError(
            "--canvas-assignment names a column of the Canvas gradebook export: pass the"
            " export too, with --canvas-gradebook EXPORT.csv"
        )
    files: list[ImportFile] = []
    if args.canvas_gradebook is not None:
        files.append(read_canvas_gradebook(args.canvas_gradebook, args.canvas_assignment))
    if args.moodle_worksheet is not None:
        files.append(read_moodle_worksheet(args.moodle_worksheet))
    return tuple(files)


def _print_lms(written: list[Written]) -> None:
    for done in written:
        where = "Grades > Import" if done.lms == "canvas" else "Upload grading worksheet"
        print(
            f"labgrade: wrote {done.path} from {done.source}: {done.graded} grades filled in,"
            f" {done.untouched} rows left as exported; import it in {done.lms.capitalize()}"
            f" ({where}) and check its preview"
        )
        for note in done.notes:
            print(f"labgrade:   note: {note}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for executing a submission (default 300)",
    )
    _lab_options(parser)
    confine = parser.add_argument_group("confinement (defaults: the rubric's [limits])")
    confine.add_argument(ISOLATION.flag, choices=ISOLATIONS, default="auto", help=ISOLATION.help)
    for flag in FLAGS:
        confine.add_argument(flag.flag, metavar=flag.metavar, help=flag.help)
    confine.add_argument(
        "--hide",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a file or folder the submission must not read (full isolation); repeatable",
    )


def sandbox_args(args: argparse.Namespace) -> list[str]:
    """The confinement flags of ARGS, to hand to a worker `labgrade grade`."""
    out = ["--isolation", args.isolation]
    for flag in FLAGS:
        value = getattr(args, flag.dest)
        if value is not None:
            out += [flag.flag, str(value)]
    for path in args.hide:
        out += ["--hide", str(path)]
    return out


def _limits(args: argparse.Namespace, rubric: Rubric) -> Limits:
    values = {flag.field: getattr(args, flag.dest) for flag in FLAGS}
    try:
        return with_values(rubric.limits, values, "labgrade")
    except ValueError as err:
        raise UsageError(str(err)) from err


def _due(text: str) -> datetime.datetime:
    try:
        due = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--due {text!r}: expected a date and time, e.g. 2026-12-07 23:59"
        ) from None
    if due.tzinfo is not None:
        raise argparse.ArgumentTypeError(
            f"--due {text!r}: give it without a time zone, as your Moodle shows times (the"
            " worksheet's times carry none)"
        )
    return due


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: expected K/N, e.g. 1/4") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text!r}: K must be between 1 and N")
    return k, n


def _lab(args: argparse.Namespace) -> tuple[Lab, Rubric]:
    """The lab ARGS name and its rubric (or the --rubric given), checked against each other."""
    from grader import labs

    try:
        lab = labs.load(args.lab)
        return lab, lab.rubric(args.rubric)
    except RubricError as err:
        raise UsageError(str(err)) from err


def _labs(args: argparse.Namespace) -> int:
    from grader import labs

    try:
        chosen = [labs.load(str(Path(f).resolve())) for f in args.folders] or labs.all_labs()
        for lab in chosen:
            # What each check wants, in words, reads its rubric options: a missing one is
            # told now, not after a student's notebook has run.
            for spec in lab.rubric().checks:
                lab.describe(spec)
    except RubricError as err:
        raise UsageError(str(err)) from err
    for lab in chosen:
        rubric = lab.rubric()
        own = labs.argument(lab) != lab.id  # a lab of one folder: its notebooks are in it
        default = "  (default)" if lab.id == labs.DEFAULT else ""
        print(f"{lab.id:<10} {rubric.title}: {rubric.max_score:g} points{default}")
        print(f"{'':<10} {lab.title}")
        print(f"{'':<10} checks: {', '.join(rubric.ids)}; notebook: {lab.notebook}")
        notebooks = {
            "reference": lab.reference / lab.notebook,
            "template": lab.template / lab.notebook,
            "course notebook": lab.course,
        }
        places = {"reference": "reference", "template": "template", "course notebook": "course"}
        for what, path in notebooks.items():
            if own and path is not None and not path.exists():
                path = lab.folder / places[what] / path.name  # where it belongs
                shown = f"missing: put it at {_relative(path)}"
            elif path is not None and not path.exists():
                shown = f"not installed here ({path.name} is in a clone of the grader)"
            else:
                shown = "none" if path is None else _relative(path)
            print(f"{'':<10} {what + ':':<16} {shown}")
    return 0


def _relative(path: Path) -> str:
    """PATH as a reader types it from here (relative below the working folder)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _grade(args: argparse.Namespace) -> int:
    from grader.engine.grading import Settings, grade
    from grader.engine.launcher import COLD
    from grader.engine.output.report import execution_lines, feedback_markdown, score_table
    from grader.warm.warm_launcher import launcher

    lab, rubric = _lab(args)
    settings = Settings(
        lab,
        rubric,
        args.timeout,
        limits=_limits(args, rubric),
        isolation=args.isolation,
        hide=tuple(args.hide),
        launcher=COLD if args.cold else launcher(),  # in a batch's worker, the batch's host
    )
    result = grade(args.submission, settings)
    if args.grade_json:
        result.write_json(args.grade_json)
    if args.feedback:
        args.feedback.parent.mkdir(parents=True, exist_ok=True)
        args.feedback.write_text(feedback_markdown(result, rubric.title), encoding="utf-8")
    for line in [*score_table(result), "", *execution_lines(result)]:
        print(line)
    if result.execution.status == "invalid":
        print(
            f"labgrade: cannot grade {result.submission}: {result.execution.error}", file=sys.stderr
        )
        return EXIT_INVALID
    return EXIT_FULL if result.full_marks else EXIT_PARTIAL


def _batch(args: argparse.Namespace) -> int:
    from grader.course.batch import BatchSettings, run_batch
    from grader.course.progress import Progress
    from grader.engine.grading import sigterm_as_interrupt

    lab, rubric = _lab(args)
    limits = _limits(args, rubric)  # a bad limit fails here, not once per student
    lms = _lms_files(args)
    if lms and args.shard != (1, 1):
        raise UsageError(
            "--shard grades a part of the class, and an LMS file needs all of it: pass"
            " --canvas-gradebook / --moodle-worksheet to `labgrade merge` of the shards instead"
        )
    sandbox = ["--hide", str(args.submissions.resolve()), "--hide", str(args.out.resolve())]
    settings = BatchSettings(
        lab=lab,
        rubric=rubric,
        out=args.out,
        worker_args=(*sandbox_args(args), *sandbox, *(["--cold"] if args.cold else [])),
        limits=limits,
        jobs=args.jobs,
        timeout=args.timeout,
        regrade=args.regrade,
        only=frozenset(args.only),
        shard=args.shard,
        warm=not args.cold,
        lms=lms,
        policy=_policy(args, rubric, []),
        due=args.due,
    )
    with sigterm_as_interrupt(), Progress() as progress:
        report = run_batch(args.submissions, settings, progress)
    print(
        f"labgrade: graded {len(report.graded)}, skipped {len(report.skipped)} unchanged;"
        f" {len(report.rows)} rows in {args.out / 'grades.csv'}"
    )
    _print_lms(report.lms)
    _lms_hint(args, report.rows)
    return EXIT_INTERRUPTED if report.interrupted else 0


def _lms_hint(args: argparse.Namespace, rows: list[Row]) -> None:
    """Name the flag that would hand the grades back to the LMS the download came from."""
    from grader.course.roster import lms_identity

    found = {ident.lms for row in rows if (ident := lms_identity(row.file)) is not None}
    if "canvas" in found and args.canvas_gradebook is None:
        print(
            "labgrade: these are Canvas submissions: add --canvas-gradebook EXPORT.csv"
            " --canvas-assignment NAME to also write the CSV Canvas imports"
        )
    if "moodle" in found and args.moodle_worksheet is None:
        print(
            "labgrade: these are Moodle submissions: add --moodle-worksheet WORKSHEET.csv to"
            " also write the grading worksheet Moodle uploads"
        )


def _merge(args: argparse.Namespace) -> int:
    from grader.course.adjust import check_students, save_policy
    from grader.course.gradebook import load_rows, merge
    from grader.course.lms import late_by_due, missing_students, write_imports

    rubric = _lab(args)[1]
    lms = _lms_files(args)
    policy = _policy(args, rubric, args.dirs)
    found = [row for source in args.dirs for row in load_rows(source)]
    check_students(policy, [row.student for row in found])
    save_policy(args.out, policy)
    late = late_by_due(lms, found, args.due)
    rows = merge(args.dirs, args.out, rubric, policy, missing_students(lms, found), late)
    print(f"labgrade: merged {len(rows)} rows into {args.out / 'grades.csv'}")
    _print_lms(write_imports(args.out, rows, lms))
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    from grader.platforms.gradescope import build_bundle

    lab, rubric = _lab(args)
    names = build_bundle(args.out, lab, rubric, args.timeout)
    print(f"labgrade: wrote {args.out} ({len(names)} files); upload it as the autograder")
    return 0


def _classroom50(args: argparse.Namespace) -> int:
    from grader.platforms.classroom50 import build
    from grader.platforms.distribution import python_version

    lab, rubric = _lab(args)
    names = build(args.out, lab, rubric, args.timeout)
    print(
        f"labgrade: wrote {args.out} ({len(names)} files); commit it to your classroom50"
        " repository as CLASSROOM/autograders/ASSIGNMENT/ and set the assignment's runtime"
        f' to {{"python": "{python_version()}"}}'
    )
    return 0


def _release(args: argparse.Namespace) -> int:
    from grader.platforms.release import release

    lab, rubric = _lab(args)
    paths = release(args.out, lab, rubric, args.template or lab.template / lab.notebook)
    hidden = ", ".join(rubric.hidden_ids)
    hidden = f", left out hidden checks: {hidden}" if hidden else ""
    print(f"labgrade: wrote the student repository {args.out} ({len(paths)} files{hidden})")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from grader.platforms.release import MANIFEST, verify

    findings = verify(args.repo, args.manifest)
    if args.manifest is None:
        print(
            f"labgrade: checked against {args.repo / MANIFEST}; pass --manifest with your own"
            " copy of it to rule out an edited manifest"
        )
    for finding in findings:
        print(f"{finding.status:>8}  {finding.path}")
    verdict = "CHANGED" if findings else "unchanged"
    print(f"labgrade: {args.repo}: grader, rubric, conftest and workflow {verdict}")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
