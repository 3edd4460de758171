"""Settings: config/defaults.toml, then a local file, then HOTLINE_* environment variables.

Every key has a declared kind in SCHEMA; a value that does not fit stops start-up with
an error naming the key, what was expected and where the value came from.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
import zoneinfo
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
# The environment names its variables after the application: HOTLINE_DATABASE_URL ...
# (settings, not dialplan names: those are dialplans/contract.py's).
APP_NAME = "hotline"
ENV_PREFIX = APP_NAME.upper() + "_"
# Names the local override file; not itself a setting.
CONFIG_FILE_VAR = ENV_PREFIX + "CONFIG"
SYSTEM_CONFIG_FILE = Path("/etc/hotline/hotline.toml")


class ConfigError(Exception):
    """A setting is missing, unknown or has a value of the wrong kind."""


# --- kinds of value -------------------------------------------------------------------
# Each kind turns a TOML value or an environment string into the typed value, or raises
# ValueError with the text that follows "expected".


@dataclass(frozen=True)
class Kind:
    expected: str
    convert: Callable[[Any], Any]

    def __call__(self, raw: Any) -> Any:
        try:
            return self.convert(raw)
        except (ValueError, TypeError, ArgumentError, zoneinfo.ZoneInfoNotFoundError) as exc:
            raise ValueError(self.expected) from exc


def _fail() -> Any:
    raise ValueError


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError
    return raw


def _integer(lo: int, hi: int) -> Callable[[Any], int]:
    def convert(raw: Any) -> int:
        if isinstance(raw, bool):
            raise TypeError
        value = int(raw) if isinstance(raw, str) else raw
        if not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError
        return value
    return convert


def _number(lo: float, hi: float) -> Callable[[Any], float]:
    def convert(raw: Any) -> float:
        if isinstance(raw, bool):
            raise TypeError
        value = float(raw)
        if not lo <= value <= hi:
            raise ValueError
        return value
    return convert


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
        return raw.lower() in _TRUE
    raise ValueError


def _choice(*allowed: str) -> Kind:
    def convert(raw: Any) -> str:
        if raw not in allowed:
            raise ValueError
        return raw
    return Kind("one of " + ", ".join(allowed), convert)


def _database_url(raw: Any) -> str:
    url = make_url(_text(raw))
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ValueError
    return str(url.render_as_string(hide_password=False))


def _timezone(raw: Any) -> str:
    zoneinfo.ZoneInfo(_text(raw))
    return raw


def _clock_time(raw: Any) -> dt.time:
    text = _text(raw)
    if len(text) != 5:
        raise ValueError
    return dt.time.fromisoformat(text)


def _string_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise TypeError
    return tuple(raw)


def _date_list(raw: Any) -> tuple[dt.date, ...]:
    return tuple(dt.date.fromisoformat(item) for item in _string_list(raw))


def _host(raw: Any) -> str:
    text = _text(raw)
    if not text or " " in text:
        raise ValueError
    return text


TEXT = Kind("a string", _text)
def _secret(raw: Any) -> str:
    return raw if len(_text(raw)) >= 16 else _fail()


def _area_code(raw: Any) -> str:
    return raw if _text(raw).isdigit() and raw.startswith("0") and 3 <= len(raw) <= 4 else _fail()


def _digits(raw: Any) -> str:
    return raw if _text(raw).isdigit() else _fail()


def _name_prefix(raw: Any) -> str:
    return raw if _text(raw).replace("-", "").isalnum() and len(raw) <= 16 else _fail()


def _public_url(raw: Any) -> str:
    text = _text(raw)
    return text.rstrip("/") if text == "" or (text.startswith(("https://", "http://")) and " " not in text) else _fail()


def _redis_url(raw: Any) -> str:
    text = _text(raw)
    return text if text == "" or text.startswith(("redis://", "rediss://", "unix://")) else _fail()


def _weekdays(raw: Any) -> tuple[int, ...]:
    items = _string_list(raw) if isinstance(raw, str) else raw
    return tuple(_integer(1, 7)(item) for item in items)


def _queue_seconds(raw: Any) -> dict[str, int]:
    """{ priority = 20 } in TOML, or priority=20,general=90 in the environment."""
    if isinstance(raw, str):
        pairs = [part.partition("=") for part in raw.split(",") if part.strip()]
        if not all(sep for _, sep, _ in pairs):
            raise ValueError
        raw = {name.strip(): value.strip() for name, _, value in pairs}
    if not isinstance(raw, dict) or not all(isinstance(name, str) and QUEUE_NAME.fullmatch(name) for name in raw):
        raise ValueError
    return {name: _integer(1, 3600)(value) for name, value in raw.items()}


QUEUE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")  # as the IVR menu names its queues
SECRET = Kind("a string of at least 16 characters", _secret)
BOOLEAN = Kind("true or false", _boolean)
PORT = Kind("a TCP port number from 1 to 65535", _integer(1, 65535))
HOST = Kind("a host name or IP address", _host)
DATABASE_URL = Kind("an SQLAlchemy URL for sqlite or postgresql, e.g. sqlite:///var/hotline.sqlite3", _database_url)
TIMEZONE = Kind("an IANA time zone such as Asia/Shanghai", _timezone)
CLOCK_TIME = Kind("a time of day as HH:MM", _clock_time)
DATE_LIST = Kind("a list of dates as YYYY-MM-DD", _date_list)
STRING_LIST = Kind("a list of strings", _string_list)
WEEKDAYS = Kind("a list of weekday numbers 1 (Monday) to 7 (Sunday)", _weekdays)


def integer(lo: int, hi: int) -> Kind:
    return Kind(f"a whole number from {lo} to {hi}", _integer(lo, hi))


def number(lo: float, hi: float) -> Kind:
    return Kind(f"a number from {lo:g} to {hi:g}", _number(lo, hi))


# --- the keys -------------------------------------------------------------------------
# Keys are "section.name"; their environment variable is HOTLINE_SECTION_NAME.

SCHEMA: dict[str, Kind] = {
    "app.env": _choice("development", "production"),
    "app.timezone": TIMEZONE,
    "app.data_dir": TEXT,
    "app.secret_key": SECRET,
    "app.log_level": _choice("DEBUG", "INFO", "WARNING", "ERROR"),
    "database.url": DATABASE_URL,
    "database.echo": BOOLEAN,
    "phone.area_code": Kind("a Chinese area code such as 0762", _area_code),
    "phone.hotline_number": Kind("digits only", _digits),
    "ivr.host": HOST,
    "ivr.port": PORT,
    "ivr.backlog": integer(16, 65535),
    "ivr.max_connections": integer(1, 100000),
    "ivr.header_timeout": number(0.1, 60),
    "ivr.command_timeout": number(1, 3600),
    "ivr.shutdown_grace": number(0, 3600),
    "ivr.menu_file": TEXT,
    "ivr.sounds_dir": TEXT,
    "ivr.prompt_override_dir": TEXT,
    "ivr.voicemail_dir": TEXT,
    "ivr.unfollowed_after": number(0, 7 * 86400),
    "ivr.demo_clock": BOOLEAN,
    "asterisk.fastagi_url": TEXT,
    "asterisk.queue_prefix": Kind("a short prefix of letters, digits and dashes", _name_prefix),
    "asterisk.callback_offer_after": integer(15, 3600),
    "asterisk.language_routing": BOOLEAN,
    "asterisk.language_wait_cmn": integer(0, 600),
    "asterisk.language_wait_yue": integer(0, 600),
    "asterisk.language_wait_hak": integer(0, 600),
    "asterisk.ring_seconds": integer(5, 120),
    "asterisk.wrapup_seconds": integer(0, 600),
    "asterisk.recordings_dir": TEXT,
    "asterisk.moh_dir": TEXT,
    "asterisk.trunk_host": HOST,
    "asterisk.trunk_username": TEXT,
    "asterisk.trunk_password": SECRET,
    "asterisk.ami_host": HOST,
    "asterisk.ami_port": PORT,
    "asterisk.ami_username": TEXT,
    "asterisk.ami_secret": SECRET,
    "console.host": HOST,
    "console.port": PORT,
    "console.workers": integer(1, 64),
    "console.redis_url": Kind("empty, or a redis:// URL", _redis_url),
    "console.session_hours": integer(1, 24),
    "console.login_max_failures": integer(1, 100),
    "console.login_lockout_minutes": integer(1, 1440),
    "console.duplicate_hours": integer(1, 720),
    "console.lost_callers_days": integer(1, 366),
    "console.dispatch_answer_minutes": integer(1, 1440),
    "console.trusted_proxies": integer(0, 5),
    "console.public_url": Kind("empty, or the console's public https:// address", _public_url),
    "sms.account_sid": TEXT,
    "sms.auth_token": TEXT,
    "sms.from_number": TEXT,
    "sms.signature": TEXT,
    "sms.max_attempts": integer(1, 20),
    "sms.retry_seconds": integer(1, 86400),
    "survey.delay_minutes": integer(0, 10080),
    "survey.quiet_from": CLOCK_TIME,
    "survey.quiet_until": CLOCK_TIME,
    "survey.weekdays": WEEKDAYS,
    "survey.daily_cap_per_caller": integer(1, 10),
    "survey.max_attempts": integer(1, 10),
    "survey.retry_busy_minutes": integer(1, 10080),
    "survey.retry_no_answer_minutes": integer(1, 10080),
    "survey.retry_failed_minutes": integer(1, 10080),
    "survey.retry_no_input_minutes": integer(1, 10080),
    "survey.max_channels": integer(1, 1000),
    "survey.calls_per_second": number(0.1, 100),
    "survey.claim_timeout_seconds": integer(5, 86400),
    "survey.ring_seconds": integer(10, 120),
    "disputes.deadline_working_days": integer(1, 120),
    "disputes.low_rating": integer(1, 4),
    "workforce.hires_goal": integer(1, 1_000_000),
    "kpi.service_level_seconds": integer(1, 600),
    "kpi.short_abandon_seconds": integer(0, 60),
    "wallboard.red_after_seconds": integer(1, 3600),
    "wallboard.red_after_by_queue": Kind(
        "queue names of the IVR menu with seconds from 1 to 3600, e.g. { priority = 20 } "
        "(in the environment: priority=20,general=90)", _queue_seconds),
}

# Settings whose shipped default must never run in production.
PRODUCTION_SECRETS = ("app.secret_key", "asterisk.trunk_password", "asterisk.ami_secret")
# Settings whose value an error must never print (logs and terminals are read by others).
SECRET_KEYS = frozenset({*PRODUCTION_SECRETS, "sms.auth_token"})
# Settings that are URLs which may carry a password (scheme://user:password@host).
URL_KEYS = frozenset({"database.url", "console.redis_url"})


class Section(Mapping[str, Any]):
    """A read-only group of settings: settings.database.url."""

    def __init__(self, name: str, values: dict[str, Any]):
        self._name = name
        self._values = values

    def __getattr__(self, key: str) -> Any:
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(f"no setting {self._name}.{key}") from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class Settings:
    def __init__(self, values: dict[str, Any], sources: dict[str, str]):
        self._values = values
        self.sources = sources
        sections: dict[str, dict[str, Any]] = {}
        for key, value in values.items():
            section, name = key.split(".", 1)
            sections.setdefault(section, {})[name] = value
        self._sections = {name: Section(name, group) for name, group in sections.items()}

    def __getattr__(self, section: str) -> Section:
        try:
            return self._sections[section]
        except KeyError:
            raise AttributeError(f"no settings section {section}") from None

    def get(self, key: str) -> Any:
        return self._values[key]

    @property
    def production(self) -> bool:
        return self._values["app.env"] == "production"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self._values["app.timezone"])

    def data_path(self, *parts: str) -> Path:
        return Path(self._values["app.data_dir"], *parts)


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").upper()


def _flatten(document: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for section, table in document.items():
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: '{section}' must be a [section] table, not a value")
        for name, value in table.items():
            flat[f"{section}.{name}"] = value
    return flat


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return _flatten(tomllib.load(handle), str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _local_file(environ: Mapping[str, str]) -> Path | None:
    if environ.get(CONFIG_FILE_VAR):
        return Path(environ[CONFIG_FILE_VAR])
    return SYSTEM_CONFIG_FILE if SYSTEM_CONFIG_FILE.exists() else None


def load_settings(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Merge defaults < local file < environment < overrides (tests), then validate all."""
    environ = os.environ if environ is None else environ
    raw = _read_toml(DEFAULTS_FILE)
    sources = {key: str(DEFAULTS_FILE.name) for key in raw}
    layers: list[tuple[str, dict[str, Any]]] = []
    local = _local_file(environ)
    if local is not None:
        layers.append((str(local), _read_toml(local)))
    env_keys = {env_name(key): key for key in SCHEMA}
    from_env: dict[str, Any] = {}
    for variable, value in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable == CONFIG_FILE_VAR:
            continue
        if variable not in env_keys:
            raise ConfigError(f"unknown setting in environment variable {variable}; known: {', '.join(sorted(env_keys))}")
        from_env[env_keys[variable]] = value
    layers.append(("environment", from_env))
    layers.append(("overrides", dict(overrides or {})))
    for origin, layer in layers:
        for key, value in layer.items():
            if key not in SCHEMA:
                raise ConfigError(f"unknown setting '{key}' in {origin}")
            raw[key] = value
            sources[key] = env_name(key) if origin == "environment" else origin
    return Settings(_validate(raw, sources), sources)


def _validate(raw: dict[str, Any], sources: dict[str, str]) -> dict[str, Any]:
    missing = sorted(set(SCHEMA) - set(raw))
    if missing:
        raise ConfigError(f"settings missing from {DEFAULTS_FILE.name}: {', '.join(missing)}")
    values: dict[str, Any] = {}
    for key, kind in SCHEMA.items():
        try:
            values[key] = kind(raw[key])
        except ValueError:
            raise ConfigError(
                f"setting {key} (from {sources[key]}) {_shown(key, raw[key])}; expected {kind.expected}"
            ) from None
    if values["app.env"] == "production":
        _refuse_shipped_secrets(values)
        if values["ivr.demo_clock"]:
            # A call could then choose the time the IVR believes it is.
            raise ConfigError("setting ivr.demo_clock is for demos: production refuses it (set it to false)")
    return values


def _shown(key: str, value: Any) -> str:
    """How an error quotes a rejected value: never a secret, nor a URL's password."""
    if key in SECRET_KEYS:
        return "is not accepted (value not shown: it is a secret)"
    if key in URL_KEYS and isinstance(value, str) and "@" in value:
        scheme = value.split("://", 1)[0] + "://" if "://" in value else ""
        return f"is {scheme + '***@' + value.rsplit('@', 1)[1]!r}"
    return f"is {value!r}"


def _refuse_shipped_secrets(values: dict[str, Any]) -> None:
    shipped = _read_toml(DEFAULTS_FILE)
    for key in PRODUCTION_SECRETS:
        if values[key] == shipped[key]:
            raise ConfigError(
                f"setting {key} still has its shipped default; production needs a secret of your own "
                f"(set {env_name(key)} or put it in {SYSTEM_CONFIG_FILE})"
            )
