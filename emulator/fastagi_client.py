"""Place emulated calls into a FastAGI server, the way Asterisk's res_agi connects."""
from __future__ import annotations

import asyncio
import socket
import struct
import time
import wave
from functools import lru_cache
from pathlib import Path

from emulator.agi_channel import DEFAULT_PROMPT_MS, AsteriskChannel, CallSpec, Transcript

# res_agi.c MAX_AGI_CONNECT: how long Asterisk waits for the TCP connect.
MAX_AGI_CONNECT = 2.0


@lru_cache(maxsize=4096)
def wav_ms(path: str) -> int:
    """Length of a prompt as Asterisk would play it (path without extension)."""
    for candidate in (Path(path + ".wav"), Path(path)):
        try:
            with wave.open(str(candidate), "rb") as audio:
                return int(1000 * audio.getnframes() / audio.getframerate())
        except (OSError, wave.Error, EOFError):
            continue
    return DEFAULT_PROMPT_MS


def place_call(spec: CallSpec, *, prompt_ms=wav_ms, pace: float = 0.0, reply_timeout: float = 30.0) -> Transcript:
    """Run one call to the end; returns what the caller heard and what the IVR set.

    pace: real seconds slept per second of the call's virtual time (0: as fast as possible).
    """
    channel = AsteriskChannel(spec, prompt_ms)
    try:
        sock = socket.create_connection((spec.host, spec.port), timeout=MAX_AGI_CONNECT)
    except OSError:
        channel.transcript.agi_status = "FAILURE"
        return channel.transcript
    with sock:
        sock.settimeout(reply_timeout)
        sock.sendall(channel.header().encode())
        reader = sock.makefile("rb")
        while not channel.closed:
            try:
                line = reader.readline(65536)
            except (socket.timeout, OSError):
                break
            if not line:
                break
            before = channel.now_ms
            replies = channel.on_command(line.decode("utf-8", errors="replace"))
            if pace:
                time.sleep((channel.now_ms - before) / 1000 * pace)
            if replies:
                try:
                    sock.sendall("".join(reply + "\n" for reply in replies).encode())
                except OSError:
                    break
    return channel.transcript


async def place_call_async(spec: CallSpec, *, prompt_ms=wav_ms, pace: float = 0.0,
                           latencies: list[float] | None = None) -> Transcript:
    """place_call for thousands of concurrent calls in one process (benchmarks).

    latencies: if given, receives the seconds between each reply sent and the next
    command's arrival: the server's turnaround per AGI command. The arrival is the
    kernel's receive timestamp (SO_TIMESTAMPNS), not when this event loop got round to
    reading it: with a thousand calls in one loop the difference would be the load
    generator's own delay, not the server's.
    """
    loop = asyncio.get_running_loop()
    channel = AsteriskChannel(spec, prompt_ms)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (spec.host, spec.port)), MAX_AGI_CONNECT)
    except (OSError, asyncio.TimeoutError):
        sock.close()
        channel.transcript.agi_status = "FAILURE"
        return channel.transcript
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    try:
        sent_ns = time.time_ns()
        await loop.sock_sendall(sock, channel.header().encode())
        pending = b""
        while not channel.closed:
            while b"\n" not in pending:
                data, arrived_ns = await _receive_stamped(loop, sock)
                if not data:
                    return channel.transcript
                pending += data
            line, _, pending = pending.partition(b"\n")
            if latencies is not None:
                latencies.append((arrived_ns - sent_ns) / 1e9)
            before = channel.now_ms
            replies = channel.on_command(line.decode("utf-8", errors="replace"))
            if pace:
                await asyncio.sleep((channel.now_ms - before) / 1000 * pace)
            if replies:
                sent_ns = time.time_ns()  # before: a fast server's next command may beat the return
                await loop.sock_sendall(sock, "".join(reply + "\n" for reply in replies).encode())
    except (ConnectionError, OSError):
        pass
    finally:
        sock.close()
    return channel.transcript


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not name it


async def _receive_stamped(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> tuple[bytes, int]:
    """What arrived, and when the kernel received it (ns since the epoch)."""
    while True:
        try:
            data, ancillary, _flags, _address = sock.recvmsg(65536, 64)
            break
        except BlockingIOError:
            readable = loop.create_future()
            loop.add_reader(sock.fileno(), lambda: readable.done() or readable.set_result(None))
            try:
                await readable
            finally:
                loop.remove_reader(sock.fileno())
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
            seconds, nanoseconds = struct.unpack("qq", payload[:16])
            return data, seconds * 1_000_000_000 + nanoseconds
    return data, time.time_ns()
