"""Commands of the submit area (filled in by its issue)."""

commands: list = []
