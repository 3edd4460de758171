"""The IVR menu (config/ivr_menu.toml): loaded into plain data, validated at load.

Every error names the node at fault, so an admin who edits the menu knows where to look.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from db.models import Priority
from db.reference import CATEGORY_CODES
from ivr.prompts import LANGUAGES, PromptManifest, load_manifest

MENU_FILE = Path(__file__).resolve().parents[1] / "config" / "ivr_menu.toml"
DIGITS = "0123456789"
REPEAT_KEY = "*"
BACK_KEY = "#"
QUEUE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")

# Prompts the engine itself composes (read-backs, errors): the manifest must have them.
ENGINE_PROMPTS = (
    "invalid", "no_input", "status_number", "status_is", "status_provider", "status_none",
    "status_not_found", *(f"digits/{d}" for d in DIGITS),
    *(f"status_{s}" for s in ("new", "dispatched", "in_service", "completed", "surveyed", "closed", "cancelled")),
    "beep",  # before a voicemail (ivr/agi_renderer.py): a tone of the manifest
)

# kind -> (required fields, optional fields)
KINDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "language": (frozenset({"prompts", "option_prompt", "options", "next"}), frozenset({"retries"})),
    "announce": (frozenset({"prompts", "next"}), frozenset()),
    "hours": (frozenset({"open", "closed"}), frozenset()),
    "menu": (frozenset({"prompts", "keys"}), frozenset({"fallback"})),
    "route": (frozenset({"queue"}), frozenset({"category", "intent", "priority", "prompts"})),
    "status": (frozenset({"next", "not_found"}), frozenset({"max_read"})),
    "request_entry": (frozenset({"prompts", "next"}), frozenset({"max_digits", "timeout_ms"})),
    "voicemail": (frozenset({"prompts", "thanks"}), frozenset({"max_seconds"})),
    "callback": (frozenset({"prompts"}), frozenset({"no_number", "no_number_prompts"})),
}
TARGET_FIELDS = ("next", "open", "closed", "not_found", "fallback", "no_number")
# Every node and queue has a title, in these languages: the console shows titles, never names.
TITLE_LANGUAGES = ("zh", "en")


class MenuError(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    name: str
    kind: str
    title: dict[str, str] = field(default_factory=dict)  # {"zh": ..., "en": ...}
    prompts: tuple[str, ...] = ()
    keys: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    option_prompt: str | None = None
    retries: int = 0
    next: str | None = None
    open: str | None = None
    closed: str | None = None
    fallback: str | None = None
    category: str | None = None
    intent: str | None = None
    priority: str = Priority.NORMAL.value
    queue: str | None = None
    max_read: int = 3
    not_found: str | None = None
    max_digits: int = 12
    timeout_ms: int = 10000
    thanks: tuple[str, ...] = ()
    max_seconds: int = 120
    no_number: str | None = None
    no_number_prompts: tuple[str, ...] = ()

    def targets(self) -> list[tuple[str, str]]:
        """(label, node) for every edge out of this node, for validation and reachability."""
        edges = [(f"key '{key}'", target) for key, target in self.keys.items()]
        edges += [(name, getattr(self, name)) for name in TARGET_FIELDS if getattr(self, name)]
        return edges


@dataclass(frozen=True)
class BusinessHours:
    weekdays: frozenset[int]
    open: dt.time
    close: dt.time
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    def is_open(self, local: dt.datetime) -> bool:
        day = local.date()
        if day in self.holidays:
            return False
        if day not in self.workdays and local.isoweekday() not in self.weekdays:
            return False
        return self.open <= local.time() < self.close

    def next_opening(self, local: dt.datetime) -> dt.datetime:
        """The start of the next business period after `local` (for callbacks)."""
        candidate = local.replace(hour=self.open.hour, minute=self.open.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate += dt.timedelta(days=1)
        for _ in range(366):
            if self.is_open(candidate):
                return candidate
            candidate += dt.timedelta(days=1)
        raise MenuError("[hours] never open within a year")


@dataclass(frozen=True)
class Menu:
    nodes: dict[str, Node]
    start: str
    returning_start: str
    main: str
    default_language: str
    max_failures: int
    fallback: str
    after_hours_fallback: str
    operator_key: str
    key_timeout_ms: int
    max_depth: int
    hours: BusinessHours
    queue_titles: dict[str, dict[str, str]] = field(default_factory=dict)  # queue name -> {"zh", "en"}

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def fallback_for(self, node: Node, business_open: bool = True) -> str:
        """Where failures and the operator key lead from this node."""
        if node.fallback:
            return node.fallback
        return self.fallback if business_open else self.after_hours_fallback


def load_menu(path: Path = MENU_FILE, manifest: PromptManifest | None = None) -> Menu:
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise MenuError(f"cannot read menu file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise MenuError(f"menu file {path} is not valid TOML: {exc}") from exc
    return build_menu(document, manifest or load_manifest())


def configured_menu(menu_file: str) -> Menu:
    """The menu named by the ivr.menu_file setting, or the shipped one when it is empty."""
    return load_menu(Path(menu_file)) if menu_file else load_menu()


def build_menu(document: dict[str, Any], manifest: PromptManifest) -> Menu:
    settings = _table(document, "menu")
    raw_nodes = _table(document, "nodes")
    nodes = {name: _node(name, raw) for name, raw in raw_nodes.items()}
    menu = Menu(
        nodes=nodes,
        start=_text(settings, "start", "[menu]"),
        returning_start=_text(settings, "returning_start", "[menu]"),
        main=_text(settings, "main", "[menu]"),
        default_language=_text(settings, "default_language", "[menu]"),
        max_failures=_int(settings, "max_failures", "[menu]", 1, 10),
        fallback=_text(settings, "fallback", "[menu]"),
        after_hours_fallback=_text(settings, "after_hours_fallback", "[menu]"),
        operator_key=_text(settings, "operator_key", "[menu]"),
        key_timeout_ms=_int(settings, "key_timeout_ms", "[menu]", 1000, 60000),
        max_depth=_int(settings, "max_depth", "[menu]", 1, 5),
        hours=_hours(_table(document, "hours")),
        queue_titles={name: _title(raw, f"[queues]: '{name}'") for name, raw in _table(document, "queues").items()},
    )
    _validate(menu, manifest)
    return menu


# --- parsing --------------------------------------------------------------------------


def _table(document: dict[str, Any], name: str) -> dict[str, Any]:
    table = document.get(name)
    if not isinstance(table, dict):
        raise MenuError(f"the menu file needs a [{name}] table")
    return table


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise MenuError(f"{where}: '{key}' must be a non-empty string")
    return value


def _int(table: dict[str, Any], key: str, where: str, lo: int, hi: int, default: int | None = None) -> int:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise MenuError(f"{where}: '{key}' must be a whole number from {lo} to {hi}, not {value!r}")
    return value


def _prompt_list(raw: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) and item for item in raw):
        raise MenuError(f"{where}: '{key}' must be a list of prompt names")
    return tuple(raw)


def _title(raw: Any, where: str) -> dict[str, str]:
    if (not isinstance(raw, dict) or set(raw) != set(TITLE_LANGUAGES)
            or not all(isinstance(raw[lang], str) and raw[lang].strip() for lang in TITLE_LANGUAGES)):
        raise MenuError(f"{where} must be a table with zh and en texts, e.g. {{ zh = \"主菜单\", en = \"Main menu\" }}")
    return {lang: raw[lang].strip() for lang in TITLE_LANGUAGES}


def _node(name: str, raw: Any) -> Node:
    where = f"node '{name}'"
    if not isinstance(raw, dict):
        raise MenuError(f"{where}: must be a table")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise MenuError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    required, optional = KINDS[kind]
    required = required | {"title"}
    given = set(raw) - {"kind"}
    if missing := sorted(required - given):
        raise MenuError(f"{where}: a {kind} node needs {', '.join(missing)}")
    if unknown := sorted(given - required - optional):
        raise MenuError(f"{where}: a {kind} node has no field {', '.join(unknown)}")
    fields: dict[str, Any] = {"name": name, "kind": kind}
    for key, value in raw.items():
        if key == "kind":
            continue
        if key == "title":
            fields[key] = _title(value, f"{where}: 'title'")
        elif key in ("prompts", "thanks", "no_number_prompts"):
            fields[key] = _prompt_list(value, where, key)
        elif key in ("keys", "options"):
            if not isinstance(value, dict) or not value or not all(isinstance(v, str) for v in value.values()):
                raise MenuError(f"{where}: '{key}' must map keys to names")
            fields[key] = dict(value)
        elif key in ("retries", "max_read", "max_digits", "timeout_ms", "max_seconds"):
            limits = {"retries": (0, 5), "max_read": (1, 10), "max_digits": (1, 32), "timeout_ms": (1000, 60000), "max_seconds": (5, 600)}[key]
            fields[key] = _int(raw, key, where, *limits)
        else:
            fields[key] = _text(raw, key, where)
    return Node(**fields)


def _hours(raw: dict[str, Any]) -> BusinessHours:
    try:
        weekdays = frozenset(raw["weekdays"])
        opening = dt.time.fromisoformat(raw["open"])
        closing = dt.time.fromisoformat(raw["close"])
        holidays = frozenset(dt.date.fromisoformat(day) for day in raw.get("holidays", []))
        workdays = frozenset(dt.date.fromisoformat(day) for day in raw.get("workdays", []))
    except (KeyError, TypeError, ValueError) as exc:
        raise MenuError(f"[hours]: needs weekdays, open and close as HH:MM, holidays and workdays as YYYY-MM-DD ({exc})") from exc
    if not weekdays <= set(range(1, 8)):
        raise MenuError("[hours]: weekdays are numbers 1 (Monday) to 7 (Sunday)")
    if not opening < closing:
        raise MenuError("[hours]: open must be before close")
    return BusinessHours(weekdays, opening, closing, holidays, workdays)


# --- validation -----------------------------------------------------------------------


def _validate(menu: Menu, manifest: PromptManifest) -> None:
    nodes = menu.nodes
    for label, name in (("start", menu.start), ("returning_start", menu.returning_start), ("main", menu.main),
                        ("fallback", menu.fallback), ("after_hours_fallback", menu.after_hours_fallback)):
        if name not in nodes:
            raise MenuError(f"[menu]: {label} names unknown node '{name}'")
    if menu.default_language not in LANGUAGES:
        raise MenuError(f"[menu]: default_language must be one of {', '.join(LANGUAGES)}")
    if nodes[menu.main].kind != "menu":
        raise MenuError(f"[menu]: main node '{menu.main}' must be a menu")
    if menu.operator_key not in DIGITS:
        raise MenuError("[menu]: operator_key must be a digit")
    if nodes[menu.fallback].kind != "route":
        raise MenuError(f"[menu]: fallback '{menu.fallback}' must be a route node")
    if nodes[menu.after_hours_fallback].kind not in ("route", "voicemail"):
        raise MenuError(f"[menu]: after_hours_fallback '{menu.after_hours_fallback}' must be a route or voicemail node")
    for missing in (p for p in ENGINE_PROMPTS if p not in manifest):
        raise MenuError(f"prompt manifest: the engine needs prompt '{missing}'")
    for node in nodes.values():
        _validate_node(menu, node, manifest)
    _validate_reachable(menu)
    _validate_depth(menu)


def _validate_node(menu: Menu, node: Node, manifest: PromptManifest) -> None:
    where = f"node '{node.name}'"
    for label, target in node.targets():
        if target not in menu.nodes:
            raise MenuError(f"{where}: {label} goes to unknown node '{target}'")
    for prompt in (*node.prompts, *node.thanks, *node.no_number_prompts, *filter(None, [node.option_prompt])):
        if prompt not in manifest:
            raise MenuError(f"{where}: prompt '{prompt}' is not in the prompt manifest (needed in {', '.join(LANGUAGES)})")
    for key in node.keys:
        if len(key) != 1 or key not in DIGITS:
            raise MenuError(f"{where}: key '{key}' must be one digit (* repeats and # goes back everywhere)")
        if key == menu.operator_key:
            raise MenuError(f"{where}: key '{key}' is the operator key everywhere")
    if node.kind == "language":
        for key, language in node.options.items():
            if len(key) != 1 or key not in DIGITS:
                raise MenuError(f"{where}: option key '{key}' must be one digit")
            if language not in LANGUAGES:
                raise MenuError(f"{where}: option '{key}' names unknown language '{language}'")
    if node.kind == "route":
        if node.category is not None and node.category not in CATEGORY_CODES:
            raise MenuError(f"{where}: unknown service category '{node.category}'")
        if node.priority not in {p.value for p in Priority}:
            raise MenuError(f"{where}: priority must be normal, urgent or emergency")
        if not QUEUE_NAME.fullmatch(node.queue or ""):
            raise MenuError(f"{where}: queue '{node.queue}' must be a short lower-case name")
        if node.queue not in menu.queue_titles:
            raise MenuError(f"{where}: queue '{node.queue}' has no title in [queues]")
    if node.fallback and menu.nodes[node.fallback].kind not in ("route", "voicemail"):
        raise MenuError(f"{where}: fallback must be a route or voicemail node")


def _validate_reachable(menu: Menu) -> None:
    seen: set[str] = set()
    todo = deque([menu.start, menu.returning_start, menu.fallback, menu.after_hours_fallback])
    while todo:
        name = todo.popleft()
        if name in seen:
            continue
        seen.add(name)
        node = menu.nodes[name]
        todo.extend(target for _, target in node.targets())
        if node.kind in ("menu", "request_entry", "status", "language"):
            todo += [menu.fallback_for(node, True), menu.fallback_for(node, False)]
    for name in menu.nodes:
        if name not in seen:
            raise MenuError(f"node '{name}' is unreachable from the start nodes")


def _validate_depth(menu: Menu) -> None:
    """Menus below main, counted along the shortest way down; going back up is free."""
    depth = {menu.main: 0}
    todo = deque([menu.main])
    while todo:
        name = todo.popleft()
        for _, target in menu.nodes[name].targets():
            if target in depth or menu.nodes[target].kind in ("language", "announce", "hours"):
                continue
            depth[target] = depth[name] + (menu.nodes[target].kind == "menu")
            if depth[target] > menu.max_depth:
                raise MenuError(f"node '{target}' is {depth[target]} menus below '{menu.main}'; max_depth is {menu.max_depth}")
            todo.append(target)
