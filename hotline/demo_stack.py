"""Everything `make demo` runs in one process, also used by the console's browser test.

IVR, emulated Asterisk, AMI link, console, survey dialer (and the SMS sender when
Twilio credentials are set).

- EmulatedAsterisk: the emulator's AMI server and switch. Operators with an extension
  are logged into every queue; the emulator-only action HotlineEmulatorCall lets
  `hotline call --through-asterisk` place a call that goes IVR → queue → operator, so
  the AMI link sees it and the operator's console pops up.
- ConsoleServer: the Flask console on werkzeug's threaded server (gunicorn in production).
"""
from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass, field

from werkzeug.serving import make_server

from dialplans import contract
from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.fastagi_client import place_call
from emulator.recordings import write_recorded
from emulator.switch import CALL_ACTION, Switch


# The longest a demo caller may be told to wait in a queue (`hotline call --wait-in-queue`).
MAX_WAIT_IN_QUEUE = 240


def demo_settings(settings):
    """The settings as the demo uses them: calls recorded in the demo's own folder
    (<app.data_dir>/recordings), unless a recordings_dir was configured. The shipped one
    is Asterisk's spool, which the emulator cannot, and must not, write to."""
    from config import Settings
    from config.settings import DEFAULTS_FILE, SCHEMA

    key = "asterisk.recordings_dir"
    if settings.production or settings.sources.get(key) != DEFAULTS_FILE.name:
        return settings
    values = {name: settings.get(name) for name in SCHEMA}
    values[key] = str(settings.data_path("recordings").resolve())
    return Settings(values, {**settings.sources, key: "demo"})


class EmulatedAsterisk:
    def __init__(self, ivr_address: tuple[str, int], settings, *, port: int | None = None, talk_seconds: float = 95,
                 menu=None):
        """With the IVR menu, its queues are routed as the rendered dialplan routes them
        (by language); without it, a caller queues in hotline-<queue>."""
        from dialplans.render import asterisk_queues, caller_route

        settings = demo_settings(settings)
        asterisk = settings.asterisk
        self.ivr_address = ivr_address
        self.ami = AmiServer(asterisk.ami_username, asterisk.ami_secret, host=asterisk.ami_host,
                             port=asterisk.ami_port if port is None else port)
        if menu is not None:  # queues.conf's queues, as QueueStatus lists them
            self.ami.queue_params = {q.asterisk_name: (q.strategy, q.weight) for q in asterisk_queues(menu, asterisk)}
        self.switch = Switch(self.ami, asterisk.queue_prefix, talk_seconds=talk_seconds,
                             wrapup_seconds=asterisk.wrapup_seconds, recordings_dir=asterisk.recordings_dir,
                             timezone=settings.app.timezone, callback_offer_after=asterisk.callback_offer_after,
                             write_recordings=True,
                             routes=None if menu is None else (lambda queue, language: caller_route(menu, asterisk, queue, language)))
        self.ami.custom_actions[CALL_ACTION.lower()] = self._call_action
        self.ami.on_answered = self._answered
        # How each number answers a survey call (keys); others rate 5 and leave no comment.
        self.survey_answers: dict[str, str] = {}
        self.survey_transcripts: list = []

    def start(self) -> "EmulatedAsterisk":
        self.ami.start()
        return self

    def stop(self) -> None:
        self.ami.stop()

    @property
    def port(self) -> int:
        return self.ami.port

    def log_in_operators(self, extensions: list[str], queues: list[str], penalties: dict | None = None) -> None:
        """penalties: (extension, queue) -> the member's penalty there (default 0)."""
        for queue in queues:
            members = self.ami.queue_members.setdefault(queue, {})
            for extension in extensions:
                penalty = (penalties or {}).get((extension, queue), 0)
                members[f"PJSIP/{extension}"] = {"Paused": "0", "PausedReason": "", "Penalty": str(penalty)}

    def call(self, caller: str, keys: str, at: dt.datetime | None = None, wait_in_queue: float | None = None,
             hold: threading.Event | None = None):
        """wait_in_queue: nobody answers; the caller waits in the queue that many seconds in
        real time, or until `hold` is set (Switch.call): the wallboard shows them waiting."""
        host, port = self.ivr_address
        return self.switch.call(CallSpec(caller=caller, host=host, port=port, events=parse_keys(keys),
                                         script=contract.ivr_script(at)), wait_in_queue=wait_in_queue, hold=hold)

    def _answered(self, action: dict[str, str]) -> None:
        """An answered Originate runs its context; for a survey call, the survey AGI."""
        if action.get("Context") != contract.SURVEY_CONTEXT:
            return
        variables = dict(item.split("=", 1) for item in action.get("Variable", "").split(",") if "=" in item)
        phone = action.get("Channel", "").removeprefix("PJSIP/").split("@", 1)[0]
        host, port = self.ivr_address
        spec = CallSpec(caller=phone, host=host, port=port, script=contract.SURVEY_SCRIPT, variables=variables,
                        events=parse_keys(self.survey_answers.get(phone, "5 2")))
        transcript = place_call(spec)
        write_recorded(transcript)  # the caller's comment, where Asterisk would record it
        self.survey_transcripts.append(transcript)

    def _call_action(self, action: dict[str, str]) -> dict[str, str]:
        try:
            at = dt.datetime.strptime(action["At"], contract.DEMO_CLOCK_FORMAT) if action.get("At") else None
        except ValueError:
            raise ValueError(f"At must be a local time {contract.DEMO_CLOCK_FORMAT}") from None
        try:
            wait = float(action["WaitInQueue"]) if action.get("WaitInQueue") else None
        except ValueError:
            raise ValueError("WaitInQueue must be a number of seconds") from None
        if wait is not None and not 0 < wait <= MAX_WAIT_IN_QUEUE:
            raise ValueError(f"WaitInQueue must be from 1 to {MAX_WAIT_IN_QUEUE} seconds")
        switched = self.call(action.get("Caller", ""), action.get("Keys", ""), at, wait_in_queue=wait)
        transcript = switched.transcript
        return {"Uniqueid": switched.uniqueid, "Queue": switched.queue or "", "Agent": switched.agent or "",
                "OfferedAfter": "" if switched.offered_after is None else f"{switched.offered_after:.0f}",
                "Transcript": json.dumps({"events": transcript.events, "variables": transcript.variables,
                                         "agi_status": transcript.agi_status}, ensure_ascii=True)}


class ConsoleServer:
    def __init__(self, app, host: str, port: int):
        self._server = make_server(host, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "ConsoleServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


@dataclass
class DemoStack:
    ivr: object
    asterisk: EmulatedAsterisk
    ami: object
    console: ConsoleServer
    operators: list[str]
    sms_sender: object | None = None
    dialer: object | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    def stop(self) -> None:
        self.ivr.shutdown_begun()  # before the rest stops: the signal reached the IVR's writer too
        self.console.stop()
        if self.sms_sender is not None:
            self.sms_sender.stop()
        self.ami.stop()
        if self.dialer is not None:
            self.dialer.stop()
        for thread in self.threads:
            thread.join(10)
        self.asterisk.stop()
        self.ivr.stop(grace=5.0)


def start_demo_stack(app) -> DemoStack:
    """IVR, emulated Asterisk, AMI link, console (and the SMS sender when configured)."""
    import click
    from sqlalchemy import select

    from agent_console import create_app
    from agent_console.services import ConsoleServices
    from db.models import User
    from db.languages import penalty
    from dialplans.render import asterisk_queues
    from hotline.ivr_commands import start_ivr_server
    from telephony.pop_bus import InProcessBus
    from sms.gateway import SmsSender, gateway_from_settings
    from telephony.ami import AmiLink
    from telephony.ami_service import AmiService
    from surveys.dialer import SurveyDialer
    from surveys.policy import SurveyPolicy

    from hotline.console_commands import check_wallboard_queues

    check_wallboard_queues(app)
    settings = demo_settings(app.settings)  # the console finds the calls' recordings there
    menu = app.menu
    # The demo lets `hotline call --at` try after-hours service by day.
    ivr = start_ivr_server(app, demo_clock=not settings.production)
    try:
        asterisk = EmulatedAsterisk(ivr.address, settings, menu=menu).start()
    except OSError as exc:
        ivr.stop(grace=0)
        raise click.ClickException(f"cannot emulate Asterisk's manager on port {settings.asterisk.ami_port}: {exc}") from None
    queues = asterisk_queues(menu, settings.asterisk)
    with app.sessions() as session:
        users = session.scalars(select(User).where(User.sip_extension.is_not(None), User.active)).all()
        operators = sorted(user.sip_extension for user in users)
        # As the desk's login would: a penalty by how well each speaks each queue's language.
        penalties = {(user.sip_extension, q.asterisk_name): penalty(user, q.language) for user in users for q in queues}
    asterisk.log_in_operators(operators, [q.asterisk_name for q in queues], penalties)
    bus = InProcessBus()  # one process: the AMI link hands pops straight to the console
    ami = AmiService.from_settings(settings, app.sessions, settings.asterisk.ami_host, asterisk.port, pop_bus=bus,
                                   default_language=menu.default_language)
    ami_thread = threading.Thread(target=ami.run, name="ami-service", daemon=True)
    ami_thread.start()
    try:
        console = ConsoleServer(create_app(services=ConsoleServices(settings, app.sessions, bus)),
                                settings.console.host, settings.console.port).start()
    except OSError as exc:
        ami.stop()
        asterisk.stop()
        ivr.stop(grace=0)
        raise click.ClickException(f"cannot serve the console on port {settings.console.port}: {exc}") from None
    gateway = gateway_from_settings(settings)
    sender = SmsSender(app.sessions, gateway, settings).start() if gateway else None
    # Survey calls go to the emulated Asterisk, where the callee answers and rates 5.
    link = AmiLink(settings.asterisk.ami_host, asterisk.port, settings.asterisk.ami_username,
                   settings.asterisk.ami_secret, event_mask="call")
    dialer = SurveyDialer(app.sessions, link, SurveyPolicy.from_settings(settings, menu), name="demo-dialer",
                          caller_id=settings.phone.hotline_number, ring_seconds=settings.survey.ring_seconds)
    dialer_thread = threading.Thread(target=dialer.run, name="survey-dialer", daemon=True)
    dialer_thread.start()
    return DemoStack(ivr, asterisk, ami, console, operators, sender, dialer, [ami_thread, dialer_thread])
