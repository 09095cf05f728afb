"""`shopper world`: the demo agencies and their mail system, for a person to click through."""

from __future__ import annotations

import time

import click

from shopper.errors import ShopperError


@click.command("world")
@click.option("--port", type=int, default=0, show_default="a free port", help="HTTP port of the demo sites.")
@click.option("--speed", type=float, default=None,
              help="Run simulated time this many times faster than real time (e.g. 60: a minute a second).")
@click.option("--no-mail", is_flag=True, help="Do not start the SMTP/IMAP mail system (replies are only recorded).")
@click.option("--slow-delay", type=float, default=3.0, show_default=True, help="Seconds the slow page takes.")
def world(port: int, speed: float | None, no_mail: bool, slow_delay: float) -> None:
    """Start the demo world: agency sites on 127.0.0.1, their mail, until Ctrl-C."""
    from shopper.clock import SimulatedClock, get_clock
    from shopper.demo.world import World

    if speed is not None and speed < 0:
        raise ShopperError("--speed must be 0 (a standing clock) or more")
    clock = SimulatedClock(get_clock().now(), speed=speed) if speed is not None else None
    mail = None
    if not no_mail:
        from shopper.demo.mail import MailSystem

        mail = MailSystem().start()
    try:
        demo = World(clock, port=port, mail=mail, slow_delay=slow_delay).start()
    except OSError as err:
        if mail is not None:
            mail.stop()
        raise ShopperError(f"cannot serve on 127.0.0.1:{port} ({err}); choose another --port") from err
    try:
        click.echo(f"demo world   {demo.base_url}/   (export SHOPPER_DEMO_URL={demo.base_url})")
        for agency in demo.agencies.values():
            click.echo(f"  {agency.id:6} {demo.url(agency.id):40} {agency.name}  [{agency.profile.name}]")
        click.echo(f"harness      {demo.base_url}/__harness/captcha?sha=...  {demo.base_url}/__harness/sms?phone=...")
        if mail is not None:
            click.echo(f"smtp         127.0.0.1:{mail.smtp_port}")
            click.echo(f"imap         127.0.0.1:{mail.imap_port}  user {mail.imap_user}  password {mail.imap_password}")
        click.echo(f"clock        {demo.clock!r}")
        click.echo("Ctrl-C stops.")
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        demo.stop()
        if mail is not None:
            mail.stop()


commands = [world]
