"""`pytest grader --keep-server`: the graded run in the MLflow UI (Steps 6 and 7 of the lab)."""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.helpers import CHROMIUM_ARGS, KeptServer, stop, system_chromium

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("keep_server")]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, resp.read().decode("utf-8", errors="replace")


def _api(server: str, path: str) -> dict[str, Any]:
    status, body = _get(f"{server}/api/2.0/mlflow/{path}")
    assert status == 200
    data: dict[str, Any] = json.loads(body)
    return data


def test_links_lead_to_the_graded_run(kept_reference: KeptServer) -> None:
    kept = kept_reference
    result = json.loads((kept.out_dir / "result.json").read_text())
    assert result["score"] == 100
    server, exp_id, run_id = (result["tracking"][k] for k in ("server", "experiment_id", "run_id"))
    assert kept.links["experiment"] == f"{server}/#/experiments/{exp_id}"
    assert kept.links["run"] == f"{server}/#/experiments/{exp_id}/runs/{run_id}"
    assert kept.links["model"] == f"{server}/#/models/tracking-quickstart/versions/1"
    for url in kept.links.values():
        status, page = _get(url)  # the UI's page; the fragment is routed in the browser
        assert status == 200
        assert '<div id="root"' in page or "mlflow" in page.lower()
    run = _api(server, f"runs/get?run_id={run_id}")["run"]
    assert run["info"]["experiment_id"] == exp_id
    version = _api(server, "model-versions/get?name=tracking-quickstart&version=1")
    assert version["model_version"]["run_id"] == run_id
    assert "Ctrl-C stops it" in kept.output


def test_the_mlflow_ui_shows_the_graded_run(request: pytest.FixtureRequest) -> None:
    chromium = system_chromium()
    from playwright.sync_api import expect, sync_playwright

    kept: KeptServer = request.getfixturevalue("kept_reference")  # only once it can run
    links = kept.links
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(90_000)
            page.goto(links["experiment"])
            expect(page.get_by_text("MLflow Quickstart").first).to_be_visible()

            page.goto(links["run"])
            for text in ("solver", "lbfgs", "max_iter", "1000", "random_state", "8888"):
                expect(page.get_by_text(text, exact=True).first).to_be_visible()
            expect(page.get_by_text("accuracy", exact=True).first).to_be_visible()
            expect(page.get_by_text("Training Info").first).to_be_visible()
            expect(page.get_by_text("Basic LR model for iris data").first).to_be_visible()
            expect(page.get_by_text("tracking-quickstart").first).to_be_visible()

            page.goto(links["model"])
            expect(page.get_by_text("tracking-quickstart").first).to_be_visible()
            expect(page.get_by_text("Version 1").first).to_be_visible()
        finally:
            browser.close()


def test_ctrl_c_stops_the_server_and_leaves_no_process(kept_reference: KeptServer) -> None:
    kept = kept_reference
    assert kept.proc.poll() is None, "the grader must keep running until Ctrl-C"
    server = kept.server
    code, leftovers = stop(kept, signal.SIGINT, timeout=60)
    assert code == 0, kept.output[-2000:]  # the reference scores full marks
    assert leftovers == []
    assert "stopping the MLflow server" in kept.output
    with pytest.raises(urllib.error.URLError):
        _get(f"{server}/health")
