"""Code the grader runs inside the submission's kernel, before and after the student's cells.

This file is sent to the kernel as source text (the kernel need not be able to import
the grader). It runs in a private namespace; only plain JSON leaves the kernel.
"""

# mypy: ignore-errors

STATE_MODULE = "_labgrade_state"


def install(grader_uri, server_deadline=90.0):
    """Pin every tracking/registry URI the notebook sets to the grader's throwaway server.

    The server may still be starting when the first cells run: the first request to it
    waits (up to SERVER_DEADLINE seconds) until /health answers, so cells that do not
    need it (imports, training) run meanwhile.
    """
    import functools
    import sys
    import time
    import types
    import urllib.request

    import mlflow
    import requests
    from mlflow.tracking import client as client_module
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    state = types.ModuleType(STATE_MODULE)
    state.redirects = []
    sys.modules[STATE_MODULE] = state

    def note(where, uri):
        if uri is not None and str(uri) != grader_uri:
            state.redirects.append([where, str(uri)[:200]])

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
        note("MlflowClient(tracking_uri=...)", tracking_uri)
        note("MlflowClient(registry_uri=...)", registry_uri)
        original_init(self, None, None, *args, **kwargs)

    client_module.MlflowClient.__init__ = client_init

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


def capture(out_path, variables, column, limit=10000):
    """Write what the graded checks need from the user namespace, as plain JSON."""
    import json
    import sys

    from IPython import get_ipython

    ns = get_ipython().user_ns

    def plain(value):
        if hasattr(value, "item"):
            value = value.item()
        if isinstance(value, (bool, int, float, str)) or value is None:
            return value
        return repr(value)[:100]

    def values_of(obj):
        if hasattr(obj, "tolist"):
            obj = obj.tolist()
        if isinstance(obj, (list, tuple)):
            flat = [v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v for v in obj]
            return [plain(v) for v in flat[:limit]]
        return None

    found = {}
    for name in variables:
        if name not in ns:
            found[name] = {"present": False}
            continue
        obj = ns[name]
        entry = {"present": True, "type": type(obj).__name__}
        columns = getattr(obj, "columns", None)
        if columns is not None:
            entry["columns"] = [str(c) for c in list(columns)[:50]]
            entry["values"] = values_of(obj[column]) if column in obj.columns else None
        else:
            entry["values"] = values_of(obj)
        found[name] = entry

    pyfunc_models = []
    pyfunc = sys.modules.get("mlflow.pyfunc")
    if pyfunc is not None:
        for obj in list(ns.values()):
            if isinstance(obj, pyfunc.PyFuncModel):
                meta = getattr(obj, "metadata", None)
                pyfunc_models.append(
                    {
                        "model_id": getattr(meta, "model_id", None),
                        "run_id": getattr(meta, "run_id", None),
                        "artifact_path": getattr(meta, "artifact_path", None),
                    }
                )

    state = sys.modules.get(STATE_MODULE)
    report = {
        "variables": found,
        "pyfunc_models": pyfunc_models,
        "redirects": list(getattr(state, "redirects", [])),
    }
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump(report, fh)
