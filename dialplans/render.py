"""`hotline asterisk-config`: Asterisk's configuration from our settings, menu and users.

Queue names come from the IVR menu, the operator queue from its fallback, softphones
from the console accounts that have a SIP extension: one source for each fact.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path

import jinja2
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from db.languages import ANYONE, SPEAKERS, language_queue
from db.models import Language, Priority, User
from dialplans import contract
from ivr.menu import Menu

TEMPLATES = Path(__file__).resolve().parent
FILES = ("extensions.conf", "queues.conf", "queuerules.conf", "pjsip.conf", "manager.conf", "musiconhold.conf")
_PRIORITY = {Priority.NORMAL.value: 0, Priority.URGENT.value: 5, Priority.EMERGENCY.value: 10}


@dataclass(frozen=True)
class QueueSpec:
    name: str  # the menu's queue
    asterisk_name: str
    priority: int  # QUEUE_PRIO of callers entering it
    language: Language | None = None  # its callers' language, when queues are split by language
    by_language: bool = False  # split into one Asterisk queue per language (asterisk_name is their stem)

    @property
    def strategy(self) -> str:
        # Urgent calls ring every free operator at once; the rest are shared out in turn.
        return "ringall" if self.priority else "rrmemory"

    @property
    def weight(self) -> int:
        return self.priority


@dataclass(frozen=True)
class LanguageRoute:
    """How callers of one language queue: offered to members whose penalty is at most
    max_penalty, raised to ANYONE after `wait` seconds by queuerules.conf's `rule`."""
    language: Language
    wait: int

    @property
    def max_penalty(self) -> int:
        return SPEAKERS if self.wait else ANYONE

    def rule(self, prefix: str) -> str:
        return f"{prefix}lang-{self.language.value}" if self.wait else ""

    def steps(self) -> list[tuple[int, int]]:
        """(seconds after joining, QUEUE_MAX_PENALTY from then on)."""
        return [(0, self.max_penalty)] + ([(self.wait, ANYONE)] if self.wait else [])


@dataclass(frozen=True)
class Route:
    """Where [hotline-queue] puts a caller: the Asterisk queue and its penalty steps."""
    asterisk_queue: str
    steps: list[tuple[int, int]]  # (seconds after joining, QUEUE_MAX_PENALTY); [] = no limit
    ringall: bool
    priority: int = 0  # QUEUE_PRIO


@dataclass(frozen=True)
class SoftPhone:
    extension: str
    display_name: str
    role: str
    password: str


def menu_queues(menu: Menu, prefix: str, language_routing: bool = False) -> list[QueueSpec]:
    """The menu's queues. With language routing, the normal ones (not urgent nor emergency,
    which ring every free operator at once) are split by the caller's language."""
    priorities: dict[str, int] = {}
    for node in menu.nodes.values():
        if node.kind == "route":
            priorities[node.queue] = max(priorities.get(node.queue, 0), _PRIORITY[node.priority])
    return [QueueSpec(name, prefix + name, priority, by_language=language_routing and not priority)
            for name, priority in sorted(priorities.items())]


def asterisk_queues(menu: Menu, asterisk) -> list[QueueSpec]:
    """Every queue of queues.conf, which operators sign in to: a split menu queue's
    language queues (hotline-general-cmn...), the others as they are."""
    queues = []
    for queue in menu_queues(menu, asterisk.queue_prefix, asterisk.language_routing):
        if queue.by_language:
            queues += [QueueSpec(queue.name, queue.asterisk_name + language_queue("", language), queue.priority, language)
                       for language in Language]
        else:
            queues.append(queue)
    return queues


def language_routes(asterisk) -> list[LanguageRoute]:
    return [LanguageRoute(language, asterisk[f"language_wait_{language.value}"]) for language in Language]


def caller_route(menu: Menu, asterisk, queue: str, language: str | None) -> Route:
    """What the rendered [hotline-queue] does with a caller of `language` sent to the
    menu's `queue` (for the emulator, which plays the dialplan)."""
    spec = next((q for q in menu_queues(menu, asterisk.queue_prefix, asterisk.language_routing) if q.name == queue), None)
    if spec is None:
        return Route(asterisk.queue_prefix + queue, [], False)
    if not spec.by_language:
        return Route(spec.asterisk_name, [], spec.strategy == "ringall", spec.priority)
    routes = {route.language.value: route for route in language_routes(asterisk)}
    route = routes.get(language or "") or routes[menu.default_language]
    return Route(spec.asterisk_name + language_queue("", route.language), route.steps(), False, spec.priority)


def sip_password(secret_key: str, extension: str) -> str:
    """A softphone's password, derived from the app's secret: nothing more to store."""
    return hmac.new(secret_key.encode(), f"sip:{extension}".encode(), hashlib.sha256).hexdigest()[:24]


def soft_phones(session: Session, secret_key: str) -> list[SoftPhone]:
    users = session.scalars(select(User).where(User.sip_extension.is_not(None), User.active).order_by(User.sip_extension))
    return [SoftPhone(u.sip_extension, u.display_name, u.role.value, sip_password(secret_key, u.sip_extension)) for u in users]


def render(settings: Settings, menu: Menu, phones: list[SoftPhone]) -> dict[str, str]:
    asterisk = settings.asterisk
    context = {
        "fastagi_url": asterisk.fastagi_url or f"agi://{settings.ivr.host}:{settings.ivr.port}",
        "recordings_dir": asterisk.recordings_dir,
        "did": settings.phone.hotline_number,
        "timezone": settings.app.timezone,
        "default_language": menu.default_language,
        "menu_queues": menu_queues(menu, asterisk.queue_prefix, asterisk.language_routing),
        "queues": asterisk_queues(menu, asterisk),
        "language_routes": language_routes(asterisk),
        "anyone": ANYONE,
        "queue_prefix": asterisk.queue_prefix,
        "operator_queue": menu.node(menu.fallback).queue,
        "no_answer_node": menu.after_hours_fallback,
        "ring_seconds": asterisk.ring_seconds,
        "wrapup_seconds": asterisk.wrapup_seconds,
        "callback_offer_after": asterisk.callback_offer_after,
        "moh_dir": asterisk.moh_dir,
        "trunk_host": asterisk.trunk_host,
        "trunk_username": asterisk.trunk_username,
        "trunk_password": asterisk.trunk_password,
        "ami_host": asterisk.ami_host,
        "ami_port": asterisk.ami_port,
        "ami_username": asterisk.ami_username,
        "ami_secret": asterisk.ami_secret,
        "ami_read": ",".join(contract.AMI_READ_CLASSES),
        "channelvars": ",".join(contract.AMI_CHANNEL_VARIABLES),
        "phones": phones,
    }
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )
    return {name: environment.get_template(name + ".j2").render(context) for name in FILES}


def write(files: dict[str, str], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        # pjsip.conf and manager.conf hold secrets.
        path.chmod(0o640 if name in ("pjsip.conf", "manager.conf") else 0o644)
        written.append(path)
    return written
