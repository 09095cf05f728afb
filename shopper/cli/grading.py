"""Commands of the grading area (filled in by its issue)."""

commands: list = []
