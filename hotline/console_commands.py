"""`hotline console` (gunicorn) and `hotline sms` (the outbox sender) for production."""
from __future__ import annotations

import signal
import threading

import click

from hotline.context import AppContext

pass_app = click.make_pass_decorator(AppContext)


def check_wallboard_queues(app: AppContext) -> None:
    """A wallboard threshold for a queue the IVR menu does not have is a typo: say so at start."""
    from telephony.wallboard import unknown_queues

    unknown = unknown_queues(app.settings.wallboard.red_after_by_queue, app.menu.queue_titles)
    if unknown:
        raise click.ClickException(
            f"setting wallboard.red_after_by_queue names {', '.join(unknown)}, which the IVR menu's [queues] "
            f"do not have (they are: {', '.join(sorted(app.menu.queue_titles))})")


@click.command("console")
@click.option("--port", type=int, help="Override console.port.")
@pass_app
def console_command(app: AppContext, port: int | None) -> None:
    """Serve the agent console with gunicorn (threaded workers: screen pops are long-lived streams)."""
    from gunicorn.app.base import BaseApplication

    app.require_schema()
    settings = app.settings
    if settings.console.workers > 1 and not settings.console.redis_url:
        raise click.ClickException("several console workers need console.redis_url for screen pops "
                                   "(or set console.workers = 1)")
    check_wallboard_queues(app)

    class Gunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{settings.console.host}:{port or settings.console.port}")
            self.cfg.set("workers", settings.console.workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", 32)
            self.cfg.set("timeout", 60)
            # Screen-pop streams never end by themselves: on SIGTERM give them a few
            # seconds, then go (browsers reconnect to the next server by themselves).
            self.cfg.set("graceful_timeout", 5)
            self.cfg.set("accesslog", "-")

        def load(self):
            from agent_console import create_app
            return create_app(settings=settings)

    Gunicorn().run()


@click.command("sms")
@pass_app
def sms_command(app: AppContext) -> None:
    """Send the SMS outbox through Twilio until SIGTERM (needs sms.account_sid etc.)."""
    from sms.gateway import SmsSender, gateway_from_settings

    app.require_schema()
    gateway = gateway_from_settings(app.settings)
    if gateway is None:
        raise click.ClickException("no SMS gateway configured (sms.account_sid, sms.auth_token, sms.from_number): "
                                   "messages stay in the console's outbox")
    sender = SmsSender(app.sessions, gateway, app.settings).start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    click.echo("sending the SMS outbox")
    stop.wait()
    sender.stop()
