"""Commands of the scoring area (filled in by its issue)."""

commands: list = []
