"""Running a submission: the confined kernel, its set-up, the submission it runs."""
