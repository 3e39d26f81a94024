"""Results as plain data, and their rendering for people (table, feedback, UI links)."""
