"""The warm-process speed-up: a host that forks servers and probes with MLflow imported.

Plugged in from the top (front ends and course tools hand it to the engine); the engine
never imports this package.
"""
