"""Commands of the world area (filled in by its issue)."""

commands: list = []
