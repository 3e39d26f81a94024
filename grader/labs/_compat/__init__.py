"""Compatibility code shared by labs (grader.engine.lab.Compatibility): each module here is a
self-contained script the engine runs inside the kernel, never imported by the grader itself.
Not a lab: grader.labs skips folders whose name starts with an underscore."""
