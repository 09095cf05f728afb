"""Commands of the bot area (filled in by its issue)."""

commands: list = []
