"""The IVR engine: decides the next step from (node, event, language). Pure: no I/O.

A renderer performs each Action (AGI commands today, TwiML later) and feeds back what
happened as an Event; the handler does the database look-ups the engine asks for.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

from db.models import IvrOutcome
from db.numbering import parse_request_number
from ivr.menu import BACK_KEY, REPEAT_KEY, Menu, Node
from ivr.prompts import LANGUAGES

# --- what the engine asks for -----------------------------------------------------------


class PromptRef(NamedTuple):
    """A prompt file by name, in one language: zh_<language>/<key>. (A named tuple:
    prompts are in every cached decision, and a tuple hashes and compares in C.)"""

    key: str
    language: str


@dataclass(frozen=True)
class Listen:
    """Play prompts (any key interrupts), then wait for one key."""

    node: str
    prompts: tuple[PromptRef, ...]
    timeout_ms: int


@dataclass(frozen=True)
class Play:
    """Play prompts to the end, then carry on (Played)."""

    node: str
    prompts: tuple[PromptRef, ...]


@dataclass(frozen=True)
class CollectDigits:
    """Play prompts, then collect up to max_digits keys ended by '#'."""

    node: str
    prompts: tuple[PromptRef, ...]
    max_digits: int
    timeout_ms: int


@dataclass(frozen=True)
class LookupStatus:
    """Find requests: the caller's open ones (number None) or the one keyed in."""

    node: str
    number: str | None
    max_results: int
    prompts: tuple[PromptRef, ...] = ()


@dataclass(frozen=True)
class RecordMessage:
    node: str
    prompts: tuple[PromptRef, ...]
    max_seconds: int


@dataclass(frozen=True)
class Route:
    """What the dialplan needs to queue the call."""

    queue: str
    category: str | None
    priority: str
    intent: str


@dataclass(frozen=True)
class Finish:
    """The IVR is done: hand the call back to the dialplan."""

    node: str
    outcome: IvrOutcome
    prompts: tuple[PromptRef, ...]
    route: Route | None = None
    callback: bool = False
    voicemail: str | None = None


Action = Listen | Play | CollectDigits | LookupStatus | RecordMessage | Finish

# --- what happened ----------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    digit: str


@dataclass(frozen=True)
class Timeout:
    pass


@dataclass(frozen=True)
class Played:
    pass


@dataclass(frozen=True)
class Digits:
    text: str


@dataclass(frozen=True)
class RequestInfo:
    number: str
    status: str
    provider_id: int | None


@dataclass(frozen=True)
class StatusResult:
    requests: tuple[RequestInfo, ...]


@dataclass(frozen=True)
class Recorded:
    path: str | None  # None: nothing was recorded


Event = Key | Timeout | Played | Digits | StatusResult | Recorded


def describe(event: Event) -> str:
    """The `key` column of an IVR step."""
    if isinstance(event, Key):
        return event.digit
    if isinstance(event, Digits):
        return event.text[:16]
    if isinstance(event, StatusResult):
        return f"found:{len(event.requests)}"
    if isinstance(event, Recorded):
        return "recorded" if event.path else "silence"
    return {Timeout: "timeout", Played: "played"}[type(event)]


# --- state ------------------------------------------------------------------------------


class CallState(NamedTuple):
    """Where a call is. A named tuple: the engine derives a new one at every step, and
    `_replace` costs a fraction of dataclasses.replace on a frozen dataclass."""

    node: str
    language: str
    language_chosen: bool = False
    business_open: bool = True
    has_number: bool = True
    failures: int = 0
    tries: int = 0  # timeouts at the current language node
    back: tuple[str, ...] = ()  # menus '#' returns to
    pending: tuple[PromptRef, ...] = ()  # played before the next node's own prompts
    path: tuple[str, ...] = ()


@dataclass(frozen=True)
class CallStart:
    known_language: str | None
    business_open: bool
    has_number: bool
    # The dialplan may send a caller straight to a node (`ivr?start=voicemail&lang=yue`),
    # e.g. when a queue has nobody to answer.
    start_node: str | None = None
    language: str | None = None


# --- the engine -------------------------------------------------------------------------


class Engine:
    """The menu's decisions: (state, event) → (next state, action), for one menu.

    They are a pure function of their arguments (states, events and actions are all
    immutable), and callers walk the same few paths, so they are cached: a call does
    not repeat work another call already did (uncached, the engine's work on a common
    walk would cost more than all of the call's AGI commands). The cache is bounded; a state unseen before
    (a voicemail's file, a request read back) simply costs its work.
    """

    CACHED_DECISIONS = 4096

    def __init__(self, menu: Menu):
        self.menu = menu
        self.start = functools.lru_cache(maxsize=self.CACHED_DECISIONS)(self._start)
        self.step = functools.lru_cache(maxsize=self.CACHED_DECISIONS)(self._step)

    def _start(self, call: CallStart) -> tuple[CallState, Action]:
        menu = self.menu
        language = call.language if call.language in LANGUAGES else call.known_language
        first = menu.returning_start if call.known_language else menu.start
        if call.start_node in menu.nodes:
            first = call.start_node
        state = CallState(
            node=first,
            language=language or menu.default_language,
            language_chosen=call.known_language is not None,
            business_open=call.business_open,
            has_number=call.has_number,
        )
        return self._enter(state, state.node)

    def _step(self, state: CallState, event: Event) -> tuple[CallState, Action]:
        node = self.menu.node(state.node)
        handler = getattr(self, f"_on_{node.kind}")
        return handler(state, node, event)

    # entering a node -------------------------------------------------------------------

    def _enter(self, state: CallState, name: str) -> tuple[CallState, Action]:
        node = self.menu.node(name)
        state = state._replace(node=name, path=state.path + (name,), tries=0 if name != state.node else state.tries)
        if name == self.menu.main:
            state = state._replace(back=())
        return getattr(self, f"_enter_{node.kind}")(state, node)

    def _prompts(self, state: CallState, keys: tuple[str, ...]) -> tuple[PromptRef, ...]:
        return state.pending + tuple(PromptRef(key, state.language) for key in keys)

    def _enter_language(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        prompts = list(self._prompts(state, node.prompts))
        for key, language in node.options.items():
            prompts += [PromptRef(node.option_prompt, language), PromptRef(f"digits/{key}", language)]
        return state._replace(pending=()), Listen(node.name, tuple(prompts), self.menu.key_timeout_ms)

    def _enter_announce(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return state._replace(pending=()), Play(node.name, self._prompts(state, node.prompts))

    def _enter_hours(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return self._enter(state, node.open if state.business_open else node.closed)

    def _enter_menu(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return state._replace(pending=()), Listen(node.name, self._prompts(state, node.prompts), self.menu.key_timeout_ms)

    def _enter_route(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        to_operator = node.name == self.menu.fallback or node.intent == "operator"
        route = Route(node.queue, node.category, node.priority, node.intent or "service")
        outcome = IvrOutcome.TO_OPERATOR if to_operator else IvrOutcome.ROUTED
        return state._replace(pending=()), Finish(node.name, outcome, self._prompts(state, node.prompts), route=route)

    def _enter_status(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return state, LookupStatus(node.name, None, node.max_read)

    def _enter_request_entry(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        action = CollectDigits(node.name, self._prompts(state, node.prompts), node.max_digits, node.timeout_ms)
        return state._replace(pending=()), action

    def _enter_voicemail(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return state._replace(pending=()), RecordMessage(node.name, self._prompts(state, node.prompts), node.max_seconds)

    def _enter_callback(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        if not state.has_number:
            state = state._replace(pending=state.pending + tuple(PromptRef(k, state.language) for k in node.no_number_prompts))
            return self._enter(state, node.no_number or self._fallback(state, node))
        return state._replace(pending=()), Finish(node.name, IvrOutcome.CALLBACK, self._prompts(state, node.prompts), callback=True)

    # events at a node --------------------------------------------------------------------

    def _on_language(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        if isinstance(event, Key):
            if event.digit in node.options:
                state = state._replace(language=node.options[event.digit], language_chosen=True)
                return self._enter(state, node.next)
            if event.digit in (REPEAT_KEY, BACK_KEY):
                return self._enter(state, node.name)
            if event.digit == self.menu.operator_key:
                return self._enter(state, self._fallback(state, node))
            return self._fail(state, node, "invalid")
        state = state._replace(tries=state.tries + 1, failures=state.failures + 1)
        if state.failures >= self.menu.max_failures:
            return self._to_fallback(state, node)
        if state.tries > node.retries:
            # Nobody chose: carry on in the default language, without remembering it.
            return self._enter(state, node.next)
        return self._enter(state, node.name)

    def _on_announce(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        return self._enter(state, node.next)

    def _on_menu(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        if not isinstance(event, Key):
            return self._fail(state, node, "no_input")
        digit = event.digit
        if digit == REPEAT_KEY:
            return self._enter(state, node.name)
        if digit == BACK_KEY:
            if state.back:
                return self._enter(state._replace(back=state.back[:-1]), state.back[-1])
            return self._enter(state, node.name)
        if digit == self.menu.operator_key:
            return self._enter(state, self._fallback(state, node))
        if digit in node.keys:
            return self._enter(state._replace(back=state.back + (node.name,)), node.keys[digit])
        return self._fail(state, node, "invalid")

    def _on_status(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        if isinstance(event, StatusResult) and event.requests:
            return self._enter(state._replace(pending=self._read_back(state, event.requests)), node.next)
        return self._enter(state._replace(pending=(PromptRef("status_none", state.language),)), node.not_found)

    def _on_request_entry(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        if isinstance(event, StatusResult):
            if event.requests:
                return self._enter(state._replace(pending=self._read_back(state, event.requests)), node.next)
            return self._fail(state, node, "status_not_found")
        if isinstance(event, Digits):
            if event.text == self.menu.operator_key:
                return self._enter(state, self._fallback(state, node))
            if event.text == BACK_KEY or REPEAT_KEY in event.text:
                return self._enter(state, node.name)
            number = parse_request_number(event.text)
            if number is None:
                return self._fail(state, node, "status_not_found")
            return state, LookupStatus(node.name, number, 1)
        return self._fail(state, node, "no_input")

    def _on_voicemail(self, state: CallState, node: Node, event: Event) -> tuple[CallState, Action]:
        path = event.path if isinstance(event, Recorded) else None
        prompts = tuple(PromptRef(key, state.language) for key in node.thanks)
        return state, Finish(node.name, IvrOutcome.VOICEMAIL, prompts, voicemail=path)

    # helpers -----------------------------------------------------------------------------

    def _fail(self, state: CallState, node: Node, prompt: str) -> tuple[CallState, Action]:
        state = state._replace(failures=state.failures + 1)
        if state.failures >= self.menu.max_failures:
            return self._to_fallback(state, node)
        return self._enter(state._replace(pending=state.pending + (PromptRef(prompt, state.language),)), node.name)

    def _to_fallback(self, state: CallState, node: Node) -> tuple[CallState, Action]:
        return self._enter(state._replace(pending=()), self._fallback(state, node))

    def _fallback(self, state: CallState, node: Node) -> str:
        return self.menu.fallback_for(node, state.business_open)

    def _read_back(self, state: CallState, requests: tuple[RequestInfo, ...]) -> tuple[PromptRef, ...]:
        language = state.language
        prompts: list[PromptRef] = []
        for request in requests:
            digits = "".join(ch for ch in request.number if ch.isdigit())
            prompts.append(PromptRef("status_number", language))
            prompts += [PromptRef(f"digits/{d}", language) for d in digits]
            prompts += [PromptRef("status_is", language), PromptRef(f"status_{request.status}", language)]
            if request.provider_id is not None:
                prompts += [PromptRef("status_provider", language), PromptRef(provider_prompt(request.provider_id), language)]
        return state.pending + tuple(prompts)


def provider_prompt(provider_id: int) -> str:
    """The generated prompt that speaks a provider's name (see `hotline prompts build`)."""
    return f"names/provider_{provider_id}"
