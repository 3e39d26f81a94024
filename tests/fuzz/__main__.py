"""`python -m tests.fuzz --lab ID --count N [--seed S] [--jobs J]`: grade N seeded
compositions of rewrites of the lab's labelled submissions (tests.fuzz.equivalence) and
print each seed's verdict; a failure names the command that replays it. Exit 1 on any."""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from grader import labs
from tests.fuzz.equivalence import Trial, materialize, trials, verdict
from tests.helpers import SessionHosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--lab", choices=labs.ids(), default=labs.DEFAULT)
    parser.add_argument("--count", type=int, default=20, help="seeds to try (2 gradings each)")
    parser.add_argument("--seed", type=int, default=None, help="the first seed (default: random)")
    parser.add_argument("--jobs", type=int, default=2, help="gradings at once")
    parser.add_argument("--keep", type=Path, default=None, help="keep the submissions here")
    args = parser.parse_args(argv)
    first = args.seed if args.seed is not None else random.randrange(10**6)
    print(f"lab {args.lab}: seeds {first}..{first + args.count - 1}", flush=True)
    work = Path(tempfile.mkdtemp(prefix="labgrade-fuzz-"))
    keep = args.keep or work / "submissions"
    # One warm host per job: a host's grading reaps everything else its host forked.
    local = threading.local()
    made: list[SessionHosts] = []
    failed: list[tuple[Trial, str]] = []
    try:
        todo = [t for seed in range(first, first + args.count) for t in trials(args.lab, seed)]

        def grade(trial: Trial) -> tuple[Trial, str | None]:
            path = materialize(trial, keep)
            out = work / "out" / path.name
            out.mkdir(parents=True)
            if not hasattr(local, "hosts"):
                local.hosts = SessionHosts(work / f"hosts-{threading.get_ident()}")
                made.append(local.hosts)
            run = local.hosts.grade(path, out, ("--lab", args.lab), {})
            problem = verdict(trial, run.result)
            if run.result is None:
                problem = f"{problem} (exit code {run.exit_code}): {run.stderr[-1500:]}"
            return trial, problem

        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for trial, problem in pool.map(grade, todo):
                print(f"{'ok  ' if problem is None else 'FAIL'} {trial.describe()}", flush=True)
                if problem is not None:
                    failed.append((trial, problem))
    finally:
        for hosts in made:
            hosts.close()
    for trial, problem in failed:
        print(f"\n{trial.describe()}\n  {problem}\n  replay: {trial.replay()}")
    print(f"\n{len(todo) - len(failed)} passed, {len(failed)} failed ({len(todo)} gradings)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
