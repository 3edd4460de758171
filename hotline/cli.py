"""`hotline` — the one command for operators of the hotline's servers.

Only commands that work are listed; each later capability adds its own.
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

import click

from config import ConfigError
from db import migrate
from db.base import utcnow
from db.demo_data import DEMO_ACCOUNTS, DemoDataRefused, load_demo_data
from db.models import Role
from db.reference import ensure_reference_data
from db.session import transaction
from db.users import UserError, create_user
from dialplans import contract
from hotline.console_commands import console_command, sms_command
from hotline.context import AppContext
from hotline.kpi_commands import kpi_group
from hotline.supervision_commands import regrade_command
from hotline.survey_commands import dialer_command
from hotline.ivr_commands import (
    ami_command,
    asterisk_config_command,
    call_command,
    ivr_command,
    prompts_group,
)

if TYPE_CHECKING:
    from hotline.demo_stack import DemoStack

pass_app = click.make_pass_decorator(AppContext)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Heyuan household-services 400 hotline: IVR, Asterisk link and agent console."""
    ctx.ensure_object(AppContext)


@cli.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@pass_app
def db_upgrade(app: AppContext) -> None:
    """Migrate the database to the newest schema and add reference data."""
    migrate.upgrade(app.engine)
    with transaction(app.sessions) as session:
        ensure_reference_data(session)
    click.echo(f"database {app.engine.url.render_as_string(hide_password=True)} is at revision {migrate.head_revision()}")


@cli.command("demo-data")
@pass_app
def demo_data(app: AppContext) -> None:
    """Load demo providers, workers, callers, the three demo accounts and five weeks of calls."""
    app.require_schema()
    try:
        with transaction(app.sessions) as session:
            counts = load_demo_data(session, app.settings.tz, production=app.settings.production,
                                        ivr_category_variable=contract.CATEGORY)
    except DemoDataRefused as exc:
        raise click.ClickException(str(exc)) from None
    if not any(counts.values()):
        click.echo("demo data already present; nothing added")
    else:
        click.echo("added {providers} providers, {users} accounts, {callers} callers".format(**counts))


@cli.group()
def user() -> None:
    """Console accounts."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", help="Name shown in the console.")
@click.option("--extension", help="The operator's SIP extension (for screen pops).")
@click.password_option(help="Asked for when not given.")
@pass_app
def user_create(app: AppContext, username: str, role: str, display_name: str | None, extension: str | None, password: str) -> None:
    """Create a console account."""
    app.require_schema()
    try:
        with transaction(app.sessions) as session:
            create_user(session, username, password, Role(role), display_name, extension)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")


@cli.command()
@click.option("--once", is_flag=True, hidden=True, help="Start, print the banner and stop (for tests).")
@pass_app
def demo(app: AppContext, once: bool) -> None:
    """Start everything that works on this machine and say how to use it."""
    from hotline.demo_stack import start_demo_stack  # the emulated Asterisk: only the demo needs it

    app.require_schema()
    stack = start_demo_stack(app)
    click.echo(demo_banner(app, stack))
    if not once:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        stop.wait()
        click.echo("stopping the demo")
    stack.stop()


# The simulated calls the banner and README.md suggest, in order on a fresh demo database:
# each depends on what the ones before did (a caller's language is remembered).
# tests/test_readme_calls.py places README's copy of them against a demo and checks
# that each ends as it says.
DEMO_CALLS = (
    ("--at '2026-12-01 10:00' --through-asterisk --from 13800138000 --keys '1 1'",
     "returning caller (Mandarin): family services, housekeeping; queues, rings operator 1001: a screen pop"),
    ("--at '2026-12-01 10:00' --from 13912345678 --keys '2 1 3'",
     "new caller: Cantonese, family services, medical escort"),
    ("--at '2026-12-01 10:00' --from 13800138000 --keys '3 0'",
     "returning caller: status of his open request and its provider, then asks for an operator"),
    ("--at '2026-12-01 10:00' --from 07623660360 --keys '5'",
     "returning Hakka caller: emergency, priority queue"),
    ("--at '2026-12-01 10:00' --through-asterisk --from 07623660360 --keys '1 2'",
     "returning Hakka caller: family services, elderly care; queues for a Hakka speaker, rings operator 1002"),
    ("--at '2026-12-01 10:00' --from anonymous --keys '- - -'",
     "no keys at all: the operator after three timeouts"),
    ("--at '2026-12-01 21:30' --from 13912345678 --keys '1 #@9000'",
     "after hours, greeted in Cantonese now: leave a voicemail (it becomes a request)"),
    ("--at '2026-12-01 21:30' --from 13800138000 --keys '2'",
     "after hours: book a callback for the next business day"),
)


def demo_banner(app: AppContext, stack: "DemoStack") -> str:
    host, port = stack.ivr.address
    hours = app.menu.hours
    local = utcnow().astimezone(app.settings.tz)
    is_open = hours.is_open(local)
    hotline = sys.argv[0] if sys.argv[0].endswith("hotline") else "hotline"
    lines = [
        "",
        "Heyuan household-services hotline — demo",
        f"  database:  {app.engine.url.render_as_string(hide_password=True)}",
        f"  FastAGI IVR listening on {host}:{port} (prompts in {app.settings.ivr.sounds_dir})",
        f"  Emulated Asterisk manager (AMI) on {app.settings.asterisk.ami_host}:{stack.asterisk.port}, followed by the AMI link;",
        f"    operators {', '.join(stack.operators)} are logged into the queues",
        f"  Agent console: {stack.console.url}/",
        f"    live wallboard (实时监控, sign in as supervisor): {stack.console.url}/wallboard "
        f"(wall monitor: {stack.console.url}/wallboard?full=1)",
        f"  Survey dialer: a request marked completed is surveyed {app.settings.survey.delay_minutes} min later, "
        f"{app.settings.survey.quiet_until:%H:%M}-{app.settings.survey.quiet_from:%H:%M}",
        "    (HOTLINE_SURVEY_DELAY_MINUTES=0 to see one at once); the emulated caller rates it 5",
        "",
        f"  It is {local:%H:%M} in Heyuan: the line is {'OPEN' if is_open else 'CLOSED (after hours)'}; "
        f"business hours {hours.open:%H:%M}-{hours.close:%H:%M}.",
        "",
        "  Place a simulated call from another terminal (the Asterisk emulator plays the caller).",
        "  With --through-asterisk the call goes on to the queue and pops up in the console of",
        "  the operator it is offered to (sign in as operator first). --at sets the time the",
        "  demo's IVR goes by, so each works at any hour; run them in this order:",
    ]
    lines += [f"    {hotline} call {args}  # {what}" for args, what in DEMO_CALLS]
    lines += [
        "",
        "  Demo logins for the agent console:",
    ]
    lines += [f"    {a.role.value:<10} {a.username:<10} password {a.password}" for a in DEMO_ACCOUNTS]
    lines += ["", "  Ctrl-C stops the demo."]
    return "\n".join(lines)


cli.add_command(ivr_command)
cli.add_command(call_command)
cli.add_command(prompts_group)
cli.add_command(asterisk_config_command)
cli.add_command(ami_command)
cli.add_command(console_command)
cli.add_command(sms_command)
cli.add_command(dialer_command)
cli.add_command(regrade_command)
cli.add_command(kpi_group)


def main() -> None:
    try:
        cli(obj=AppContext())
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
