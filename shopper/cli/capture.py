"""Commands of the capture area (filled in by its issue)."""

commands: list = []
