"""The formats other platforms read, as their documentation and code define them.

Each test validates the grader's real output against these, not against the grader's own code.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from xml.etree import ElementTree

# Gradescope results.json: https://gradescope-autograders.readthedocs.io/en/latest/specs/
# ("Output format", "Controlling Test Case Visibility", "Test case status",
# "Output String Formatting"). Every key the spec lists, nothing else.
_VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
_FORMAT = {"enum": ["text", "simple_format", "html", "md", "ansi"]}
_GRADESCOPE_TEST = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": _FORMAT,
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
GRADESCOPE_RESULTS = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "test_output_format": _FORMAT,
        "test_name_format": _FORMAT,
        "visibility": _VISIBILITY,
        "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": _GRADESCOPE_TEST},
        "leaderboard": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string"},
                    "value": {"type": ["number", "string"]},
                    "order": {"enum": ["asc", "desc"]},
                },
            },
        },
    },
    "additionalProperties": False,
    # "score": "optional, but required if not on each test case below".
    "anyOf": [
        {"required": ["score"]},
        {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}},
    ],
}

# A GitHub Classroom runner result: what classroom-resources/autograding-command-grader sets
# as its `result` output (src/main.js, __tests__/main.test.js: version 1, status pass/fail/
# error, max_score, one test with name, status, message, test_code, filename, line_no,
# duration in ms, score), read by classroom-resources/autograding-grading-reporter.
CLASSROOM_RUNNER = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["version", "status", "max_score", "tests"],
    "properties": {
        "version": {"const": 1},
        "status": {"enum": ["pass", "fail", "error"]},
        "max_score": {"type": "number", "minimum": 0},
        "tests": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": [
                    "name",
                    "status",
                    "message",
                    "test_code",
                    "filename",
                    "line_no",
                    "duration",
                    "score",
                ],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "status": {"enum": ["pass", "fail", "error"]},
                    "message": {"type": "string"},
                    "test_code": {"type": "string"},
                    "filename": {"type": "string"},
                    "line_no": {"type": "integer"},
                    "duration": {"type": "integer", "minimum": 0},
                    "score": {"type": "number", "minimum": 0},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def github_outputs(text: str) -> dict[str, str]:
    """A step's $GITHUB_OUTPUT file: `name=value` lines, or `name<<EOF` blocks
    (https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions)."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            outputs[name] = "\n".join(block)
        elif line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def reporter_reads(env: dict[str, str], runners: str) -> list[tuple[str, dict[str, Any]]]:
    """What autograding-grading-reporter's src/main.js parses: for each runner in the
    comma-separated `runners` input, base64-decoded JSON from env `<RUNNER>_RESULTS`."""
    parsed = []
    for runner in runners.split(","):
        encoded = env[f"{runner.strip().upper()}_RESULTS"]
        parsed.append((runner.strip(), json.loads(base64.b64decode(encoded, validate=True))))
    return parsed


def reporter_points(runner_results: list[tuple[str, dict[str, Any]]]) -> str:
    """The reporter's "Points X/Y" text (src/notify-classroom.js): runners without a max_score
    are skipped; the others add their max_score and their tests' scores. JavaScript prints
    whole numbers without a decimal point."""
    total = maximum = 0.0
    for _, results in runner_results:
        if not results["max_score"]:
            continue
        maximum += results["max_score"]
        total += sum(test["score"] for test in results["tests"])
    return f"Points {total:g}/{maximum:g}"


# JUnit XML as pytest's default family (xunit2) must be: pytest validates it against
# testing/example_scripts/junit-10.xsd (https://github.com/pytest-dev/pytest). Per element:
# allowed attributes, required attributes, allowed children.
_XUNIT2 = {
    "testsuites": ({"name", "time", "tests", "failures", "errors"}, set(), {"testsuite"}),
    "testsuite": (
        {
            "name",
            "tests",
            "failures",
            "errors",
            "group",
            "time",
            "skipped",
            "timestamp",
            "hostname",
            "id",
            "package",
            "file",
            "log",
            "url",
            "version",
        },
        {"name", "tests", "failures", "errors"},
        {"testsuite", "properties", "testcase", "system-out", "system-err"},
    ),
    "properties": (set(), set(), {"property"}),
    "property": ({"name", "value"}, {"name", "value"}, set()),
    "testcase": (
        {"name", "time", "classname", "group"},
        {"name"},
        {
            "skipped",
            "errors",
            "failure",
            "rerunFailure",
            "rerunError",
            "flakyFailure",
            "flakyError",
            "system-out",
            "system-err",
        },
    ),
    "failure": ({"type", "message"}, set(), set()),
    "skipped": ({"type", "message"}, set(), set()),
    "errors": ({"type", "message"}, set(), set()),
    "system-out": (set(), set(), set()),
    "system-err": (set(), set(), set()),
}


def xunit2_problems(xml: str) -> list[str]:
    """Where XML breaks junit-10.xsd's structure (empty: valid)."""
    root = ElementTree.fromstring(xml)
    if root.tag not in ("testsuites", "testsuite"):
        return [f"root element <{root.tag}>"]
    problems = []
    for element in root.iter():
        if element.tag not in _XUNIT2:
            problems.append(f"unknown element <{element.tag}>")
            continue
        allowed, required, children = _XUNIT2[element.tag]
        problems += [f"<{element.tag}> has attribute {a}" for a in set(element.attrib) - allowed]
        problems += [f"<{element.tag}> lacks attribute {a}" for a in required - set(element.attrib)]
        problems += [f"<{element.tag}> holds <{c.tag}>" for c in element if c.tag not in children]
    return problems
