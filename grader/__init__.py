"""Autograder for the MLflow labs of a course (grader.labs lists them).

The one grading path is :func:`grader.engine.grading.grade`: it takes a submission and
:class:`grader.engine.grading.Settings` and returns a
:class:`grader.engine.output.results.GradeResult`. The pytest plugin (`pytest grader`) and any batch
tool call it and render the result. Nothing is imported here so that loading the pytest plugin stays
cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"
