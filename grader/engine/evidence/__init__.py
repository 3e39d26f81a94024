"""What a lab's checks read: evidence records, server reads, rubric, common slips."""
