"""Place emulated calls into a FastAGI server, the way Asterisk's res_agi connects."""
from __future__ import annotations

import asyncio
import socket
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
    command received: the server's turnaround per AGI command.
    """
    channel = AsteriskChannel(spec, prompt_ms)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(spec.host, spec.port), MAX_AGI_CONNECT)
    except (OSError, asyncio.TimeoutError):
        channel.transcript.agi_status = "FAILURE"
        return channel.transcript
    try:
        writer.write(channel.header().encode())
        await writer.drain()
        sent_at = time.perf_counter()
        while not channel.closed:
            line = await reader.readline()
            if not line:
                break
            if latencies is not None:
                latencies.append(time.perf_counter() - sent_at)
            before = channel.now_ms
            replies = channel.on_command(line.decode("utf-8", errors="replace"))
            if pace:
                await asyncio.sleep((channel.now_ms - before) / 1000 * pace)
            if replies:
                writer.write("".join(reply + "\n" for reply in replies).encode())
                await writer.drain()
                sent_at = time.perf_counter()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass
    return channel.transcript
