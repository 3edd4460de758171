"""Refusals by the rules (not bugs): each carries a code and its values, so the console
can say it in the reader's language while logs and the CLI keep the English text."""
from __future__ import annotations


class Refused(ValueError):
    def __init__(self, code: str, message: str, **params):
        super().__init__(message)
        self.code = code
        self.params = params
