"""`hotline kpi rollup`: keep the daily tallies the reports read, the KPI reports' (kpi/rollup.py) and the
industry report's (db/request_tallies.py), e.g. nightly from cron."""
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
              help="First local day to roll up (default: the first call's day, the first request's).")
@click.option("--rebuild", is_flag=True, help="Rebuild every ended day from --since, settled or not.")
@pass_app
def rollup_command(app: AppContext, since: dt.datetime | None, rebuild: bool) -> None:
    """Roll up every ended day whose figures are not settled yet, and every day of
    requests and surveys not tallied yet or changed since.

    A day of calls settles 72 hours after it ends (first-contact resolution looks that far
    ahead); a day of requests is rebuilt whenever one of its requests, offers or surveys
    changed. The reports read the other days from the raw rows, so running this nightly
    (e.g. cron: 30 2 * * * hotline kpi rollup) keeps a month's KPI page and a year's
    industry report fast.
    """
    from db import request_tallies
    from db.base import utcnow
    from db.session import transaction
    from kpi import rollup

    if rebuild and since is None:
        raise click.UsageError("--rebuild needs --since")
    app.require_schema()
    first = since.date() if since else None
    with transaction(app.sessions) as session:
        calls = rollup.build(session, app.settings.tz, utcnow(), first, rebuild)
        requests = request_tallies.build(session, app.settings.tz, utcnow(), first, rebuild)
    _say("calls", calls, "every ended day is settled")
    _say("requests and surveys", requests, "every ended day is tallied and unchanged")


def _say(what: str, done: list[dt.date], otherwise: str) -> None:
    if done:
        click.echo(f"{what}: rolled up {len(done)} days, {done[0]} to {done[-1]}")
    else:
        click.echo(f"{what}: nothing to roll up, {otherwise}")
