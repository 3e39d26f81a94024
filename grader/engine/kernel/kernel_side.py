"""Code the grader runs inside the submission's kernel, before and after the student's cells.

This file is sent to the kernel as source text (the kernel need not be able to import
the grader). It runs in a private namespace; only plain JSON leaves the kernel.
"""

# mypy: ignore-errors

STATE_MODULE = "_labgrade_state"


# Environment variables through which MLflow picks its servers: set by the kernel's
# environment, os.environ, %env / %set_env or a helper module, and read by MLflow lazily.
URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# What one grading keeps of the notebook's pyfunc loads and predictions (plain JSON): enough
# predict() calls for a test split predicted row by row, and a bounded number of values.
MAX_LOADS = 20
MAX_PREDICTS = 1000
MAX_PREDICTED_VALUES = 100000
# Metrics whose logging calls are kept (the latest call of each run and key): a metric flood
# costs nothing past this.
MAX_METRIC_KEYS = 200
MAX_CALL_TEXT = 2000
# MLflow datasets the notebook builds that one grading describes (mlflow.data.from_*).
MAX_DATASETS = 100
MAX_DATASET_TEXT = 4000


def install(grader_uri, compatibility=None, server_deadline=90.0, children=None, fixtures=None):
    """Pin every tracking/registry URI the notebook sets to the grader's throwaway server,
    and record each model the notebook loads with pyfunc and what that model predicts.

    MLflow's own globals hold the grader's URI from the start, so a URI set later in
    os.environ (directly, by %env, or by an imported helper module) is never used; it is
    noted, like every URI passed to set_tracking_uri, set_registry_uri or MlflowClient.
    The server may still be starting when the first cells run: the first request to it
    waits (up to SERVER_DEADLINE seconds) until /health answers, so cells that do not
    need it (imports, training) run meanwhile. COMPATIBILITY: the lab's switches, as
    compatible() takes them (grader.engine.lab.Compatibility). CHILDREN ({"site": folder of
    the children's sitecustomize, "kernel_side": this file, "out": where children leave
    their records}): every Python the notebook starts gets this same set-up
    (grader/engine/children). FIXTURES: the lab's web addresses answered from its files, each
    [url, path, content type] (grader.engine.lab.Fixture; answer_fixtures).
    """
    compatible(compatibility or [])
    import functools
    import os
    import sys
    import time
    import types
    import urllib.request

    import mlflow
    import mlflow.pyfunc
    import requests
    from mlflow.tracking import client as client_module
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    state = types.ModuleType(STATE_MODULE)
    state.redirects = []
    state.switched = []  # the lab's compatibility switches that changed a call
    state.loads = []
    state.loaded = {}  # id(model) -> (model, its record): the models the notebook loaded
    state.home = os.getcwd()  # the submission's working copy: its helper modules live here
    sys.modules[STATE_MODULE] = state
    answer_fixtures(fixtures or [], state)

    def note(where, uri):
        if uri is not None and str(uri) != grader_uri:
            entry = [where, str(uri)[:200]]
            if entry not in state.redirects:
                state.redirects.append(entry)

    def note_environment():
        for name in URI_VARIABLES:
            note(f"{name} in os.environ or %env", os.environ.get(name))

    state.note_environment = note_environment

    tracking_utils.set_tracking_uri(grader_uri)
    registry_utils.set_registry_uri(grader_uri)

    def pinned(original, where):
        @functools.wraps(original)
        def set_uri(uri=None, *args, **kwargs):
            note(where, uri)
            return original(grader_uri)

        return set_uri

    set_tracking = pinned(tracking_utils.set_tracking_uri, "mlflow.set_tracking_uri")
    set_registry = pinned(registry_utils.set_registry_uri, "mlflow.set_registry_uri")
    for module in (tracking_utils, mlflow, mlflow.tracking):
        module.set_tracking_uri = set_tracking
    for module in (registry_utils, mlflow, mlflow.tracking):
        module.set_registry_uri = set_registry

    original_init = client_module.MlflowClient.__init__

    @functools.wraps(original_init)
    def client_init(self, tracking_uri=None, registry_uri=None, *args, **kwargs):
        # Every fluent call makes an MlflowClient(): the environment is looked at here too.
        note_environment()
        note("MlflowClient(tracking_uri=...)", tracking_uri)
        note("MlflowClient(registry_uri=...)", registry_uri)
        original_init(self, grader_uri, grader_uri, *args, **kwargs)

    client_module.MlflowClient.__init__ = client_init

    _typed_ids(mlflow, client_module.MlflowClient, state)
    _record_pyfunc(mlflow.pyfunc, state)
    _record_metric_calls(client_module.MlflowClient, state)
    _record_datasets(state)
    if children:
        _set_up_children(grader_uri, compatibility or [], children, state, fixtures or [])

    original_request = requests.Session.request
    ready = []

    def wait_for_server():
        deadline = time.monotonic() + server_deadline
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(grader_uri + "/health", timeout=1) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)

    @functools.wraps(original_request)
    def request(self, method, url, *args, **kwargs):
        if not ready and str(url).startswith(grader_uri):
            wait_for_server()
            ready.append(True)
        return original_request(self, method, url, *args, **kwargs)

    requests.Session.request = request


def _set_up_children(grader_uri, compatibility, children, state, fixtures=()):
    """Hand the kernel's set-up to every Python it starts (their environment, inherited),
    and note each shell escape (`!command`) that exits with a non-zero status."""
    import json
    import os

    from IPython import get_ipython

    os.environ["LABGRADE_CHILD"] = json.dumps(
        {
            "uri": grader_uri,
            "compatibility": compatibility,
            "fixtures": list(fixtures),
            "kernel_side": children["kernel_side"],
            "out": children["out"],
            "capture": children.get("capture"),
        }
    )
    path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [children["site"], path]))
    state.children_out = children["out"]
    state.shell_failures = []
    shell = get_ipython()
    if shell is None:
        return
    original_system = shell.system

    def system(cmd, *args, **kwargs):
        out = original_system(cmd, *args, **kwargs)
        status = shell.user_ns.get("_exit_code", 0)
        if status and len(state.shell_failures) < MAX_LOADS:
            cells = shell.history_manager.input_hist_raw or [""]  # this cell's, last
            cell = str(cells[-1]).strip()[:20000]
            failure = {"command": str(cmd)[:300], "status": status, "cell": cell}
            state.shell_failures.append(failure)
        return out

    shell.system = system


def install_child(setup):
    """In a Python the notebook started (grader/engine/children), right after it imported
    MLflow: the kernel's set-up, and its records left for the kernel's capture at exit."""
    import atexit
    import json
    import os
    import sys
    import uuid

    install(setup["uri"], setup.get("compatibility"), fixtures=setup.get("fixtures"))
    state = sys.modules[STATE_MODULE]

    def leave():
        report = {
            "loads": list(state.loads),
            "redirects": list(state.redirects),
            "switched": list(state.switched),
            "ids": list(getattr(state, "ids", [])),
            "metric_calls": list(getattr(state, "metric_calls", {}).values()),
            "datasets": list(getattr(state, "datasets", [])),
            "fetched": list(getattr(state, "fetched", [])),
        }
        wanted = setup.get("capture")
        main = sys.modules.get("__main__")
        if wanted and main is not None:
            report["variables"] = _variables(
                vars(main),
                wanted["variables"],
                wanted["column"],
                wanted["run_ids"],
                tables=wanted.get("tables", ()),
            )
        path = os.path.join(setup["out"], f"child-{os.getpid()}-{uuid.uuid4().hex[:8]}.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(report, fh)

    atexit.register(leave)


def _children_records(state):
    """What the notebook's own child processes recorded, as they left it at exit."""
    import glob
    import json
    import os

    found = []
    out = getattr(state, "children_out", None)
    for path in sorted(glob.glob(os.path.join(out, "child-*.json")) if out else [])[:100]:
        try:
            with open(path, encoding="utf-8") as fh:
                found.append(json.load(fh))
        except (OSError, ValueError):
            continue  # a child killed while writing: it left nothing to read
    return found


def _typed_ids(mlflow, client_class, state):
    """Ids copied from the student's own MLflow UI name nothing on the grader's fresh server.
    Where the notebook passes one to MLflow (a URI, a source, a run or model id), a run id
    that this server does not hold stands for the last run the notebook started, and a model
    id for the last model it logged; each swap is recorded for the feedback."""
    import functools
    import re

    from mlflow.exceptions import MlflowException

    pattern = re.compile(r"(?<![0-9a-z-])(m-)?([0-9a-f]{32})(?![0-9a-f])")
    state.ids = []
    get_run, get_logged_model = client_class.get_run, client_class.get_logged_model

    def held(model, value):
        try:
            client = client_class()
            get_logged_model(client, value) if model else get_run(client, value)
            return True
        except MlflowException:
            return False

    def own(model):
        if model:
            logged = mlflow.last_logged_model()
            return logged.model_id[2:] if logged is not None else None
        run = mlflow.last_active_run()
        return run.info.run_id if run is not None else None

    def resolve(value):
        if not isinstance(value, str) or not pattern.search(value):
            return value

        def swap(match):
            model, typed = bool(match.group(1)), match.group(2)
            if held(model, match.group(0) if model else typed):
                return match.group(0)
            mine = own(model)
            if mine is None or mine == typed:
                return match.group(0)
            entry = [match.group(0), (match.group(1) or "") + mine]
            if entry not in state.ids:
                state.ids.append(entry)
            return entry[1]

        return pattern.sub(swap, value)

    def resolving(original, names):
        @functools.wraps(original)
        def call(*args, **kwargs):
            args = [resolve(a) for a in args]
            kwargs = {k: resolve(v) if k in names else v for k, v in kwargs.items()}
            return original(*args, **kwargs)

        return call

    mlflow.register_model = resolving(mlflow.register_model, {"model_uri"})
    for method, names in (
        ("create_model_version", {"source", "run_id", "model_id"}),
        ("get_run", {"run_id"}),
        ("get_logged_model", {"model_id"}),
    ):
        setattr(client_class, method, resolving(getattr(client_class, method), names))
    for module in (mlflow.pyfunc,):
        module.load_model = resolving(module.load_model, {"model_uri"})


def answer_fixtures(fixtures, state=None):
    """Answer the lab's web addresses from its files, whatever library the notebook fetches
    them with: the sandbox has no network, and the lab's published code reads its data from
    the web. FIXTURES: [url, path, content type] each (grader.engine.lab.Fixture).

    Two layers carry every fetch in Python's usual libraries: urllib's OpenerDirector.open
    (urllib.request.urlopen, and pandas.read_csv of a URL, which calls it) and requests'
    HTTPAdapter.send (requests.get, a Session, and MLflow's own downloads such as
    mlflow.data.get_source(...).load()). Only a declared URL is answered; any other address
    goes through as before, to the closed network. Each answer is recorded (url, library)."""
    import email.message
    import functools
    import io
    import types
    import urllib.request
    import urllib.response

    state = state if state is not None else types.SimpleNamespace()
    state.fetched = []
    answers = {str(url): (path, content_type) for url, path, content_type in fixtures}
    if not answers:
        return

    def body(url, library):
        path, content_type = answers[url]
        with open(path, "rb") as fh:
            data = fh.read()
        entry = [url[:300], library]
        if entry not in state.fetched and len(state.fetched) < MAX_LOADS:
            state.fetched.append(entry)
        return data, content_type

    original_open = urllib.request.OpenerDirector.open

    @functools.wraps(original_open)
    def open_url(self, fullurl, data=None, *args, **kwargs):
        url = getattr(fullurl, "full_url", fullurl)
        if not isinstance(url, str) or url not in answers:
            return original_open(self, fullurl, data, *args, **kwargs)
        content, content_type = body(url, "urllib")
        headers = email.message.Message()
        headers["Content-Type"] = content_type
        headers["Content-Length"] = str(len(content))
        return urllib.response.addinfourl(io.BytesIO(content), headers, url, code=200)

    urllib.request.OpenerDirector.open = open_url

    try:
        import requests
        from requests.adapters import HTTPAdapter
        from requests.structures import CaseInsensitiveDict
    except ImportError:
        return  # an environment without requests: nothing fetches through it
    original_send = HTTPAdapter.send

    @functools.wraps(original_send)
    def send(self, request, *args, **kwargs):
        url = str(request.url)
        if url not in answers:
            return original_send(self, request, *args, **kwargs)
        content, content_type = body(url, "requests")
        response = requests.Response()
        response.status_code = 200
        response.reason = "OK"
        response.url = url
        response.request = request
        response.connection = self
        response.raw = io.BytesIO(content)
        response.headers = CaseInsensitiveDict(
            {"Content-Type": content_type, "Content-Length": str(len(content))}
        )
        return response

    HTTPAdapter.send = send


def _record_datasets(state):
    """Describe each MLflow dataset the notebook builds (mlflow.data.from_pandas, from_numpy,
    ...), as MLflow would log it (name, digest, source, schema, profile) with the shapes of
    its data: a notebook that builds several under one variable name keeps only the last, and
    a dataset built but never logged is on no server."""
    import functools

    state.datasets = []
    try:
        from mlflow.data.dataset import Dataset
    except ImportError:
        return  # an MLflow without mlflow.data builds no datasets

    original_init = Dataset.__init__

    def cut(value):
        return None if value is None else str(value)[:MAX_DATASET_TEXT]

    def shape(value):
        if isinstance(value, str):
            return value[:200]  # a column's name (targets="Label")
        if isinstance(value, dict):
            return {str(k)[:200]: shape(v) for k, v in list(value.items())[:50]}
        found = getattr(value, "shape", None)
        return None if found is None else [int(n) for n in found]

    @functools.wraps(original_init)
    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        if len(state.datasets) >= MAX_DATASETS:
            return
        try:
            described = self.to_dict()
        except Exception as err:
            # Described as far as it goes: the checks then say what could not be read.
            state.datasets.append({"type": type(self).__name__, "error": repr(err)[:300]})
            return
        record = {
            "type": type(self).__name__,
            "name": cut(described.get("name")),
            "digest": cut(described.get("digest")),
            "source_type": cut(described.get("source_type")),
            "source": cut(described.get("source")),
            "schema": cut(described.get("schema")),
            "profile": cut(described.get("profile")),
            "data": {},
        }
        for attribute in ("df", "features", "targets", "predictions"):
            if attribute in dir(type(self)):
                try:
                    record["data"][attribute] = shape(getattr(self, attribute))
                except Exception as err:
                    record["data"][attribute] = f"unreadable: {err!r}"[:300]
        state.datasets.append(record)

    Dataset.__init__ = init


def _switched(name):
    """Record that the compatibility switch NAME changed one of the notebook's calls: the
    output names a switch only then, not for a notebook that never made such a call."""
    import sys

    state = sys.modules.get(STATE_MODULE)
    if state is not None and name not in state.switched:
        state.switched.append(name)


def compatible(switches):
    """Apply the lab's compatibility SWITCHES, each [name, script, function, value]
    (grader.engine.lab.Compatibility): FUNCTION of the SCRIPT file, called with VALUE and a
    callback that records NAME as having changed a call."""
    import functools

    for name, script, function, value in switches:
        with open(script, encoding="utf-8") as fh:
            source = fh.read()
        space = {"__name__": "labgrade_compatibility", "__file__": script}
        exec(compile(source, script, "exec"), space)
        space[function](value, functools.partial(_switched, name))


def _record_pyfunc(pyfunc, state, limit=10000):
    """Record the notebook's own pyfunc loads (which URI, which model and run) and the
    predictions of the models it loaded, wherever in its code (a function, a loop, a
    helper module) they happen. MLflow's internal loads (validating an input example)
    are not the notebook's and are left out."""
    import functools
    import sys

    depth = [0]

    def from_mlflow(frame):
        name = frame.f_globals.get("__name__", "") if frame is not None else ""
        return name == "mlflow" or name.startswith("mlflow.")

    def recording(original):
        @functools.wraps(original)
        def load(model_uri, *args, **kwargs):
            outer = depth[0] == 0 and not from_mlflow(sys._getframe(1))
            depth[0] += 1
            try:
                model = original(model_uri, *args, **kwargs)
            finally:
                depth[0] -= 1
            if outer and len(state.loads) < MAX_LOADS:
                meta = getattr(model, "metadata", None)
                record = {
                    "uri": str(model_uri)[:300],
                    "model_id": _text(getattr(meta, "model_id", None)),
                    "run_id": _text(getattr(meta, "run_id", None)),
                    "predictions": [],
                }
                state.loads.append(record)
                state.loaded[id(model)] = (model, record)
            return model

        return load

    pyfunc.load_model = recording(pyfunc.load_model)
    if hasattr(pyfunc, "load_pyfunc"):
        pyfunc.load_pyfunc = recording(pyfunc.load_pyfunc)

    original_predict = pyfunc.PyFuncModel.predict

    @functools.wraps(original_predict)
    def predict(self, *args, **kwargs):
        out = original_predict(self, *args, **kwargs)
        entry = state.loaded.get(id(self))
        if entry is not None and entry[0] is self and not from_mlflow(sys._getframe(1)):
            made = entry[1]["predictions"]
            kept = sum(len(values) for values in made if values)
            if len(made) < MAX_PREDICTS and kept < MAX_PREDICTED_VALUES:
                made.append(_values(out, limit))
        return out

    pyfunc.PyFuncModel.predict = predict


def _record_metric_calls(client_class, state):
    """Keep, for each run and metric key, the call that logged its latest value (the one
    MLflow shows: highest step, then the latest call), with the source text of the call
    expression that made it: in a cell, a function or a helper module, found as the first
    frame outside MLflow and the grader. A verdict on how a value was logged (typed into
    the code, or computed) then reads that one call, nothing else of the notebook."""
    import ast
    import functools
    import linecache
    import sys

    state.metric_calls = {}  # (run_id, key) -> record
    sources = {}  # (file, line) -> the call expression's text there, or None

    def site():
        frame = sys._getframe(2)
        while frame is not None:
            name = frame.f_globals.get("__name__", "")
            ours = frame.f_code.co_filename == "<labgrade>"
            if not ours and name != "mlflow" and not name.startswith("mlflow."):
                return frame.f_code.co_filename, frame.f_lineno
            frame = frame.f_back
        return None, None

    def call_text(filename, line):
        if (filename, line) in sources:
            return sources[filename, line]
        text = None
        source = "".join(linecache.getlines(filename))
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            tree = None
        best = None
        for node in ast.walk(tree) if tree is not None else ():
            if isinstance(node, ast.Call) and node.lineno <= line <= (node.end_lineno or 0):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                logs = called in ("log_metric", "log_metrics", "log_batch")
                if logs and (best is None or node.lineno >= best.lineno):
                    best = node
        if best is not None:
            text = (ast.get_source_segment(source, best) or "")[:MAX_CALL_TEXT] or None
        sources[filename, line] = text
        return text

    def by_client(frame):
        """Whether the code called MlflowClient itself (its positional parameters start with
        the run id) rather than a fluent function, which calls the client from MLflow."""
        name = frame.f_globals.get("__name__", "") if frame is not None else ""
        return name != "mlflow" and not name.startswith("mlflow.")

    def keep(run_id, key, value, step, client):
        slot = (str(run_id), str(key))
        known = state.metric_calls.get(slot)
        step = int(step or 0)
        if known is None and len(state.metric_calls) >= MAX_METRIC_KEYS:
            return
        if known is not None and step < known["step"]:
            return  # an earlier step: not what MLflow shows as the metric's value
        if known is not None and step == known["step"] and _plain(value) == known["value"]:
            return  # the same value again (log_model copies the run's metrics to its model)
        filename, line = site()
        state.metric_calls[slot] = {
            "run_id": slot[0],
            "key": slot[1][:200],
            "value": _plain(value),
            "step": step,
            "file": None if filename is None else str(filename)[:300],
            "line": line,
            "call": None if filename is None else call_text(filename, line),
            "client": bool(client),
        }

    original_metric = client_class.log_metric

    @functools.wraps(original_metric)
    def log_metric(self, run_id, key, value, *args, **kwargs):
        out = original_metric(self, run_id, key, value, *args, **kwargs)
        step = kwargs.get("step", args[1] if len(args) > 1 else None)
        keep(run_id, key, value, step, by_client(sys._getframe(1)))
        return out

    original_batch = client_class.log_batch

    @functools.wraps(original_batch)
    def log_batch(self, run_id, metrics=(), *args, **kwargs):
        out = original_batch(self, run_id, metrics, *args, **kwargs)
        client = by_client(sys._getframe(1))
        for metric in list(metrics or ())[: MAX_METRIC_KEYS * 10]:
            keep(run_id, metric.key, metric.value, metric.step, client)
        return out

    client_class.log_metric = log_metric
    client_class.log_batch = log_batch


def _text(value):
    return None if value is None else str(value)[:200]


def _plain(value):
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return repr(value)[:100]


def _values(obj, limit):
    """A prediction output (array, Series, one-column DataFrame, list) as a flat list."""
    if hasattr(obj, "to_numpy") and getattr(obj, "ndim", 1) == 2 and obj.shape[1] == 1:
        obj = obj.to_numpy()
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if isinstance(obj, (list, tuple)):
        flat = [v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v for v in obj]
        return [_plain(v) for v in flat[:limit]]
    return None


def _rows(obj, limit, width=200):
    """A table (DataFrame, 2-D array, list of rows) as rows of plain values, or None."""
    if hasattr(obj, "to_numpy"):
        obj = obj.to_numpy()
    if hasattr(obj, "tolist"):
        obj = obj.tolist()
    if not isinstance(obj, (list, tuple)):
        return None
    rows = []
    for row in obj[:limit]:
        cells = row if isinstance(row, (list, tuple)) else [row]
        rows.append([_plain(v) for v in cells[:width]])
    return rows


def _own_modules(home):
    """Paths (relative to the working copy) of the modules the submission imported from it."""
    import os
    import sys

    if not home:
        return []
    root = os.path.join(os.path.realpath(home), "")
    found = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        # A prefix test first: thousands of modules are loaded, a handful are the student's.
        if (
            isinstance(path, str)
            and path.endswith(".py")
            and os.path.abspath(path).startswith(root)
        ):
            relative = os.path.relpath(os.path.realpath(path), root)
            if not relative.startswith(os.pardir):
                found.add(relative)
    return sorted(found)[:100]


def as_script(name):
    """Make the kernel's namespace what `python NAME` gives a script in its own folder (the
    working directory): __file__ is its path, sys.argv is [that path], and its folder is
    first on sys.path, so that argparse defaults and Path(__file__).parent work as there."""
    import os
    import sys

    from IPython import get_ipython

    path = os.path.join(os.getcwd(), name)
    get_ipython().user_ns["__file__"] = path
    sys.argv = [path]
    sys.path.insert(0, os.getcwd())


def _run_ids(obj, limit):
    """The ids of the runs OBJ holds, in its order: a search_runs DataFrame's "run_id"
    column, a list of runs (search_runs(output_format="list"), MlflowClient.search_runs)
    or one run; None when OBJ holds something else."""
    columns = getattr(obj, "columns", None)
    if columns is not None:
        if "run_id" not in [str(c) for c in list(columns)]:
            return None
        ids = list(obj["run_id"].tolist())[:limit]
    elif isinstance(obj, (list, tuple)):
        ids = [getattr(getattr(run, "info", None), "run_id", None) for run in obj[:limit]]
    else:
        ids = [getattr(getattr(obj, "info", None), "run_id", None)]
    if not all(isinstance(i, str) for i in ids):
        return None
    return [i[:100] for i in ids]


def _variables(ns, variables, column, run_ids, limit=10000, tables=()):
    """What the checks need of the namespace NS's VARIABLES (and RUN_IDS), as plain JSON:
    TABLES among them reported whole, row by row; RUN_IDS by the ids of the runs they hold."""
    found = {}
    for name in list(variables) + [v for v in run_ids if v not in variables]:
        if name not in ns:
            found[name] = {"present": False}
            continue
        obj = ns[name]
        entry = {"present": True, "type": type(obj).__name__}
        columns = getattr(obj, "columns", None)
        if columns is not None:
            entry["columns"] = [str(c) for c in list(columns)[:50]]
            if column in obj.columns:
                entry["values"] = _values(obj[column], limit)
            else:
                entry["values"] = None
        else:
            entry["values"] = _values(obj, limit)
        if name in tables:
            entry["rows"] = _rows(obj, limit)
        if name in run_ids:
            entry["run_ids"] = _run_ids(obj, limit)
        found[name] = entry
    return found


def capture(out_path, variables, column, run_ids=(), limit=10000, tables=()):
    """Write what the graded checks need from the user namespace and from the records
    install() kept, as plain JSON. RUN_IDS: variables whose runs are listed by id, in order;
    TABLES: variables reported whole, row by row (grader.engine.lab.Capture)."""
    import json
    import sys

    from IPython import get_ipython

    ns = get_ipython().user_ns

    found = _variables(ns, variables, column, run_ids, limit, tables)

    state = sys.modules.get(STATE_MODULE)
    note_environment = getattr(state, "note_environment", None)
    if note_environment is not None:
        note_environment()
    report = {
        "variables": found,
        "loads": list(getattr(state, "loads", [])),
        "redirects": list(getattr(state, "redirects", [])),
        "switched": list(getattr(state, "switched", [])),
        "ids": list(getattr(state, "ids", [])),
        "metric_calls": list(getattr(state, "metric_calls", {}).values()),
        "modules": _own_modules(getattr(state, "home", None)),
        "shell_failures": list(getattr(state, "shell_failures", [])),
        "datasets": list(getattr(state, "datasets", [])),
        "fetched": list(getattr(state, "fetched", [])),
    }
    calls = {(c["run_id"], c["key"]): c for c in report["metric_calls"]}
    for child in _children_records(state):
        # A variable the kernel lacks is read from a child that left it (a notebook that
        # runs its steps as a script of its own).
        for name, entry in child.get("variables", {}).items():
            if name in found and not found[name]["present"] and entry.get("present"):
                found[name] = entry
        report["loads"] += child.get("loads", [])[: max(0, MAX_LOADS - len(report["loads"]))]
        report["redirects"] += [
            r for r in child.get("redirects", []) if r not in report["redirects"]
        ]
        report["ids"] += [i for i in child.get("ids", []) if i not in report["ids"]]
        report["switched"] += [s for s in child.get("switched", []) if s not in report["switched"]]
        room = max(0, MAX_DATASETS - len(report["datasets"]))
        report["datasets"] += child.get("datasets", [])[:room]
        report["fetched"] += [f for f in child.get("fetched", []) if f not in report["fetched"]]
        for call in child.get("metric_calls", []):
            known = calls.get((call["run_id"], call["key"]))
            if known is None or call["step"] >= known["step"]:
                calls[call["run_id"], call["key"]] = call
    report["metric_calls"] = list(calls.values())
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh)
