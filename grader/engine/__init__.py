"""The grading engine: a submission and settings in, a GradeResult out.

Imports run down: engine -> sandbox; a lab is read through grader.labs.Lab only, and
the warm speed-up is handed in (Settings.launcher), never imported here.
"""
