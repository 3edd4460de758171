"""`hotline` — the one command for operators of the hotline's servers.

Only commands that work are listed; each later capability adds its own.
"""
from __future__ import annotations

import sys

import click

from config import ConfigError
from db import migrate
from db.demo_data import DEMO_ACCOUNTS, DemoDataRefused, demo_passwords_in_use, load_demo_data
from db.models import Role
from db.reference import ensure_reference_data
from db.session import transaction
from db.users import UserError, create_user
from hotline.context import AppContext

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
    """Load demo providers, workers, callers and the three demo accounts."""
    _require_schema(app)
    try:
        with transaction(app.sessions) as session:
            counts = load_demo_data(session, app.settings.tz, production=app.settings.production)
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
    _require_schema(app)
    try:
        with transaction(app.sessions) as session:
            create_user(session, username, password, Role(role), display_name, extension)
    except UserError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")


@cli.command()
@pass_app
def demo(app: AppContext) -> None:
    """Show what the demo installed and how to use it."""
    _require_schema(app)
    click.echo(demo_banner(app))


def demo_banner(app: AppContext) -> str:
    lines = [
        "",
        "Heyuan household-services hotline — demo",
        f"  database: {app.engine.url.render_as_string(hide_password=True)}",
        "  demo logins (console: coming with the agent console):",
    ]
    lines += [f"    {a.role.value:<10} {a.username:<10} password {a.password}" for a in DEMO_ACCOUNTS]
    return "\n".join(lines)


def _require_schema(app: AppContext) -> None:
    if migrate.current_revision(app.engine) != migrate.head_revision():
        raise click.ClickException("the database is not at the newest schema: run `hotline db upgrade` first")
    if app.settings.production:
        with transaction(app.sessions) as session:
            weak = demo_passwords_in_use(session)
        if weak:
            raise click.ClickException(
                f"production refuses to run while these accounts still have their demo password: {', '.join(weak)}"
            )


def main() -> None:
    try:
        cli(obj=AppContext())
    except ConfigError as exc:
        click.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
