"""Everything `make demo` runs in one process, also used by the console's browser test.

- EmulatedAsterisk: the emulator's AMI server and switch. Operators with an extension
  are logged into every queue; the emulator-only action HotlineEmulatorCall lets
  `hotline call --through-asterisk` place a call that goes IVR → queue → operator, so
  the AMI link sees it and the operator's console pops up.
- ConsoleServer: the Flask console on werkzeug's threaded server (gunicorn in production).
"""
from __future__ import annotations

import json
import threading

from werkzeug.serving import make_server

from emulator.agi_channel import CallSpec, parse_keys
from emulator.ami_server import AmiServer
from emulator.switch import Switch

CALL_ACTION = "HotlineEmulatorCall"


class EmulatedAsterisk:
    def __init__(self, ivr_address: tuple[str, int], settings, *, port: int | None = None, talk_seconds: float = 95):
        asterisk = settings.asterisk
        self.ivr_address = ivr_address
        self.ami = AmiServer(asterisk.ami_username, asterisk.ami_secret, host=asterisk.ami_host,
                             port=asterisk.ami_port if port is None else port)
        self.switch = Switch(self.ami, asterisk.queue_prefix, talk_seconds=talk_seconds)
        self.ami.custom_actions[CALL_ACTION.lower()] = self._call_action

    def start(self) -> "EmulatedAsterisk":
        self.ami.start()
        return self

    def stop(self) -> None:
        self.ami.stop()

    @property
    def port(self) -> int:
        return self.ami.port

    def log_in_operators(self, extensions: list[str], queues: list[str]) -> None:
        for queue in queues:
            members = self.ami.queue_members.setdefault(queue, {})
            for extension in extensions:
                members[f"PJSIP/{extension}"] = {"Paused": "0", "PausedReason": ""}

    def call(self, caller: str, keys: str):
        host, port = self.ivr_address
        return self.switch.call(CallSpec(caller=caller, host=host, port=port, events=parse_keys(keys)))

    def _call_action(self, action: dict[str, str]) -> dict[str, str]:
        switched = self.call(action.get("Caller", ""), action.get("Keys", ""))
        transcript = switched.transcript
        return {"Uniqueid": switched.uniqueid, "Queue": switched.queue or "", "Agent": switched.agent or "",
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
