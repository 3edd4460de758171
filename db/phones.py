"""Phone numbers as the hotline stores them: mainland mobiles and landlines with area code."""
from __future__ import annotations

import re
from dataclasses import dataclass

from db.models import PhoneKind

_SEPARATORS = re.compile(r"[\s\-().]")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area codes are 010, 02x, or 0 + three digits; local numbers are 7 or 8 digits.
_LANDLINE = re.compile(r"0(?:10|2\d|[3-9]\d{2})[2-9]\d{6,7}")
_LOCAL = re.compile(r"[2-9]\d{6,7}")


class InvalidPhone(ValueError):
    pass


@dataclass(frozen=True)
class Phone:
    number: str
    kind: PhoneKind


def normalise(raw: str, area_code: str = "0762") -> Phone:
    """Turn what a caller ID, a form or a trunk gives into the stored form.

    Raises InvalidPhone for anonymous, foreign or malformed numbers.
    """
    digits = _SEPARATORS.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            digits = digits[len(prefix):]
            break
    else:
        if len(digits) == 13 and digits.startswith("86"):
            digits = digits[2:]
    if not (digits.isascii() and digits.isdigit()):  # str.isdigit and \d take any script's digits
        raise InvalidPhone(f"not a phone number: {raw!r}")
    if _MOBILE.fullmatch(digits):
        return Phone(digits, PhoneKind.MOBILE)
    if _LANDLINE.fullmatch(digits):
        return Phone(digits, PhoneKind.LANDLINE)
    if _LOCAL.fullmatch(digits):
        return Phone(area_code + digits, PhoneKind.LANDLINE)
    raise InvalidPhone(f"not a mainland mobile or landline number: {raw!r}")


def try_normalise(raw: str | None, area_code: str = "0762") -> Phone | None:
    try:
        return normalise(raw or "", area_code)
    except InvalidPhone:
        return None
