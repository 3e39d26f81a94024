"""Confinement of untrusted code: jail (its own trust boundary), cgroups, limits, reaping."""
