"""Campaigns, the daemon and the demo."""

import click

from shopper.errors import ShopperError


@click.command()
def demo() -> None:
    """Run a simulated week against local demo agencies and write demo-out/."""
    raise ShopperError("`shopper demo` is not built yet (issue 9); `shopper --help` lists what works today")


commands = [demo]
