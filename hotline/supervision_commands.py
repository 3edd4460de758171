"""`hotline regrade`: grade every provider by the rule, monthly from cron (分类定级)."""
from __future__ import annotations

import click

from hotline.context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.command("regrade")
@click.option("--rule", "rule_file", type=click.Path(dir_okay=False), default=None,
              help="The grading rule (default: config/grading.toml).")
@pass_app
def regrade_command(app: AppContext, rule_file: str | None) -> None:
    """Grade every provider by the rule and keep each result with its reasons.

    Supervisors' overrides expire here unless they were renewed. Meant to run monthly,
    e.g. from cron: 0 3 1 * * hotline regrade
    """
    from db.session import transaction
    from supervision.grading import regrade
    from supervision.rule import RuleError, load_rule

    app.require_schema()
    try:
        rule = load_rule(rule_file)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from None
    with transaction(app.sessions) as session:
        counts = regrade(session, rule)
    click.echo("regraded: {graded} graded, {ungraded} ungraded (too little evidence), {changed} changed, "
               "{kept} renewed overrides kept".format(**counts))
