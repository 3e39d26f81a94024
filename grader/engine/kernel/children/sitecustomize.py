"""Start-up of every Python a submission starts: a shell escape (`!python train.py`),
`subprocess.run([sys.executable, ...])`, multiprocessing's spawn.

Trust boundary: this runs inside the sandbox, in the submission's own processes, as the
kernel set-up does (grader.engine.kernel.kernel_side): whatever it records speaks only for the
submission's own run. Found through PYTHONPATH, which the kernel set-up gives its children
only (never the kernel itself); it does nothing unless LABGRADE_CHILD carries the grading's
set-up. Once the child imports MLflow, it gets the kernel's set-up: its URIs pinned to the
grader's throwaway server whatever it names, its metric calls and pyfunc loads recorded and
handed to the kernel's capture when it exits. Standard library only; nothing else of the
grader is reachable here.
"""

import os
import sys


def _hook() -> None:
    import importlib.machinery
    import importlib.util
    import json
    import types
    from typing import Any

    setup = json.loads(os.environ["LABGRADE_CHILD"])

    class AfterMlflow:
        """Runs the kernel set-up right after `import mlflow` completes, not before: a child
        that never imports MLflow pays nothing."""

        def find_spec(
            self, name: str, path: object = None, target: object = None
        ) -> importlib.machinery.ModuleSpec | None:
            if name != "mlflow":
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            if spec is None or spec.loader is None:
                return spec
            load = spec.loader.exec_module

            def exec_module(module: types.ModuleType) -> None:
                load(module)
                with open(setup["kernel_side"], encoding="utf-8") as fh:
                    source = fh.read()
                space: dict[str, Any] = {}
                exec(compile(source, "<labgrade>", "exec"), space)
                space["install_child"](setup)

            spec.loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, AfterMlflow())


def _chain() -> None:
    """Run the environment's own sitecustomize, which this one stands in front of."""
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in sys.path:
        path = os.path.join(folder or os.curdir, "sitecustomize.py")
        if os.path.abspath(folder or os.curdir) != here and os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                exec(compile(fh.read(), path, "exec"), {"__name__": "sitecustomize"})
            return


if os.environ.get("LABGRADE_CHILD"):
    _hook()
_chain()
