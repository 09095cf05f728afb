"""Commands of the submit area: run a test, list and validate scenarios, manage personas,
verify evidence."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from shopper.cli import Context, pass_context
from shopper.errors import ShopperError


def _solver(name: str | None, harness_url: str | None):
    from shopper.solvers import ConsoleSolver, HarnessSolver

    harness_url = harness_url or os.environ.get("SHOPPER_DEMO_URL")
    if name == "harness" or (name is None and harness_url):
        if not harness_url:
            raise ShopperError("the harness solver needs --harness URL or SHOPPER_DEMO_URL (the demo world's address)")
        return HarnessSolver(harness_url)
    return ConsoleSolver()


@click.command("run")
@click.argument("agency")
@click.argument("scenario")
@click.option("--persona", help="Persona id (default: one not yet used at this agency).")
@click.option("--test", "test_id", help="Run this planned test instead of starting a new one.")
@click.option("--dry-run", is_flag=True, help="Fill the form and stop before sending it; no test is recorded (a screenshot is kept).")
@click.option("--solver", type=click.Choice(["console", "harness"]),
              help="Who reads captchas and SMS codes (default: harness when SHOPPER_DEMO_URL is set).")
@click.option("--harness", "harness_url", help="The demo world's address for the harness solver.")
@click.option("--timeout", type=float, help="Seconds each step may wait (default 8).")
@pass_context
def run(ctx: Context, agency, scenario, persona, test_id, dry_run, solver, harness_url, timeout) -> None:
    """Submit SCENARIO to AGENCY's web form as a test citizen."""
    from shopper.scenarios import load_scenario
    from shopper.sites import load_site
    from shopper.submission import run_test

    config = ctx.config
    site = load_site(agency, config.sites_dir)
    spec = load_scenario(scenario, config.scenarios_dir)
    result = run_test(ctx.db, config, site, spec, persona=persona, test_id=test_id, dry_run=dry_run,
                      solver=_solver(solver, harness_url), timeout_ms=int(timeout * 1000) if timeout else None)
    if dry_run:
        click.echo(f"dry run  {site.id} {spec.id} as {result['persona_id']} (nothing sent)")
        click.echo(f"subject  {result['subject']}")
        click.echo(f"body     {result['body']}")
        click.echo(f"screen   {result['screenshot']}")
        return
    click.echo(f"{result['id']}  {result['state']}  {site.id}  {spec.id}  persona {result['persona_id']}")
    if result.get("reference_number"):
        click.echo(f"reference  {result['reference_number']}")
    click.echo(f"replies to {result['reply_address']}")
    if result["state"] != "submitted":
        click.echo(f"why      {result.get('error')}", err=True)
        sys.exit(1)


@click.group()
def scenarios() -> None:
    """Scenario and site files."""


@scenarios.command("list")
@pass_context
def scenarios_list(ctx: Context) -> None:
    """List the scenarios with their kind and the rules their replies are graded on."""
    from shopper.scenarios import load_scenarios

    for s in load_scenarios(ctx.config.scenarios_dir).values():
        flag = " important" if s.important else ""
        click.echo(f"{s.id:34} {s.kind:19}{flag} {len(s.phrasings)} phrasings  {s.title}")
        click.echo(f"{'':34} expects {', '.join(s.expects)}")


@scenarios.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@pass_context
def scenarios_validate(ctx: Context, files) -> None:
    """Check scenario and site files (default: all); print file:line: what to fix, exit 2 on problems."""
    from shopper.scenarios import validate_files

    paths = list(files) or sorted(ctx.config.scenarios_dir.glob("*.toml")) + sorted(ctx.config.sites_dir.glob("*.toml"))
    problems = validate_files(paths)
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(2)
    click.echo(f"{len(paths)} files OK")


@click.group()
def personas() -> None:
    """The test citizens."""


@personas.command("list")
@pass_context
def personas_list(ctx: Context) -> None:
    """List personas with their accounts."""
    from shopper.personas import all_personas

    db = ctx.db
    for p in all_personas(db):
        accounts = [f"{a['agency_id']}:{a['username']}" for a in db["persona_accounts"].rows_where("persona_id = ?", [p.id])]
        used = db.execute("select count(*) from tests where persona_id = ?", [p.id]).fetchone()[0]
        click.echo(f"{p.id:10} {p.name:6} {p.phone} {p.district:6} {p.style:8} tests {used}"
                   + (f"  accounts {', '.join(accounts)}" if accounts else ""))


@personas.command("add")
@click.option("--id", "persona_id", help="Id (default: generated).")
@click.option("--name")
@click.option("--phone")
@click.option("--district")
@click.option("--style", help="polite, plain, brief or elderly.")
@click.option("-n", "count", type=int, default=1, show_default=True, help="How many to generate.")
@pass_context
def personas_add(ctx: Context, persona_id, name, phone, district, style, count) -> None:
    """Add a persona (believable details are generated for what you leave out)."""
    from shopper.personas import add, generate

    if count > 1 and (persona_id or name or phone):
        raise ShopperError("-n makes generated personas; leave out --id, --name and --phone")
    for _ in range(count):
        persona = generate(district=district, style=style)
        persona = add(ctx.db, persona, id=persona_id, name=name, phone=phone)
        click.echo(f"{persona.id}  {persona.name}  {persona.phone}  {persona.district}  {persona.style}")


@personas.command("account")
@click.argument("persona_id")
@click.argument("agency")
@click.argument("username")
@click.option("--secret", "secret_name", required=True,
              help="Name of the secret holding the password (SHOPPER_<NAME> or the secrets file).")
@pass_context
def personas_account(ctx: Context, persona_id, agency, username, secret_name) -> None:
    """Record PERSONA_ID's account USERNAME at AGENCY (the password stays a secret)."""
    from shopper.personas import add_account

    add_account(ctx.db, persona_id, agency, username, secret_name)
    have = "set" if ctx.config.secret(secret_name) else f"NOT set yet (export SHOPPER_{secret_name.upper()})"
    click.echo(f"{persona_id} at {agency} as {username}; password secret {secret_name}: {have}")


@click.group()
def evidence() -> None:
    """The evidence store."""


@evidence.command("verify")
@pass_context
def evidence_verify(ctx: Context) -> None:
    """Re-hash every evidence file and the log chain; exit 1 if anything changed."""
    from shopper.evidence import EvidenceStore

    store = EvidenceStore(ctx.config.evidence_dir, ctx.db)
    problems = store.verify()
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"{len(problems)} problems in {store.root}", err=True)
        sys.exit(1)
    click.echo(f"{len(store.entries())} log entries, all files intact ({store.root})")


commands = [run, scenarios, personas, evidence]
