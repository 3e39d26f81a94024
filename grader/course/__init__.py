"""Course tools: batch grading of a class, the roster, the gradebook."""
