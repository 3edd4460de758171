"""The AGI wire's fast paths: command lines built and plain replies read, cached.

A call sends the same few dozen command lines and gets the same few replies back, so
each is built or parsed once (ivr/agi.py's HotlineAGI uses them; tests hold them equal
to the general way). Results of the caches are shared: copy a reply's fields before
changing them.
"""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=4096)
def quoted(text: str) -> str:
    """An AGI argument in double quotes, escaped (prompt paths and keys repeat: cached)."""
    if '"' in text or "\\" in text or "\n" in text or "\r" in text:
        text = text.replace("\r", " ").replace("\n", " ").replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@functools.lru_cache(maxsize=4096)
def stream_file_line(filename: str, escape: str, sample_offset: int) -> str:
    return f"STREAM FILE {quoted(filename)} {quoted(escape)} {sample_offset}\n"


@functools.lru_cache(maxsize=4096)
def set_variable_line(name: str, value: str) -> str:
    return f"SET VARIABLE {quoted(name)} {quoted(value)}\n"


# What a result means as a key: its character code ("49" is "1"); "0" is no key. Only
# DTMF keys are keys; any other number is no key (HotlineAGI._key_by_code).
DTMF_KEYS = "0123456789*#ABCD"
KEYS = {"0": "", "": "", **{str(ord(key)): key for key in DTMF_KEYS}}


@functools.lru_cache(maxsize=512)
def reply_fields(text: str) -> dict | None:
    """The key=value fields of a 200 reply without parenthesised data, or None.

    Cached: replies repeat ("result=0", "result=49"...). Callers get the cached dict,
    so they copy it before handing it on.
    """
    if "(" in text:
        return None
    if " " not in text and text.startswith("result=") and len(text) > 7:
        return {"result": (text[7:], "")}  # most replies: a bare result
    result = {"result": ("", "")}
    for word in text.split():
        key, sep, value = word.partition("=")
        if not (sep and value and key.isalnum() and key.isascii()):
            return None  # anything unusual: pyst2's own parse
        result[key] = (value, "")
    return result


@functools.lru_cache(maxsize=4096, typed=True)
def command_line(command: str, *args) -> str:
    """The line sent for a command (cached: a call's commands are the same few dozen).

    typed: 1, 1.0 and True are equal keys but different words on the line.
    """
    command = command.strip()
    if not args:
        return command + "\n"
    words = [arg if arg.__class__ is str else str(arg) for arg in args]
    return f"{command} {' '.join(words)}".rstrip() + "\n"


def line_of(command: str, args: tuple) -> str:
    try:
        return command_line(command, *args)
    except TypeError:  # an unhashable argument: not cached
        return command_line.__wrapped__(command, *args)
