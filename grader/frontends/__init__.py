"""Front ends: the pytest plugin, the labgrade CLI, and the one table of options for both."""
