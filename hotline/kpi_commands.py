"""`hotline kpi rollup`: keep the KPI reports' daily tallies (kpi/rollup.py), e.g. nightly from cron."""
from __future__ import annotations

import datetime as dt

import click

from hotline.context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.group("kpi")
def kpi_group() -> None:
    """The supervisors' KPI reports (统计报表)."""


@kpi_group.command("rollup")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First local day to roll up (default: the first call's day).")
@click.option("--rebuild", is_flag=True, help="Rebuild every ended day from --since, settled or not.")
@pass_app
def rollup_command(app: AppContext, since: dt.datetime | None, rebuild: bool) -> None:
    """Roll up every ended day whose figures are not settled yet.

    A day settles 72 hours after it ends (first-contact resolution looks that far ahead);
    the reports read the days not settled from the raw rows, so running this nightly
    (e.g. cron: 30 2 * * * hotline kpi rollup) keeps a month's page fast.
    """
    from db.base import utcnow
    from db.session import transaction
    from kpi import rollup

    if rebuild and since is None:
        raise click.UsageError("--rebuild needs --since")
    app.require_schema()
    with transaction(app.sessions) as session:
        done = rollup.build(session, app.settings.tz, utcnow(), since.date() if since else None, rebuild)
    if done:
        click.echo(f"rolled up {len(done)} days, {done[0]} to {done[-1]}")
    else:
        click.echo("nothing to roll up: every ended day is settled")
