"""Wiring only: the grader's pytest plugin (options, fixture, score output)."""

pytest_plugins = ["grader.frontends.plugin"]
