"""AGI over a FastAGI socket, through pyst2's AGI class with its defects contained.

pyst2 0.5.1 (../shared/library-notes.md) as shipped:
- installs a SIGHUP handler in __init__: ValueError in any thread but the main one;
- wants text-mode files and echoes every command and reply to stderr;
- reads a `HANGUP` line that Asterisk sends ahead of a reply as a reply, and dies with
  ValueError; raises AGIAppError for `200 result=-1` and AGIUnknownError for `511`;
- loops forever when the connection closes inside a multi-line `520` reply;
- quotes arguments without escaping embedded double quotes (and leaves file names of
  STREAM FILE unquoted), so a space or a quote in a value silently cuts it short.
HotlineAGI keeps pyst2's command methods and replaces the parts above. Every way the
caller can be gone (HANGUP line, result=-1 where it means hangup, 511, EOF, a reset
socket) becomes one exception: CallerGone.
"""
from __future__ import annotations

import logging
import re
import socket
import time

from asterisk import agi as pyst2_agi

from ivr import hub
# Imported by name: they run at every command, and a module attribute would cost a look-up more.
from ivr.agi_wire import DTMF_KEYS, KEYS, command_line, line_of, quoted, reply_fields, set_variable_line, stream_file_line

log = logging.getLogger(__name__)

MAX_LINE = 8192
MAX_HEADER_LINES = 128
HANGUP_LINE = "HANGUP"


class CallerGone(Exception):
    """The caller hung up or Asterisk went away: stop talking, do the bookkeeping."""


class RecordFailed(pyst2_agi.AGIError):
    """RECORD FILE failed with the caller still on the line: no message can be kept, so
    the call goes to the operator fallback rather than end."""


class AGIProtocolError(pyst2_agi.AGIError):
    """Asterisk said something that is not AGI: the call goes to the operator fallback."""


class HeaderError(Exception):
    """The connection did not send a complete, well-formed AGI header in time."""


class SocketLines:
    """Line-oriented UTF-8 text I/O over a socket: the file objects pyst2 expects.

    The socket is non-blocking and every wait goes through the call hub (ivr.hub), so a
    call that waits for Asterisk holds no thread. Reads never hang past `timeout`
    (CallerGone), lines are bounded, and bytes that are not UTF-8 are replaced rather
    than fatal.
    """

    def __init__(self, sock: socket.socket, timeout: float):
        self.sock = sock
        self.timeout = timeout
        self._buffer = bytearray()
        self._eof = False
        sock.setblocking(False)

    def readline(self, deadline: float | None = None) -> str:
        """One line without its end; '' at end of stream."""
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return raw.rstrip(b"\r").decode("utf-8", errors="replace") + "\n"
            if self._eof:
                return ""
            if len(self._buffer) > MAX_LINE:
                raise AGIProtocolError(f"line longer than {MAX_LINE} bytes")
            self._fill(deadline)

    def _fill(self, deadline: float | None) -> None:
        if deadline is None:
            deadline = time.monotonic() + self.timeout
        while True:
            # Wait first: after a command the reply is never there yet, and a recv that
            # fails with EAGAIN would cost a system call a command.
            hub.wait_readable(self.sock, deadline)
            try:
                chunk = self.sock.recv(65536)
                break
            except BlockingIOError:
                continue  # woken without data
        if not chunk:
            self._eof = True
        self._buffer += chunk

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8"))
        while data:
            try:
                data = data[self.sock.send(data):]
            except BlockingIOError:
                hub.wait_writable(self.sock, time.monotonic() + self.timeout)

    def flush(self) -> None:
        """Writes are unbuffered; pyst2 calls flush after each command."""


class _Discard:
    """Where pyst2's debugging echo goes."""

    def write(self, _text: str) -> None:
        pass

    def flush(self) -> None:
        pass


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def read_header(lines: SocketLines, timeout: float) -> dict[str, str]:
    """The agi_* lines up to the blank line, within `timeout` seconds in total.

    Values come without control characters (bytes that are not UTF-8 are already
    replaced by SocketLines); how long a value may be is for its user to say (the call
    log cuts what it stores to its columns' sizes).

    A slow sender gets the same deadline as a silent one: a port probe costs one socket
    for at most `timeout`.
    """
    deadline = time.monotonic() + timeout
    env: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        line = lines.readline(deadline)
        if line == "":
            raise HeaderError("connection closed before the end of the AGI header")
        line = line.rstrip("\n")
        if line == "":
            if "agi_network_script" not in env and "agi_request" not in env:
                raise HeaderError("AGI header without agi_network_script or agi_request")
            return env
        if not line.isprintable():
            line = _CONTROL.sub("", line)  # a NUL or an escape sequence is no part of a value
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise HeaderError(f"not an AGI header line: {line[:80]!r}")
        env[key.strip()] = value.strip()
    raise HeaderError(f"AGI header longer than {MAX_HEADER_LINES} lines")


_HANGUP_ANNOUNCED = (HANGUP_LINE + "\n", HANGUP_LINE)
_CODE = re.compile(r"^(\d{3})([ -])(.*)$")


class HotlineAGI(pyst2_agi.AGI):
    """pyst2's AGI with its defects contained (see the module docstring)."""

    # Commands whose `result=-1` means the channel hung up, not that something was missing.
    # Not RECORD FILE: its -1 says why ("(hangup)", or "(randomerror)" when the beep is
    # missing, "(writefile)"...), and a HANGUP line comes first when the caller left.
    _HANGUP_ON_MINUS_ONE = ("WAIT FOR DIGIT", "GET DATA", "ANSWER")

    def __init__(self, lines: SocketLines, env: dict[str, str]):
        # pyst2's __init__ would install a SIGHUP handler (fails off the main thread),
        # echo to stderr and read the header without a deadline: set its fields instead.
        self.stdin = lines
        self.stdout = lines
        self.stderr = _Discard()
        self._got_sighup = False
        self.env = env
        self.hung_up = False
        self._last_command = ""

    def _quote(self, value) -> str:
        return quoted(value if value.__class__ is str else str(value))

    def execute(self, command, *args):
        # pyst2's own execute only adds its SIGHUP check (never set here: no handler is
        # installed) and maps EPIPE, which _send already turns into CallerGone.
        return self._exchange(line_of(command, args), command).copy()  # the caller's own

    def send_command(self, command, *args) -> None:
        self._send(line_of(command, args), command)

    def _send(self, line: str, command: str) -> None:
        if self.hung_up:
            raise CallerGone("caller already gone")
        self._last_command = command
        try:
            self.stdout.write(line)
        except OSError as exc:
            raise CallerGone(f"cannot send to Asterisk: {exc}") from exc

    def _exchange(self, line: str, command: str) -> dict:
        """Send a ready command line and read the reply's fields.

        Nearly every reply is a plain `200 result=` that is not -1, with no HANGUP line
        ahead of it: its fields come back as they are cached, so do not change them.
        Any other reply is read the full way.
        """
        self._send(line, command)
        reply = self._reply_line()
        if reply.startswith("200 result=") and not self.hung_up:
            fields = reply_fields(reply[4:])
            if fields is not None and fields["result"][0] != "-1":
                return fields
        return self._result_of(reply)

    def _result_value(self, line: str, command: str) -> str:
        """The result= value of one command's reply."""
        return self._exchange(line, command)["result"][0]

    def get_result(self, stdin=None):
        return self._result_of(self._reply_line())

    def _result_of(self, line: str) -> dict:
        if line.startswith("200 result="):
            return self._parse_200(line[4:])  # nearly every reply: skip the general parse
        match = _CODE.match(line)
        if match is None:
            raise AGIProtocolError(f"not an AGI reply: {line[:80]!r}")
        code, more, text = int(match.group(1)), match.group(2), match.group(3)
        if code == 200:
            return self._parse_200(text)
        if code == 511:
            self.hung_up = True
            raise CallerGone("511: command not permitted on a dead channel")
        if code == 510:
            raise pyst2_agi.AGIInvalidCommand(text)
        if code == 520:
            raise pyst2_agi.AGIUsageError(self._usage(line, more))
        raise pyst2_agi.AGIUnknownError(code, text)

    def _reply_line(self) -> str:
        try:
            line = self.stdin.readline()
            while line in _HANGUP_ANNOUNCED:
                # Asterisk announces the hangup ahead of the reply; the reply still follows.
                self.hung_up = True
                line = self.stdin.readline()
        except (OSError, socket.timeout) as exc:
            raise CallerGone(f"connection to Asterisk lost: {exc}") from exc
        if line == "":
            raise CallerGone("Asterisk closed the connection")
        return line.rstrip("\n")

    def _parse_200(self, text: str) -> dict:
        fields = reply_fields(text)
        if fields is not None:
            result = fields.copy()
        else:
            result = {"result": ("", "")}
            for key, value, data in pyst2_agi.re_kv.findall(text):
                result[key] = (value, data)
        if result["result"][0] == "-1" and self._last_command.strip().upper().startswith(self._HANGUP_ON_MINUS_ONE):
            self.hung_up = True
        if result["result"][1] == "hangup":
            self.hung_up = True
        if self.hung_up:
            raise CallerGone(f"caller hung up during {self._last_command}")
        return result

    def _usage(self, first: str, more: str) -> str:
        usage = [first]
        while more == "-":
            line = self._reply_line()
            usage.append(line)
            match = _CODE.match(line)
            if match and match.group(1) == "520":
                more = match.group(2)
        return "\n".join(usage)

    # pyst2 methods that lose arguments or misread results ---------------------------------

    def stream_file(self, filename, escape_digits="", sample_offset=0) -> str:
        """The key that interrupted playback, or ''.

        result=-1 means the file could not be played or the caller left.
        """
        escape = escape_digits if escape_digits.__class__ is str else "".join(map(str, escape_digits))
        result = self._result_value(stream_file_line(str(filename), escape, int(sample_offset)), "STREAM FILE")
        if result == "-1":
            # NOOP runs on a dead channel too: after a hangup its reply comes behind a
            # HANGUP line (CallerGone); otherwise the file is missing and the call goes on.
            self.execute("NOOP")
            log.warning("could not play %s on %s", filename, self.env.get("agi_channel"))
            return ""
        return self._digit(result)

    def set_variable(self, name, value) -> None:
        # pyst2's, with the line cached: a call ends with eight of these.
        self._result_value(set_variable_line(str(name), str(value)), "SET VARIABLE")

    def wait_for_digit(self, timeout=pyst2_agi.DEFAULT_TIMEOUT) -> str:
        return self._digit(self._result_value(command_line("WAIT FOR DIGIT", int(timeout)), "WAIT FOR DIGIT"))

    def record_file(self, filename, format="wav", escape_digits="#", timeout=pyst2_agi.DEFAULT_RECORD,
                    offset=0, beep="beep", silence=0) -> int:
        """Record until a key, silence or timeout; returns the samples written.

        Any `beep` makes Asterisk play its own core sound "beep" first; give "" for none.
        RecordFailed if Asterisk could not record while the caller is still there."""
        args = [self._quote(filename), format, self._quote(escape_digits), int(timeout), int(offset)]
        if beep:
            args.append(beep)
        if silence:
            args.append(f"s={int(silence)}")
        response = self.execute("RECORD FILE", *args)
        result, reason = response["result"]
        if result == "-1":
            raise RecordFailed(f"RECORD FILE {filename} failed on {self.env.get('agi_channel')}: {reason or 'no reason'}")
        return int(response.get("endpos", ("0", ""))[0] or 0)

    @staticmethod
    def _digit(result: str) -> str:
        key = KEYS.get(result)  # the usual keys, looked up
        return key if key is not None else HotlineAGI._key_by_code(result)

    @staticmethod
    def _key_by_code(result: str) -> str:
        """A result outside the key table: no key if it is a number (only DTMF keys are
        keys: a code point such as a lone surrogate would poison the call's record), a
        protocol error if it is not."""
        if result in ("0", ""):
            return ""
        if not (result.isascii() and result.lstrip("-").isdigit()):
            raise AGIProtocolError(f"result {result[:40]!r} is not a key")
        code = int(result)
        if 0 < code < 0x110000 and chr(code) in DTMF_KEYS:
            return chr(code)
        log.debug("result %s is not a DTMF key; taken as no key", result[:40])
        return ""
