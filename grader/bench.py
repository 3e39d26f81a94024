"""Benchmark: how much the grader adds on top of the student's own run.

    python -m grader.bench [--lab ID] [--repeat 3] [--batch 8,24] [--jobs 2]

Prints, for this machine and the lab's reference (--lab, default the tracking lab): bare (the
reference notebook run by nbclient's jupyter-execute
against an already-running MLflow server: the floor), single (`pytest grader` on the
reference, process start to exit) and their ratio, the grading phases, the peak memory of
grader + server + kernel + probe together, and a batch of copies graded with `labgrade
batch` (warm, the default, --batch-repeat times, then --cold once for comparison; then one
more warm batch for its peak memory), for each batch size of --batch. Then whether each of
issue 15's targets is met (TARGETS). Medians over --repeat runs. Nothing here asserts: it
measures.

A batch's ideal, copies x bare / jobs, takes `bare` from runs just before and just after
that batch: a cloud machine's speed drifts by tens of percent within minutes, and a batch
compared with a `bare` from other minutes measures the drift as much as the grader.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from grader import labs
from grader.engine.lab import Lab

ROOT = Path(__file__).resolve().parent.parent
# Issue 15's targets: single / bare, a warm batch against its ideal (copies x bare / jobs),
# and the peak memory (sum of PSS) per concurrent grading, in GiB.
TARGETS = {"single/bare": 0.9, "batch/ideal": 0.75, "memory per grading": 1.0}
# The server the published notebook names, replaced by the bench's own for the bare run.
_TRACKING_URI = re.compile(r"http://(127\.0\.0\.1|localhost):\d+")


def _reference(lab: Lab) -> Path:
    return lab.reference / lab.notebook


def _timed(
    cmd: list[str], cwd: Path, env: dict[str, str] | None = None, watch: bool = False
) -> tuple[float, tuple[int, int]]:
    """Wall seconds of CMD from process start to exit, and (WATCH) the peak memory of its
    whole tree (the sum of RSS, and of PSS; else zeros).

    Never both from one run: reading a big process's PSS costs ~6 ms of CPU and takes its
    memory map's lock, so sampling a batch's dozen every 0.1 s slowed it by 10-15%.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    peak = _watch_memory(proc.pid, lambda: proc.poll() is not None) if watch else (0, 0)
    proc.wait()
    seconds = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} exited with {proc.returncode}")
    return seconds, peak


def _watch_memory(pid: int, done: Callable[[], bool]) -> tuple[int, int]:
    """Peak sums of RSS and of PSS over PID's tree, sampled every 0.1 s.

    RSS counts a page shared by N processes N times: the server and probe forked from one
    warm process share most of theirs. PSS charges each process its share of such a page:
    its sum is the memory the grading takes.
    """
    peak_rss = peak_pss = 0
    while not done():
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        rss = pss = 0
        for proc in procs:
            try:
                info = proc.memory_full_info()
            except psutil.Error:
                continue
            rss, pss = rss + info.rss, pss + info.pss
        peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
        time.sleep(0.1)
    return peak_rss, peak_pss


def bare(tmp: Path, lab: Lab) -> float:
    """The student's own run: jupyter-execute the reference against a running server (with
    the lab's compatibility settings, as the grader runs it; a cell the lab expects to raise
    does not stop it)."""
    from grader.engine.server.throwaway import throwaway_server

    with throwaway_server(tmp / "bare-server") as server:
        server.wait_ready()
        text = _TRACKING_URI.sub(server.url, _reference(lab).read_text(encoding="utf-8"))
        nb = tmp / "bare.ipynb"
        nb.write_text(text, encoding="utf-8")
        if lab.design.compatibility or lab.design.fixtures:
            _prepend_compatibility(nb, lab)
        execute = Path(sys.executable).with_name("jupyter-execute")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        allow = ["--allow-errors"] if lab.design.expected_errors else []
        seconds, _ = _timed([str(execute), *allow, str(nb)], tmp, env)
    return seconds


def _prepend_compatibility(path: Path, lab: Lab) -> None:
    """A first cell applying the lab's compatibility switches and answering its web fixtures
    (this machine may have no network), as the grader's set-up does."""
    import nbformat

    from grader.engine.kernel.execution import kernel_side_call

    nb = nbformat.read(path, as_version=4)
    switches = [[c.name, str(c.script), c.function, c.value] for c in lab.design.compatibility]
    fixtures = [[f.url, str(f.path), f.content_type] for f in lab.design.fixtures]
    setup = kernel_side_call("compatible", switches) + "\n"
    setup += kernel_side_call("answer_fixtures", fixtures)
    nb.cells.insert(0, nbformat.v4.new_code_cell(setup))
    nbformat.write(nb, path)


def single(tmp: Path, lab: Lab, watch: bool = False) -> tuple[float, tuple[int, int]]:
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "grader",
        "--lab",
        labs.argument(lab),
        "--submission",
        str(_reference(lab)),
        "--grade-json",
        str(tmp / "single.json"),
        "-p",
        "no:xdist",
        "-q",
    ]
    seconds, peak = _timed(cmd, ROOT, watch=watch)
    result = json.loads((tmp / "single.json").read_text())
    if result["score"] != result["max_score"]:
        raise SystemExit(f"bench: the reference scored {result['score']}/{result['max_score']}")
    return seconds, peak


def phases(tmp: Path, lab: Lab) -> dict[str, float]:
    """The grading path in-process (warm, as `pytest grader`), with the time each phase took."""
    from grader.engine.grading import Settings, grade
    from grader.warm.warm_launcher import PrivateHost

    result = grade(_reference(lab), Settings(lab, lab.rubric(), launcher=PrivateHost()))
    if result.score != result.max_score:
        raise SystemExit(f"bench: the reference scored {result.score} in-process")
    return dict(getattr(result, "timings", {}))  # older versions: no phases


def batch(
    tmp: Path,
    lab: Lab,
    book: Path,
    copies: int,
    jobs: int,
    cold: bool = False,
    watch: bool = False,
) -> tuple[float, tuple[int, int]]:
    folder = tmp / "class"
    if not folder.exists():
        folder.mkdir()
        for i in range(copies):
            shutil.copy(_reference(lab), folder / f"student{i:02d}.ipynb")
    cmd = [sys.executable, "-m", "grader.frontends.cli", "batch", str(folder), "--out", str(book)]
    cmd += ["--lab", labs.argument(lab), "--jobs", str(jobs), *(["--cold"] if cold else [])]
    seconds, peak = _timed(cmd, ROOT, watch=watch)
    rows = (book / "grades.csv").read_text().splitlines()[2:]
    full = f",{lab.rubric().max_score:g},{lab.rubric().max_score:g},ok,"
    if len(rows) != copies or not all(full in row for row in rows):
        raise SystemExit("bench: the batch did not grade every copy at full marks")
    return seconds, peak


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {mem:.0f} GiB, Python"
        f" {platform.python_version()}, {platform.platform(terse=True)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m grader.bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--lab", default=labs.DEFAULT, help=f"the lab whose reference is graded ({labs.DEFAULT})"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of bare and single (median)")
    parser.add_argument(
        "--batch",
        type=_sizes,
        default=(8, 24),
        help="copies of the reference in a batch, one batch size or several: 8,24 (0: none)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="batch --jobs")
    parser.add_argument(
        "--batch-repeat", type=int, default=3, help="warm batches (median of their ratios)"
    )
    args = parser.parse_args(argv)
    from importlib.metadata import version

    lab = labs.load(args.lab)
    print(f"lab: {lab.id} ({_reference(lab).relative_to(ROOT)})")
    print(f"machine: {machine()}")
    print(f"versions: mlflow {version('mlflow')}, scikit-learn {version('scikit-learn')}")
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set: every start compiles the grader again")
    with tempfile.TemporaryDirectory(prefix="labgrade-bench-") as name:
        tmp = Path(name)
        bares, singles = [], []
        for i in range(args.repeat):
            run = tmp / f"run{i}"
            run.mkdir()
            bares.append(bare(run, lab))
            singles.append(single(run, lab)[0])
        b, s = statistics.median(bares), statistics.median(singles)
        print(f"bare:   {b:6.1f} s  (median of {args.repeat}: {_list(bares)})")
        print(f"single: {s:6.1f} s  (median of {args.repeat}: {_list(singles)})")
        print(f"single/bare: {s / b:.2f}")
        met = {"single/bare": s / b}
        _, (rss, pss) = single(_fresh(tmp / "memory"), lab, watch=True)
        met["memory per grading"] = pss / 2**30
        print(
            f"peak memory of grader + server + kernel + probe: {pss / 2**30:.2f} GiB"
            f" (sum of PSS; sum of RSS, counting shared pages once per process:"
            f" {rss / 2**30:.2f} GiB; one more single run, sampled every 0.1 s, not timed)"
        )
        timing = phases(tmp, lab)
        print("phases (in-process): " + ", ".join(f"{k} {v:.1f} s" for k, v in timing.items()))
        for copies in args.batch:
            ratio, per_grading = batches(tmp / f"batch{copies}", lab, args, copies, b)
            met[f"batch/ideal, {copies} copies"] = ratio
            met["memory per grading"] = max(met["memory per grading"], per_grading)
        for name, value in met.items():
            target = TARGETS[name.split(",")[0]]
            verdict = "met" if value <= target else "NOT met"
            print(f"target {name}: {value:.2f} <= {target:g}: {verdict}")


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in text.split(",") if int(n) > 0)


def batches(
    tmp: Path, lab: Lab, args: argparse.Namespace, copies: int, bare_median: float
) -> tuple[float, float]:
    """Warm batches, then one --cold, each between two `bare` runs (its ideal's minutes):
    the median ratio of the warm ones to their ideal, and the peak PSS per concurrent grading
    of one more warm batch, in GiB."""
    tmp.mkdir()
    runs = [False] * args.batch_repeat + [True]
    bares = [bare(_fresh(tmp / "batch-bare0"), lab)]
    ratios = []
    for i, cold in enumerate(runs):
        seconds, _ = batch(tmp, lab, tmp / f"book{i}", copies, args.jobs, cold)
        bares.append(bare(_fresh(tmp / f"batch-bare{i + 1}"), lab))
        around = statistics.mean(bares[-2:])
        ideal = copies * around / args.jobs
        if not cold:
            ratios.append(seconds / ideal)
        print(
            f"batch{' --cold' if cold else ''}: {copies} copies, --jobs {args.jobs}:"
            f" {seconds:.1f} s, {copies * 60 / seconds:.1f} submissions/min,"
            f" {seconds / ideal:.2f}x the ideal {copies} x bare / {args.jobs} = {ideal:.1f} s"
            f" (bare {bares[-2]:.1f} s before it, {bares[-1]:.1f} s after;"
            f" {seconds / (copies * bare_median / args.jobs):.2f}x with bare's median above)"
        )
    ratio = statistics.median(ratios)
    print(f"batch of {copies}, warm: {ratio:.2f}x the ideal (median of {len(ratios)})")
    _, (rss, pss) = batch(tmp, lab, tmp / "book-memory", copies, args.jobs, watch=True)
    per_grading = pss / 2**30 / args.jobs
    print(
        f"peak memory of the warm batch of {copies}, all its processes: {pss / 2**30:.2f} GiB"
        f" of PSS, {per_grading:.2f} GiB per concurrent grading (sum of RSS"
        f" {rss / 2**30:.2f} GiB; one more batch, sampled every 0.1 s, not timed)"
    )
    return ratio, per_grading


def _fresh(folder: Path) -> Path:
    folder.mkdir()
    return folder


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
