"""Deep links into the MLflow UI for a graded run (the lab's Step 6: view the run in the UI).

MLflow 3's UI routes through the URL fragment (a hash router): `#/experiments/<id>`,
`#/experiments/<id>/runs/<run id>` and `#/models/<name>/versions/<version>`, as in
mlflow/server/js of the installed MLflow.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from grader.engine.output.results import GradeResult
from grader.engine.server.throwaway import bounded_retries


@dataclass(frozen=True)
class Link:
    label: str
    url: str


def experiment_url(server: str, experiment_id: str) -> str:
    return f"{server}/#/experiments/{experiment_id}"


def run_url(server: str, experiment_id: str, run_id: str) -> str:
    return f"{server}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(server: str, name: str, version: str) -> str:
    return f"{server}/#/models/{urllib.parse.quote(name, safe='')}/versions/{version}"


def graded_links(result: GradeResult, model_names: tuple[str, ...]) -> tuple[list[Link], list[str]]:
    """Links to the graded experiment, run and the run's registered model versions (one per
    name of MODEL_NAMES, the lab's registered models; else the latest under any name).

    Returns the links and notes on what has no link (no run graded, nothing registered).
    The server is asked for names and the version: the result holds ids only.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    server, exp_id, run_id = (
        result.tracking.server,
        result.tracking.experiment_id,
        result.tracking.run_id,
    )
    if not exp_id:
        return [Link("MLflow UI", f"{server}/#/")], ["no experiment was graded"]
    try:
        with bounded_retries():
            client = MlflowClient(tracking_uri=server, registry_uri=server)
            exp_name = client.get_experiment(exp_id).name
            run = client.get_run(run_id) if run_id else None
            versions = list(client.search_model_versions(f"run_id = '{run_id}'")) if run else []
    except (MlflowException, OSError) as err:
        return [Link("MLflow UI", f"{server}/#/")], [f"the server could not be read: {err}"]
    links = [Link(f'experiment "{exp_name}"', experiment_url(server, exp_id))]
    if run is None:
        return links, ["no run was graded"]
    label = f"graded run '{run.info.run_name}'"
    links.append(Link(label, run_url(server, exp_id, run.info.run_id)))
    picked = latest_versions(versions, model_names)
    if not picked:
        names = " or ".join(f'"{n}"' for n in model_names)
        return links, [f"the graded run's model is not registered (as {names} or at all)"]
    for version in picked:
        label = f'registered model "{version.name}" v{version.version}'
        links.append(Link(label, model_version_url(server, version.name, str(version.version))))
    return links, []


def latest_versions(versions: list[Any], names: tuple[str, ...]) -> list[Any]:
    """The latest version under each of NAMES; if none, the latest under any name."""
    latest = []
    for name in names:
        ours = [v for v in versions if v.name == name]
        if ours:
            latest.append(max(ours, key=lambda v: int(v.version)))
    if latest or not versions:
        return latest
    return [max(versions, key=lambda v: int(v.version))]


def link_lines(links: list[Link], notes: list[str]) -> list[str]:
    width = max(len(link.label) for link in links)
    return [f"  {link.label + ':':<{width + 1}} {link.url}" for link in links] + [
        f"  ({note})" for note in notes
    ]
