"""Commands of the checks area (filled in by its issue)."""

commands: list = []
