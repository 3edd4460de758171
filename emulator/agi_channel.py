"""One emulated Asterisk channel running AGI: what res_agi sends and how it answers.

Sans-IO: `header()` is what Asterisk sends on connect; `on_command(line)` returns the
lines it answers. It reproduces ../shared/asterisk-facts.md: the agi_* header, reply
formats (`200 result=49`, `endpos=`, `(timeout)`, 510, multi-line 520), arguments split
on spaces unless quoted, `${VAR}` not expanded outside GET FULL VARIABLE, and a hangup
that answers `result=-1`, then puts a `HANGUP` line ahead of the next reply, after which
only dead-safe commands still succeed (others get 511).

The caller is a script of events (see parse_keys); time is virtual unless a client
chooses to sleep it.
"""
from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Callable

ASTERISK_VERSION = "22.10.1"
DEFAULT_PROMPT_MS = 2000
_uniqueids = itertools.count(1)

# Commands res_agi still runs on a hung-up channel (its `dead` flag).
DEAD_SAFE = ("SET VARIABLE", "GET VARIABLE", "GET FULL VARIABLE", "VERBOSE", "NOOP", "HANGUP",
             "DATABASE", "SET CONTEXT", "SET EXTENSION", "SET PRIORITY", "CHANNEL STATUS", "ASYNCAGI BREAK")
# name -> (min args after the name, max args, usage line)
COMMANDS: dict[str, tuple[int, int, str]] = {
    "ANSWER": (0, 0, "ANSWER"),
    "STREAM FILE": (2, 3, "STREAM FILE <filename> <escape_digits> [<sample offset>]"),
    "CONTROL STREAM FILE": (2, 7, "CONTROL STREAM FILE <filename> <escape_digits> [<skipms>] ..."),
    "WAIT FOR DIGIT": (1, 1, "WAIT FOR DIGIT <timeout>"),
    "GET DATA": (1, 3, "GET DATA <file to be streamed> [<timeout>] [<maxdigits>]"),
    "SAY DIGITS": (2, 2, "SAY DIGITS <number> <escape_digits>"),
    "SAY NUMBER": (2, 3, "SAY NUMBER <number> <escape_digits> [<gender>]"),
    "SET VARIABLE": (2, 2, "SET VARIABLE <variablename> <value>"),
    "GET VARIABLE": (1, 1, "GET VARIABLE <variablename>"),
    "GET FULL VARIABLE": (1, 2, "GET FULL VARIABLE <expression> [<channelname>]"),
    "EXEC": (1, 64, "EXEC <application> <options>"),
    "RECORD FILE": (4, 7, "RECORD FILE <filename> <format> <escape_digits> <timeout> [<offset samples>] [<BEEP>] [<s=silence>]"),
    "VERBOSE": (1, 2, "VERBOSE <message> <level>"),
    "NOOP": (0, 64, "NOOP"),
    "HANGUP": (0, 1, "HANGUP [<channelname>]"),
    "CHANNEL STATUS": (0, 1, "CHANNEL STATUS [<channelname>]"),
    "DATABASE PUT": (3, 3, "DATABASE PUT <family> <key> <value>"),
    "DATABASE GET": (2, 2, "DATABASE GET <family> <key>"),
    "SET CONTEXT": (1, 1, "SET CONTEXT <desired context>"),
    "SET EXTENSION": (1, 1, "SET EXTENSION <new extension>"),
    "SET PRIORITY": (1, 1, "SET PRIORITY <priority>"),
}
_LONGEST_FIRST = sorted(COMMANDS, key=lambda name: -len(name.split()))
KNOWN_APPS = {"UserEvent", "Playback", "Set", "Noop", "Wait", "MixMonitor", "SendDTMF", "Queue", "Hangup"}


@dataclass(frozen=True)
class CallerEvent:
    """What the caller does next: press a key, let a wait time out, or hang up.

    delay_ms None: after the prompts have finished (no barge-in); a number: that long
    after the previous event, interrupting a prompt if one is still playing.
    """

    kind: str  # "key" | "timeout" | "hangup"
    digit: str = ""
    delay_ms: int | None = None


_TOKEN = re.compile(r"^(?P<body>[0-9*#]+|-|t|h)(?:@(?P<delay>\d{1,6}))?$", re.IGNORECASE)


def parse_keys(script: str) -> list[CallerEvent]:
    """'2 1' two keys; '-' a timeout; 'h' hang up; '123#' keys in quick succession;
    '2@800' pressed 800 ms after the previous event (barging into a prompt)."""
    events: list[CallerEvent] = []
    for token in script.split():
        match = _TOKEN.match(token)
        if match is None:
            raise ValueError(f"bad key script token {token!r}: use digits, * and #, '-' (no key), 'h' (hang up), optionally @ms")
        body, delay = match.group("body").lower(), match.group("delay")
        delay_ms = int(delay) if delay is not None else None
        if body in ("-", "t"):
            events.append(CallerEvent("timeout", delay_ms=delay_ms))
        elif body == "h":
            events.append(CallerEvent("hangup", delay_ms=delay_ms))
        else:
            events.append(CallerEvent("key", body[0], delay_ms))
            events += [CallerEvent("key", digit, 150) for digit in body[1:]]
    return events


@dataclass
class CallSpec:
    caller: str = "13800138000"
    caller_name: str = ""
    did: str = "4008300762"
    script: str = "ivr"
    host: str = "127.0.0.1"
    port: int = 4573
    events: list[CallerEvent] = field(default_factory=list)
    # "sighup": a HANGUP line ahead of the next reply (FastAGI); "eof": the connection closes.
    hangup_style: str = "sighup"
    channel_type: str = "PJSIP"
    uniqueid: str = ""
    extra_header: dict[str, str] = field(default_factory=dict)
    # Channel variables already set when the AGI starts (e.g. by Queue(): QUEUEPOSITION).
    variables: dict[str, str] = field(default_factory=dict)
    # Asterisk's core sounds (its own `beep`) installed? A hotline need not have them.
    core_sounds: bool = False
    # RECORD FILE cannot write its file: Asterisk answers `200 result=-1 (writefile)`.
    record_fails: bool = False


@dataclass
class Transcript:
    events: list[tuple[int, str, str]] = field(default_factory=list)  # (ms, kind, detail)
    variables: dict[str, str] = field(default_factory=dict)
    agi_status: str = "SUCCESS"  # what ${AGISTATUS} would say to the dialplan
    # What RECORD FILE recorded: (file with its format's extension, milliseconds). Asterisk
    # would have written these files; whoever placed the call may (emulator/recordings.py).
    recorded: list[tuple[str, int]] = field(default_factory=list)

    @property
    def heard(self) -> list[str]:
        return [detail for _, kind, detail in self.events if kind == "heard"]

    @property
    def keys(self) -> list[str]:
        return [detail for _, kind, detail in self.events if kind == "key"]


def split_args(text: str) -> list[str]:
    """res_agi's parse_args: spaces split, double quotes group, backslash escapes."""
    args, current, quoted, escaped, started = [], [], False, False, False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped, started = False, True
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted, started = not quoted, True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
    if started:
        args.append("".join(current))
    return args


class AsteriskChannel:
    def __init__(self, spec: CallSpec, prompt_ms: Callable[[str], int] | None = None):
        self.spec = spec
        self.prompt_ms = prompt_ms or (lambda _path: DEFAULT_PROMPT_MS)
        self.events = list(spec.events)
        self.transcript = Transcript()
        self.now_ms = 0
        self.dead = False
        self.closed = False  # the client must close the connection now
        self._hangup_announced = False
        self.uniqueid = spec.uniqueid or f"{int(time.time())}.{next(_uniqueids)}"
        self.variables = {"CALLERID(num)": spec.caller, "CALLERID(name)": spec.caller_name,
                          "CHANNEL(language)": "en", "UNIQUEID": self.uniqueid, **spec.variables}

    # what Asterisk sends first ------------------------------------------------------------

    def header(self) -> str:
        spec = self.spec
        channel = f"{spec.channel_type}/trunk-{self.uniqueid.split('.')[-1].zfill(8)}"
        fields = {
            "agi_network": "yes",
            "agi_network_script": spec.script,
            "agi_request": f"agi://{spec.host}:{spec.port}/{spec.script}",
            "agi_channel": channel,
            "agi_language": "en",
            "agi_type": spec.channel_type,
            "agi_uniqueid": self.uniqueid,
            "agi_version": ASTERISK_VERSION,
            "agi_callerid": spec.caller or "unknown",
            "agi_calleridname": spec.caller_name or "unknown",
            "agi_callingpres": "0",
            "agi_callingani2": "0",
            "agi_callington": "0",
            "agi_callingtns": "0",
            "agi_dnid": spec.did,
            "agi_rdnis": "unknown",
            "agi_context": "hotline-inbound",
            "agi_extension": spec.did,
            "agi_priority": "3",
            "agi_enhanced": "0.0",
            "agi_accountcode": "",
            "agi_threadid": "139872634078912",
            **spec.extra_header,
        }
        return "".join(f"{key}: {value}\n" for key, value in fields.items()) + "\n"

    # answering a command ------------------------------------------------------------------

    def on_command(self, line: str) -> list[str]:
        """The reply lines to one command line (several for 520, a HANGUP line first)."""
        line = line.rstrip("\r\n")
        name, args = self._parse(line)
        prefix: list[str] = []
        if self.dead and not self._hangup_announced:
            self._hangup_announced = True
            prefix = ["HANGUP"]
        if name is None:
            return prefix + ["510 Invalid or unknown command"]
        lo, hi, usage = COMMANDS[name]
        if not lo <= len(args) <= hi:
            return prefix + ["520-Invalid command syntax.  Proper usage follows:", f"Usage: {usage}", "520 End of proper usage."]
        if self.dead and not name.startswith(DEAD_SAFE):
            return prefix + ["511 Command Not Permitted on a dead channel or intercept routine"]
        if not self.dead and self._hangup_is_next() and name in ("STREAM FILE", "CONTROL STREAM FILE", "WAIT FOR DIGIT", "GET DATA", "RECORD FILE"):
            return prefix + self._hang_up(name)
        method = getattr(self, "_cmd_" + name.lower().replace(" ", "_"))
        return prefix + method(args)

    def _parse(self, line: str) -> tuple[str | None, list[str]]:
        words = split_args(line)
        upper = [word.upper() for word in words]
        for name in _LONGEST_FIRST:
            size = len(name.split())
            if upper[:size] == name.split():
                return name, words[size:]
        return None, []

    def _hangup_is_next(self) -> bool:
        return bool(self.events) and self.events[0].kind == "hangup"

    def _hang_up(self, name: str) -> list[str]:
        event = self.events.pop(0)
        self.now_ms += event.delay_ms or 0
        self.dead = True
        self.transcript.agi_status = "HANGUP"
        self._log("hangup", "caller")
        if self.spec.hangup_style == "eof":
            self.closed = True
            return []
        if name in ("STREAM FILE", "CONTROL STREAM FILE"):
            return [f"200 result=-1 endpos={8 * (event.delay_ms or 0)}"]
        if name == "RECORD FILE":
            return ["200 result=-1 (hangup) endpos=0"]
        return ["200 result=-1"]

    def _log(self, kind: str, detail: str) -> None:
        self.transcript.events.append((self.now_ms, kind, detail))

    # playback and keys ---------------------------------------------------------------------

    def _play(self, path: str, escape: str) -> str:
        """Play a file; the key that interrupted it, or ''."""
        duration = self.prompt_ms(path)
        self._log("heard", path)
        if self.events and self.events[0].kind == "key" and self.events[0].delay_ms is not None:
            event = self.events[0]
            if event.delay_ms < duration and event.digit in escape:
                self.events.pop(0)
                self.now_ms += event.delay_ms
                self._log("key", event.digit)
                return event.digit
            self.events[0] = CallerEvent("key", event.digit, max(0, event.delay_ms - duration))
        self.now_ms += duration
        return ""

    def _wait_key(self, timeout_ms: int) -> str:
        if not self.events:
            self.now_ms += timeout_ms
            return ""
        event = self.events[0]
        delay = event.delay_ms if event.delay_ms is not None else 600
        if event.kind == "timeout":
            self.events.pop(0)
            self.now_ms += timeout_ms
            return ""
        if event.kind == "key" and delay <= timeout_ms:
            self.events.pop(0)
            self.now_ms += delay
            self._log("key", event.digit)
            return event.digit
        if event.kind == "key":
            self.events[0] = CallerEvent("key", event.digit, delay - timeout_ms)
        self.now_ms += timeout_ms
        return ""

    def _cmd_answer(self, args):
        return ["200 result=0"]

    def _cmd_stream_file(self, args):
        key = self._play(args[0], args[1])
        return [f"200 result={ord(key) if key else 0} endpos={8 * self.prompt_ms(args[0])}"]

    _cmd_control_stream_file = _cmd_stream_file

    def _cmd_wait_for_digit(self, args):
        try:
            timeout = int(args[0])
        except ValueError:
            return ["200 result=-1"]
        key = self._wait_key(timeout if timeout >= 0 else 10**9)
        return [f"200 result={ord(key) if key else 0}"]

    def _cmd_get_data(self, args):
        timeout = int(args[1]) if len(args) > 1 and args[1].isdigit() else 6000
        max_digits = int(args[2]) if len(args) > 2 and args[2].isdigit() else 1024
        digits = self._play(args[0], "0123456789*#")
        while len(digits) < max_digits and not digits.endswith("#"):
            key = self._wait_key(timeout)
            if not key:
                return [f"200 result={digits} (timeout)"]
            digits += key
        return [f"200 result={digits.rstrip('#')}"]

    def _cmd_say_digits(self, args):
        for digit in args[0]:
            self._log("heard", f"digits/{digit}")
        return ["200 result=0"]

    _cmd_say_number = _cmd_say_digits

    def _cmd_set_variable(self, args):
        self.variables[args[0]] = args[1]
        self.transcript.variables[args[0]] = args[1]
        self._log("set", f"{args[0]}={args[1]}")
        return ["200 result=1"]

    def _cmd_get_variable(self, args):
        if args[0] in self.variables and self.variables[args[0]] != "":
            return [f"200 result=1 ({self.variables[args[0]]})"]
        return ["200 result=0"]

    def _cmd_get_full_variable(self, args):
        expanded = re.sub(r"\$\{([^}]*)\}", lambda m: self.variables.get(m.group(1), ""), args[0])
        return [f"200 result=1 ({expanded})"]

    def _cmd_exec(self, args):
        app = args[0]
        self._log("exec", f"{app}({','.join(args[1:])})")
        return ["200 result=0"] if app in KNOWN_APPS else ["200 result=-2"]

    def _cmd_record_file(self, args):
        path, fmt, escape, timeout = args[0], args[1], args[2], int(args[3]) if args[3].lstrip("-").isdigit() else -1
        # res_agi.c: a 6th word that is neither the offset nor s=..., or any 7th that is
        # not s=..., asks for Asterisk's own sound "beep" in the channel's language.
        beep = ((len(args) > 4 and not args[4].lstrip("-").isdigit() and not args[4].startswith("s="))
                or (len(args) > 5 and not args[5].startswith("s=")))
        if beep and not self.spec.core_sounds:
            self._log("warning", "File beep does not exist in any format")
            return ["200 result=-1 (randomerror) endpos=0"]
        if beep:
            self._log("heard", "beep")
        if self.spec.record_fails:
            return ["200 result=-1 (writefile)"]
        self._log("record", f"{path}.{fmt}")
        event = self.events[0] if self.events else None
        if event is not None and event.kind == "timeout":
            self.events.pop(0)
            return ["200 result=0 (timeout) endpos=0"]
        if event is not None and event.kind == "key" and event.digit in escape:
            self.events.pop(0)
            spoken = event.delay_ms if event.delay_ms is not None else 8000
            self.now_ms += spoken
            self._log("key", event.digit)
            self.transcript.recorded.append((f"{path}.{fmt}", spoken))
            return [f"200 result={ord(event.digit)} (dtmf) endpos={8 * spoken}"]
        spoken = timeout if timeout > 0 else 60000
        self.now_ms += spoken
        self.transcript.recorded.append((f"{path}.{fmt}", spoken))
        return [f"200 result=0 (timeout) endpos={8 * spoken}"]

    def _cmd_verbose(self, args):
        return ["200 result=1"]

    def _cmd_noop(self, args):
        return ["200 result=0"]

    def _cmd_hangup(self, args):
        self.dead = True
        self.closed = True
        self._log("hangup", "ivr")
        return ["200 result=1"]

    def _cmd_channel_status(self, args):
        return ["200 result=6"]

    def _cmd_database_put(self, args):
        return ["200 result=1"]

    def _cmd_database_get(self, args):
        return ["200 result=0"]

    def _cmd_set_context(self, args):
        return ["200 result=0"]

    _cmd_set_extension = _cmd_set_context
    _cmd_set_priority = _cmd_set_context
