"""Screen pops from the AMI link to the operators' browsers.

The AMI link publishes "a call is being offered to extension 1001"; each console worker
subscribes for the operators it serves. A topic is an extension, or `wallboard` (the
supervisors' wallboard changed, telephony/wallboard.py); one subscription may take
several topics, so a browser keeps one stream for both. Between processes the messages go through Redis
pub/sub; in one process (the demo, tests) an in-process bus does the same job.
A pop is a hint to look at a call: losing one costs a glance, never data.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Iterator, Protocol

log = logging.getLogger(__name__)
CHANNEL_PREFIX = "hotline:pop:"
# A browser that stops reading is dropped after this many unread pops.
SUBSCRIBER_BACKLOG = 100


class PopBus(Protocol):
    def publish(self, extension: str, pop: dict) -> None: ...

    def subscribe(self, *topics: str) -> "Subscription": ...


class Subscription(Protocol):
    def get(self, timeout: float) -> dict | None: ...

    def close(self) -> None: ...


class _LocalSubscription:
    def __init__(self, bus: "InProcessBus", topics: tuple[str, ...]):
        self._bus, self.topics = bus, topics
        self.queue: queue.Queue[dict] = queue.Queue(maxsize=SUBSCRIBER_BACKLOG)

    def get(self, timeout: float) -> dict | None:
        try:
            return self.queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self._bus._remove(self)


class InProcessBus:
    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[_LocalSubscription]] = {}

    def publish(self, extension: str, pop: dict) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(extension, ()))
        for subscriber in subscribers:
            try:
                subscriber.queue.put_nowait(pop)
            except queue.Full:
                log.warning("screen pop for %s dropped: the browser is not reading", extension)

    def subscribe(self, *topics: str) -> _LocalSubscription:
        subscription = _LocalSubscription(self, topics)
        with self._lock:
            for topic in topics:
                self._subscribers.setdefault(topic, []).append(subscription)
        return subscription

    def _remove(self, subscription: _LocalSubscription) -> None:
        with self._lock:
            for topic in subscription.topics:
                members = self._subscribers.get(topic, [])
                if subscription in members:
                    members.remove(subscription)


class _RedisSubscription:
    def __init__(self, client, topics: tuple[str, ...]):
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(*(CHANNEL_PREFIX + topic for topic in topics))

    def get(self, timeout: float) -> dict | None:
        message = self._pubsub.get_message(timeout=timeout)
        if message is None or message.get("type") != "message":
            return None
        try:
            pop = json.loads(message["data"])
        except (TypeError, ValueError):
            log.warning("ignored a malformed screen pop: %r", message["data"][:200])
            return None
        return pop if isinstance(pop, dict) else None

    def close(self) -> None:
        self._pubsub.close()


class RedisBus:
    def __init__(self, url: str):
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30)

    def publish(self, extension: str, pop: dict) -> None:
        import redis

        try:
            self._client.publish(CHANNEL_PREFIX + extension, json.dumps(pop, ensure_ascii=False))
        except redis.RedisError as exc:
            log.warning("screen pop for %s not delivered: Redis: %s", extension, exc)

    def subscribe(self, *topics: str) -> _RedisSubscription:
        return _RedisSubscription(self._client, topics)

    def ping(self) -> bool:
        import redis

        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False


def bus_from_settings(settings, local: InProcessBus | None = None) -> PopBus:
    """Redis when configured; otherwise the one in-process bus (single-process only)."""
    if settings.console.redis_url:
        return RedisBus(settings.console.redis_url)
    return local or InProcessBus()


def iterate(subscription: Subscription, heartbeat: float) -> Iterator[dict | None]:
    """Pops as they come, and None every `heartbeat` seconds of silence (keep-alive)."""
    while True:
        yield subscription.get(heartbeat)
