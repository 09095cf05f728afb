"""The `shopper` command: parses, calls the library, prints.

Each area of shopper keeps its commands in its own module here and lists them in `commands`;
this module only gathers them and turns a `ShopperError` into one line and exit code 2.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from shopper import __version__
from shopper.config import Config, default_db_path
from shopper.errors import ShopperError

AREAS = ["core", "world", "submit", "capture", "grading", "scoring", "bot", "campaign", "checks"]


@dataclass
class Context:
    """What every command may need, opened only when asked for."""

    db_path: Path
    config_path: Path | None
    _config: Config | None = field(default=None, repr=False)
    _db: object = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = Config.load(self.config_path)
        return self._config

    @property
    def db(self):
        if self._db is None:
            from shopper.db import open_database

            self._db = open_database(self.db_path)
        return self._db


pass_context = click.make_pass_decorator(Context)


class Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ShopperError as err:
            click.echo(f"shopper: {err}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="shopper")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), envvar="SHOPPER_DB",
              help="Database file (default: $SHOPPER_HOME/shopper.db).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), envvar="SHOPPER_CONFIG",
              help="Config file (default: $SHOPPER_HOME/config.toml).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None, config_path: Path | None, verbose: int) -> None:
    """shopper: covert mystery-shopper tests of government agency websites.

    Submits test consultations and complaints through agencies' own forms, watches for the
    answers, grades them against 沪府办〔2003〕63号 and writes scores, reports and letters.
    """
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ctx.obj = Context(db_path or default_db_path(), config_path)


def _register() -> None:
    import importlib

    for area in AREAS:
        module = importlib.import_module(f"shopper.cli.{area}")
        for command in module.commands:
            main.add_command(command)


_register()
