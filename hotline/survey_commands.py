"""`hotline dialer`: the satisfaction-survey dialer, as its own process."""
from __future__ import annotations

import signal

import click

from hotline.context import AppContext

pass_app = click.make_pass_decorator(AppContext)


@click.command("dialer")
@click.option("--name", help="This dialer's name in claims (default: a random one).")
@pass_app
def dialer_command(app: AppContext, name: str | None) -> None:
    """Call due satisfaction surveys through Asterisk until SIGTERM (several may run)."""
    from telephony.ami import AmiLink
    from surveys.dialer import SurveyDialer
    from surveys.policy import SurveyPolicy

    app.require_schema()
    settings = app.settings
    menu = app.menu
    asterisk = settings.asterisk
    link = AmiLink(asterisk.ami_host, asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret, event_mask="call")
    dialer = SurveyDialer(app.sessions, link, SurveyPolicy.from_settings(settings, menu), name=name,
                          caller_id=settings.phone.hotline_number, ring_seconds=settings.survey.ring_seconds)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: dialer.stop())
    click.echo(f"survey dialer {dialer.name}: AMI {asterisk.ami_host}:{asterisk.ami_port}, "
               f"at most {settings.survey.max_channels} calls at once, {settings.survey.calls_per_second:g}/s")
    dialer.run()
    click.echo(f"survey dialer {dialer.name} stopped after {dialer.dialled} call(s)")
