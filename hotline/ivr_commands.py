"""`hotline ivr`, `hotline call`, `hotline prompts build`."""
from __future__ import annotations

import datetime as dt
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from db.models import Provider
from dialplans import contract
from hotline.context import AppContext
from ivr.engine import provider_prompt
from ivr.handlers import handler_table
from ivr.menu import MenuError
from ivr.prompt_build import PromptBuildError, build_prompts, tasks_for
from ivr.prompts import load_manifest
from ivr.server import FastAGIServer, tune_interpreter
from ivr.services import IvrServices

if TYPE_CHECKING:
    from emulator.agi_channel import Transcript
    from emulator.prompt_texts import PromptTexts

pass_app = click.make_pass_decorator(AppContext)
# The files that speak providers' names: names/provider_<id>.
_NAME_PROMPTS = provider_prompt(0).rsplit("_", 1)[0]


def start_ivr_server(app: AppContext, port: int | None = None, *, demo_clock: bool | None = None) -> FastAGIServer:
    """demo_clock: honour `hotline call --at` (default: the ivr.demo_clock setting)."""
    settings = app.settings
    overrides = {} if demo_clock is None else {"demo_clock": demo_clock}
    try:
        services = IvrServices.from_settings(settings, app.sessions, **overrides)
    except MenuError as exc:
        raise click.ClickException(f"IVR menu: {exc}") from None
    server = FastAGIServer(
        handler_table(services),
        services.fallback_variables(),
        settings.ivr.host,
        settings.ivr.port if port is None else port,
        header_timeout=settings.ivr.header_timeout,
        command_timeout=settings.ivr.command_timeout,
        backlog=settings.ivr.backlog,
        max_connections=settings.ivr.max_connections,
    )
    server.on_stopping.append(services.closing)
    server.on_stopped.append(services.close)
    tune_interpreter()
    return server.start()


def serve_until_signalled(server: FastAGIServer, grace: float) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    click.echo(f"stopping: no new calls; {server.live_calls} live call(s) get up to {grace:.0f} s")
    cut = server.stop(grace)
    click.echo(f"stopped ({cut} call(s) cut)")


@click.command("ivr")
@click.option("--port", type=int, help="Override ivr.port (0: any free port).")
@pass_app
def ivr_command(app: AppContext, port: int | None) -> None:
    """Serve the FastAGI IVR until SIGTERM (live calls may finish)."""
    app.require_schema()
    server = start_ivr_server(app, port)
    host, bound = server.address
    click.echo(f"FastAGI IVR listening on {host}:{bound} (dialplan: AGI(agi://{host}:{bound}/ivr))")
    serve_until_signalled(server, app.settings.ivr.shutdown_grace)


@click.command("call")
@click.option("--from", "caller", default="13800138000", show_default=True, help="Caller ID ('anonymous' for none).")
@click.option("--keys", default="", help="What the caller does: '2 1' keys, '-' no key, 'h' hang up, '2@800' barge in after 800 ms.")
@click.option("--to", "did", help="The number dialled (default: phone.hotline_number).")
@click.option("--host", help="FastAGI host (default: ivr.host).")
@click.option("--port", type=int, help="FastAGI port (default: ivr.port).")
@click.option("--hangup-style", type=click.Choice(["sighup", "eof"]), default="sighup", show_default=True,
              help="How Asterisk tells of a hangup: a HANGUP line, or closing the connection.")
@click.option("--through-asterisk", is_flag=True,
              help="Ask the demo's emulated Asterisk to place it: IVR, then queue and operator, seen on AMI.")
@click.option("--wait-in-queue", type=click.IntRange(1, 240), metavar="SECONDS",
              help="With --through-asterisk: nobody answers; the caller waits in the queue this long in real "
                   "time (the supervisors' wallboard shows them waiting), then gives up.")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d %H:%M"]),
              help="Local time (app.timezone) the IVR judges business hours by, e.g. '2026-12-01 21:30'; "
                   "honoured by `hotline demo` (ivr.demo_clock), never in production.")
@pass_app
def call_command(app: AppContext, caller: str, keys: str, did: str | None, host: str | None, port: int | None,
                 hangup_style: str, through_asterisk: bool, wait_in_queue: int | None, at: dt.datetime | None) -> None:
    """Place a simulated call through the running IVR and print what the caller heard."""
    from emulator.agi_channel import CallSpec, parse_keys
    from emulator.fastagi_client import place_call
    from emulator.recordings import write_recorded

    settings = app.settings
    try:
        events = parse_keys(keys)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--keys") from None
    if through_asterisk:
        click.echo(_call_through_asterisk(app, caller, keys, at, wait_in_queue))
        return
    if wait_in_queue is not None:
        raise click.BadParameter("only a call placed --through-asterisk reaches a queue", param_hint="--wait-in-queue")
    spec = CallSpec(caller=caller, did=did or settings.phone.hotline_number, host=host or settings.ivr.host,
                    port=port or settings.ivr.port, events=events, hangup_style=hangup_style, script=contract.ivr_script(at))
    transcript = place_call(spec)
    write_recorded(transcript)  # a voicemail left: a short tone where Asterisk would record it
    if transcript.agi_status == "FAILURE":
        raise click.ClickException(
            f"no FastAGI server at {spec.host}:{spec.port} (AGISTATUS=FAILURE: Asterisk's dialplan would go "
            "straight to the operator queue). Start one with `hotline ivr`."
        )
    click.echo(render_transcript(transcript, _prompt_texts(app, transcript), at))


def _call_through_asterisk(app: AppContext, caller: str, keys: str, at: dt.datetime | None,
                           wait_in_queue: int | None = None) -> str:
    import json

    from emulator.agi_channel import Transcript
    from emulator.switch import CALL_ACTION
    from telephony.ami import AmiError, AmiLink

    asterisk = app.settings.asterisk
    link = AmiLink(asterisk.ami_host, asterisk.ami_port, asterisk.ami_username, asterisk.ami_secret,
                   event_mask="off", reply_timeout=300).start()
    try:
        if not link.wait_connected(3):
            raise click.ClickException(f"no Asterisk manager at {asterisk.ami_host}:{asterisk.ami_port}: "
                                       "start `make demo` (its emulated Asterisk) first")
        reply = link.action(CALL_ACTION, Caller=caller, Keys=keys,
                            **({"At": f"{at:{contract.DEMO_CLOCK_FORMAT}}"} if at is not None else {}),
                            **({"WaitInQueue": str(wait_in_queue)} if wait_in_queue else {}))
    except AmiError as exc:
        raise click.ClickException(f"the emulated Asterisk could not place the call: {exc}") from None
    finally:
        link.stop()
    recorded = json.loads(reply.get("Transcript", "{}"))
    transcript = Transcript([tuple(event) for event in recorded.get("events", [])], recorded.get("variables", {}),
                            recorded.get("agi_status", "SUCCESS"))
    offered = f" (offered after {reply['OfferedAfter']} s)" if reply.get("OfferedAfter") else ""
    route = (f"queued in {reply['Queue']}, answered by {reply['Agent']}{offered}" if reply.get("Agent")
             else f"queued in {reply['Queue']}, nobody answered" if reply.get("Queue") else "did not reach a queue")
    return f"{render_transcript(transcript, _prompt_texts(app, transcript), at)}\ncall {reply.get('Uniqueid')}: {route}"


def render_transcript(transcript: Transcript, texts: PromptTexts | None = None, at: dt.datetime | None = None) -> str:
    from emulator.prompt_texts import PromptTexts

    texts = texts or PromptTexts(load_manifest())
    lines = [f"clock: {at:%Y-%m-%d %H:%M} (--at)"] if at is not None else []
    for ms, kind, detail in transcript.events:
        stamp = f"{ms / 1000:7.1f}s"
        if kind == "heard":
            language, text = texts.heard(detail)
            lines.append(f"{stamp}  heard  [{language}] {text}")
        elif kind == "key":
            lines.append(f"{stamp}  key    {detail}")
        elif kind == "hangup":
            lines.append(f"{stamp}  hangup by the {detail}")
        elif kind == "record":
            lines.append(f"{stamp}  record {detail}")
    variables = transcript.variables
    if transcript.agi_status == "HANGUP":
        ending = "the caller hung up in the IVR"
    elif variables.get(contract.NEXT) == contract.NEXT_QUEUE:
        ending = (f"to queue {variables.get(contract.QUEUE)} (intent {variables.get(contract.INTENT)}, "
                  f"category {variables.get(contract.CATEGORY) or '-'}, priority {variables.get(contract.PRIORITY)}, "
                  f"language {variables.get(contract.LANG)})")
    elif variables.get(contract.NEXT) == contract.NEXT_HANGUP:
        ending = "the IVR finished the call (voicemail or callback booked)"
    else:
        ending = "back to the dialplan without a route: its fallback queues the caller for an operator"
    lines.append(f"ended: {ending}; AGISTATUS={transcript.agi_status}")
    if at is not None and variables and contract.DEMO_AT not in variables:
        lines.append("note: the IVR ignored --at and used its own clock (it honours --at only with "
                     "ivr.demo_clock = true, as `hotline demo` sets; never in production)")
    if variables:
        lines.append("variables: " + " ".join(f"{k}={v}" for k, v in variables.items()))
    return "\n".join(lines)


def _prompt_texts(app: AppContext, transcript: Transcript) -> PromptTexts:
    """The manifest's texts and, if the caller heard any, the providers' names as
    `hotline prompts build` speaks them."""
    names: dict[str, str] = {}
    if any(_NAME_PROMPTS in path for path in transcript.heard):
        try:
            names = _provider_names(app)
        except (click.ClickException, SQLAlchemyError):
            pass  # no usable database here: names are shown by their prompt key
    from emulator.prompt_texts import PromptTexts

    return PromptTexts(load_manifest(), names)


@click.group("prompts")
def prompts_group() -> None:
    """IVR prompt audio."""


@prompts_group.command("build")
@click.option("--force", is_flag=True, help="Rebuild files that are up to date.")
@click.option("--names/--no-names", default=True, show_default=True, help="Also speak the providers' names (needs the database).")
@pass_app
def prompts_build(app: AppContext, force: bool, names: bool) -> None:
    """Speak every prompt in Mandarin, Cantonese and Hakka (espeak-ng, sox → 8 kHz mono)."""
    settings = app.settings
    name_texts = _provider_names(app) if names else {}
    tasks = tasks_for(load_manifest(), name_texts)
    out_dir, override_dir = Path(settings.ivr.sounds_dir), Path(settings.ivr.prompt_override_dir)
    try:
        with click.progressbar(length=len(tasks), label="building prompts", show_pos=True) as bar:
            report = build_prompts(tasks, out_dir, override_dir, force=force, on_done=lambda _task: bar.update(1))
    except PromptBuildError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{out_dir}: {len(report.built)} spoken, {len(report.overridden)} from recordings, "
               f"{len(report.skipped)} up to date")


def _provider_names(app: AppContext) -> dict[str, str]:
    app.require_schema()
    with app.sessions() as session:
        return {provider_prompt(p.id): p.name for p in session.scalars(select(Provider))}


@click.command("asterisk-config")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write the files to (then copy them into /etc/asterisk).")
@click.option("--show-sip-passwords", is_flag=True, help="Print each softphone's SIP password.")
@pass_app
def asterisk_config_command(app: AppContext, out_dir: Path, show_sip_passwords: bool) -> None:
    """Render Asterisk's configuration (dialplan, queues and their rules, PJSIP, AMI, hold music)."""
    from dialplans import render

    app.require_schema()
    settings = app.settings
    services_menu = app.menu
    with app.sessions() as session:
        phones = render.soft_phones(session, settings.app.secret_key)
    for path in render.write(render.render(settings, services_menu, phones), out_dir):
        click.echo(f"wrote {path}")
    click.echo(f"{len(phones)} softphone(s); queues: "
               + ", ".join(q.asterisk_name for q in render.asterisk_queues(services_menu, settings.asterisk)))
    if show_sip_passwords:
        for phone in phones:
            click.echo(f"  {phone.extension}  {phone.display_name}  password {phone.password}")


@click.command("ami")
@pass_app
def ami_command(app: AppContext) -> None:
    """Follow every call through Asterisk's manager interface until SIGTERM."""
    from telephony.pop_bus import bus_from_settings
    from telephony.ami_service import AmiService

    app.require_schema()
    settings = app.settings
    if not settings.console.redis_url:
        click.echo("console.redis_url is empty: screen pops cannot reach console processes (set it to Redis)", err=True)
    service = AmiService.from_settings(settings, app.sessions, settings.asterisk.ami_host, settings.asterisk.ami_port,
                                       pop_bus=bus_from_settings(settings),
                                       default_language=app.menu.default_language)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: service.stop())
    click.echo(f"AMI link to {settings.asterisk.ami_host}:{settings.asterisk.ami_port} as {settings.asterisk.ami_username}")
    service.run()
    click.echo("AMI link stopped")
