"""The Model Registry lab's checks on evidence made by hand: the wording of what they find."""

from __future__ import annotations

from dataclasses import replace

from grader.engine.evidence.records import (
    Candidate,
    Evidence,
    ModelPredictions,
    NamespaceCapture,
    PyfuncLoad,
)
from grader.engine.evidence.server_reads import Experiment, LoggedModel, ModelVersion, Run, Snapshot
from grader.labs import load
from grader.labs.registry.checks import (
    PLACEHOLDER,
    check_client_version,
    check_load_version,
    check_run,
    notes,
)

LAB = load("registry")
RUBRIC = LAB.rubric()
FOREST = "sklearn.ensemble._forest.RandomForestRegressor"
PARAMS = {"max_depth": "2", "random_state": "42"}
TRAINED = {"max_depth": 2, "random_state": 42}
Y = (1.0, 2.0, 3.0)


def _evidence(
    params: dict[str, str], trained: dict[str, object], code: str = "", stage: str = "None"
) -> tuple[Evidence, Candidate]:
    model = LoggedModel(
        "m-1",
        "sklearn-model",
        "models:/m-1",
        "r1",
        has_signature=True,
        inputs=4,
        inputs_numeric=True,
        outputs=1,
        has_input_example=True,
        flavors=("python_function", "sklearn"),
    )
    run = Run("r1", "run", "0", "FINISHED", 1, params, {"mse": 0.0}, {}, models=(model,))
    version = ModelVersion("sk-learn-random-forest-reg-model", "1", model.uri, "r1", "m-1", stage)
    evidence = Evidence(
        rubric=RUBRIC,
        snapshot=Snapshot(
            (Experiment("0", "Default", False),),
            (run,),
            {version.name: (version,)},
        ),
        capture=NamespaceCapture({}, (), ()),
        capture_problem=None,
        predictions={model.uri: ModelPredictions(model.uri, Y, None, FOREST, trained)},  # type: ignore[arg-type]
        y_test=Y,
        code=code,
    )
    return evidence, Candidate(run, model)


def test_a_wrong_logged_param_says_what_the_forest_was_really_trained_with() -> None:
    ev, cand = _evidence(
        {"max_depth": "3", "random_state": "42"}, {"max_depth": 2, "random_state": 42}
    )
    verdict = check_run(RUBRIC.check("run"), ev, cand)
    assert not verdict.passed
    assert (
        "max_depth=3 (expected 2, and the logged RandomForestRegressor was trained with"
        " max_depth=2)" in verdict.message
    )
    ev, cand = _evidence(
        {"max_depth": "3", "random_state": "42"}, {"max_depth": 3, "random_state": 42}
    )
    verdict = check_run(RUBRIC.check("run"), ev, cand)
    assert "max_depth=3 (expected 2)" in verdict.message
    assert "trained with" not in verdict.message


def test_the_stages_note_is_for_a_stage_the_notebook_set() -> None:
    code = 'client.transition_model_version_stage(name="m", version=1, stage="Archived")'
    trained = {"max_depth": 2, "random_state": 42}
    params = {"max_depth": "2", "random_state": "42"}
    never_ran, cand = _evidence(params, trained, code)
    assert not any("stages are deprecated" in n for n in notes(never_ran, cand, [cand]))
    archived, cand = _evidence(params, trained, code, stage="Archived")
    assert any("stages are deprecated" in n for n in notes(archived, cand, [cand]))


def test_a_load_of_something_else_says_what_was_loaded_and_what_step_5_loads() -> None:
    ev, cand = _evidence(PARAMS, TRAINED)
    own_model = PyfuncLoad("models:/m-1", "m-1", "r1", (Y,))
    assert ev.capture is not None
    ev = replace(ev, capture=replace(ev.capture, loads=(own_model,)))
    verdict = check_load_version(RUBRIC.check("load_version"), ev, cand)
    assert not verdict.passed
    assert verdict.message.startswith(
        "the notebook's mlflow.pyfunc.load_model loaded models:/m-1, but Step 5 loads version 1"
        ' of "sk-learn-random-forest-reg-model" from the registry'
        " (models:/sk-learn-random-forest-reg-model/1)"
    )


def test_no_load_at_all_says_the_notebook_made_no_load_model_call() -> None:
    ev, cand = _evidence(PARAMS, TRAINED)
    verdict = check_load_version(RUBRIC.check("load_version"), ev, cand)
    assert verdict.message.startswith(
        'the notebook never loaded version 1 of "sk-learn-random-forest-reg-model" from the'
        " registry: it made no mlflow.pyfunc.load_model call"
    )
    assert "loaded no model" not in verdict.message


def test_a_placeholder_left_for_create_model_version_is_named_with_what_it_stands_for() -> None:
    code = f'client.create_model_version(name="m", source="{PLACEHOLDER}", run_id="{PLACEHOLDER}")'
    ev, cand = _evidence(PARAMS, TRAINED, code)
    verdict = check_client_version(RUBRIC.check("client_version"), ev, cand)
    assert not verdict.passed
    assert verdict.hint.startswith(
        f'the notebook still has "{PLACEHOLDER}" in place of the ids it stands for (the'
        " source and run_id): use run.info.run_id and model_info"
    )
    assert "goes" not in verdict.hint
