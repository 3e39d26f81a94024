"""Course platforms: Gradescope bundles, GitHub Actions/Classroom, student repository releases."""
