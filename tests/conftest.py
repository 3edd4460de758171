"""Shared fixtures: settings on a temporary folder, migrated SQLite and PostgreSQL engines."""
from __future__ import annotations

import datetime as dt
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest
from flask import Flask
from jinja2.bccache import Bucket, BytecodeCache
from werkzeug.routing import Rule
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from config import load_settings
from db import migrate
from db.demo_data import load_demo_data
from db.reference import ensure_reference_data
from db.session import make_engine, make_session_factory, transaction

# The headless-Chromium fixtures (browser, console, stack) for every browser test.
pytest_plugins = ["tests.browser"]

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def wait_until(condition, timeout: float = 5.0, step: float = 0.02) -> bool:
    """Poll `condition` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def settings_in(folder: Path):
    """Settings whose database and files live in `folder`, on free ports."""
    database = folder / "hotline.sqlite3"
    return load_settings(environ={}, overrides={
        "database.url": f"sqlite:///{database}", "app.data_dir": str(folder), "ivr.port": free_port(),
        "ivr.sounds_dir": str(folder / "sounds"), "ivr.prompt_override_dir": str(folder / "override"),
        "ivr.voicemail_dir": str(folder / "voicemail"), "asterisk.ami_port": free_port(), "console.port": free_port(),
    })


@pytest.fixture
def settings(tmp_path: Path):
    return settings_in(tmp_path)


def _postgres_schema_engine() -> tuple[Engine, Engine, str]:
    admin = make_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with admin.connect():
            pass
    except OperationalError as exc:
        admin.dispose()
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 (database test) is unreachable: {exc.orig}")
    # A private schema per run keeps parallel runs and leftovers from colliding.
    schema = f"hotline_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    return admin, engine, schema


def _drop_schema(admin: Engine, engine: Engine, schema: str) -> None:
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def empty_engine(request, tmp_path: Path):
    """An engine on an empty database of each backend (tests parametrise it)."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
        yield engine
        engine.dispose()
        return
    admin, engine, schema = _postgres_schema_engine()
    yield engine
    _drop_schema(admin, engine, schema)


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory):
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'hotline.sqlite3'}")
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def _migrated_postgres():
    admin, engine, schema = _postgres_schema_engine()
    migrate.upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        ensure_reference_data(session)
    yield engine
    _drop_schema(admin, engine, schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request) -> Engine:
    """A migrated database with reference data, on SQLite and on PostgreSQL."""
    return request.getfixturevalue(f"_migrated_{'postgres' if request.param == 'postgresql' else 'sqlite'}")


def begin_for_real(connection) -> None:
    """Open the connection's transaction at once. pysqlite begins one only before a write,
    so the SAVEPOINT a session opens first would start it, and its RELEASE (the test's
    commit) would commit it: the rollback after the test would undo nothing."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN")


@pytest.fixture
def session(engine: Engine):
    """A session whose work is rolled back after the test, commits included."""
    connection = engine.connect()
    outer = connection.begin()
    begin_for_real(connection)
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    yield db_session
    db_session.close()
    outer.rollback()
    connection.close()


# --- the IVR over real FastAGI connections ---------------------------------------------

# 10:00 on a Friday in Heyuan: the line is open.
OPEN_TIME = dt.datetime(2026, 11, 27, 2, 0, tzinfo=dt.timezone.utc)
# 22:30 the same day: after hours.
CLOSED_TIME = dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.timezone.utc)


# The demo accounts' passwords in the tests' template, hashed by the same scrypt at a
# 32nd of its cost: the tests sign in some thousand times, and at the full cost (made slow
# on purpose) each sign-in took a fifth of a second. Accounts made during a test, and every
# database a test fills itself, keep the full cost.
TEMPLATE_PASSWORD_HASH = "scrypt:1024:8:1"


@pytest.fixture(scope="session")
def demo_database_template(tmp_path_factory):
    """A migrated SQLite database with the demo data, copied by each test that needs one."""
    from werkzeug.security import generate_password_hash

    from db.demo_data import DEMO_ACCOUNTS
    from db.models import User

    path = tmp_path_factory.mktemp("template") / "hotline.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    settings = load_settings(environ={})
    with transaction(make_session_factory(engine)) as session:
        load_demo_data(session, settings.tz)
        for account in DEMO_ACCOUNTS:
            user = session.scalar(select(User).where(User.username == account.username))
            user.password_hash = generate_password_hash(account.password, method=TEMPLATE_PASSWORD_HASH)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def cli_demo_template(tmp_path_factory):
    """What `hotline db upgrade` and `hotline demo-data` leave (the demo data with its five
    weeks of calls), made once by the commands themselves."""
    from click.testing import CliRunner

    from hotline.cli import cli
    from hotline.context import AppContext

    folder = tmp_path_factory.mktemp("cli-template")
    app = AppContext(settings_in(folder))
    for command in (["db", "upgrade"], ["demo-data"]):
        result = CliRunner().invoke(cli, command, obj=app, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    app.engine.dispose()
    return folder / "hotline.sqlite3"


@pytest.fixture
def cli_demo_settings(settings, cli_demo_template):
    """`settings` on a copy of cli_demo_template: for tests to which running those two
    commands is only the setup."""
    shutil.copy(cli_demo_template, settings.database.url.removeprefix("sqlite:///"))
    return settings


class Clock:
    """A settable clock for the IVR (business hours, timestamps)."""

    def __init__(self, now: dt.datetime):
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            return self.now


@pytest.fixture
def clock():
    return Clock(OPEN_TIME)


@pytest.fixture
def ivr_db(tmp_path, demo_database_template):
    path = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


@pytest.fixture
def ivr_services(ivr_db, clock, tmp_path):
    from ivr.services import IvrServices

    settings = load_settings(environ={}, overrides={
        "database.url": str(ivr_db.url), "app.data_dir": str(tmp_path), "ivr.sounds_dir": str(tmp_path / "sounds"),
        "ivr.voicemail_dir": str(tmp_path / "voicemail"),
    })
    services = IvrServices.from_settings(settings, make_session_factory(ivr_db), clock=clock)
    yield services
    services.close()


BARE_FALLBACK = {"HOTLINE_NEXT": "queue", "HOTLINE_QUEUE": "general", "HOTLINE_INTENT": "operator"}


@pytest.fixture
def bare_server():
    """bare_server({"ivr": handler}, **options): a FastAGI server with test handlers."""
    from ivr.server import FastAGIServer

    servers = []

    def _start(handlers, **options):
        server = FastAGIServer(handlers, BARE_FALLBACK, port=0, **{"header_timeout": 0.5, **options}).start()
        servers.append(server)
        return server

    yield _start
    for server in servers:
        stop_unless_stopped(server, grace=1.0)


@pytest.fixture
def ivr_server(ivr_services):
    from ivr.handlers import handler_table
    from ivr.server import FastAGIServer

    server = FastAGIServer(handler_table(ivr_services), ivr_services.fallback_variables(), port=0,
                           header_timeout=1.0, command_timeout=10.0)
    server.on_stopped.append(ivr_services.call_log.flush)
    server.start()
    yield server
    stop_unless_stopped(server, grace=2.0)


def stop_unless_stopped(server, grace: float) -> None:
    """Stop a FastAGI server after its test, unless the test stopped it: a stopped server's
    hub no longer runs what stop() hands it, and a second stop() waited 5 s for that."""
    if not server.stopping.is_set():
        server.stop(grace=grace)


@pytest.fixture
def dial(ivr_server, ivr_services):
    """dial("2 1 3", caller=...) -> Transcript, over a real TCP FastAGI connection."""
    from emulator.agi_channel import CallSpec, parse_keys
    from emulator.fastagi_client import place_call

    host, port = ivr_server.address

    def _dial(keys: str = "", caller: str = "13912345678", **spec):
        transcript = place_call(CallSpec(caller=caller, host=host, port=port, events=parse_keys(keys), **spec))
        # The caller may have left before the server finished its bookkeeping.
        deadline = time.monotonic() + 5
        while ivr_server.live_calls and time.monotonic() < deadline:
            time.sleep(0.005)
        ivr_services.call_log.flush()
        return transcript

    return _dial


@pytest.fixture
def ivr_sessions(ivr_db):
    """The IVR sessions recorded so far, newest last, with their steps and call."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from db.models import IvrSession

    factory = make_session_factory(ivr_db)

    def _read():
        with factory() as session:
            query = select(IvrSession).options(selectinload(IvrSession.call)).order_by(IvrSession.id)
            return session.scalars(query).all()

    return _read


# --- the agent console --------------------------------------------------------------------


class _TemplatesCompiledOnce(BytecodeCache):
    """Jinja's compiled templates, kept for the whole test run: the tests build hundreds of
    console apps, and each one compiled every template it rendered again. The key holds
    what compiling depends on beyond the template (a changed source is compiled again:
    Jinja checks its checksum), so an app configured otherwise never gets another's code."""

    def __init__(self):
        self._compiled: dict[str, bytes] = {}

    def get_bucket(self, environment, name, filename, source) -> Bucket:
        compiling = (environment.finalize, getattr(environment.autoescape, "__qualname__", environment.autoescape),
                     getattr(environment, "newstyle_gettext", None), sorted(environment.extensions),
                     environment.block_start_string, environment.variable_start_string, environment.comment_start_string,
                     environment.line_statement_prefix, environment.trim_blocks, environment.lstrip_blocks)
        bucket = Bucket(environment, f"{self.get_cache_key(name, filename)}|{compiling!r}", self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self._compiled:
            bucket.bytecode_from_string(self._compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._compiled[bucket.key] = bucket.bytecode_to_string()


Flask.jinja_options = {**Flask.jinja_options, "bytecode_cache": _TemplatesCompiledOnce()}


class _RuleBuiltOnce(Rule):
    """A URL rule whose URL-building functions are compiled once for the run. Werkzeug
    compiles two for every rule of every app (Python source, parsed and compiled): a third
    of building a console app, which every test does. What it compiles depends only on the
    rule's text and parts, and on its defaults (such rules are compiled as usual); the
    rule's converters are looked up when a URL is built."""

    _compiled: dict = {}

    def _compile_builder(self, append_unknown: bool = True):
        if self.defaults:
            return super()._compile_builder(append_unknown)
        key = (self.rule, tuple(self._trace), append_unknown)
        if key not in self._compiled:
            self._compiled[key] = super()._compile_builder(append_unknown)
        return self._compiled[key]


Flask.url_rule_class = _RuleBuiltOnce


def console_services_for(ivr_db, tmp_path, **settings):
    """The console's services on `ivr_db` with an in-process pop bus, and these settings
    (dotted names, as load_settings' overrides) over the defaults: a generator for a
    fixture to yield from, closing them afterwards."""
    from agent_console.services import ConsoleServices
    from telephony.pop_bus import InProcessBus

    loaded = load_settings(environ={}, overrides={"database.url": str(ivr_db.url), "app.data_dir": str(tmp_path),
                                                  **settings})
    services = ConsoleServices(loaded, make_session_factory(ivr_db), InProcessBus())
    yield services
    services.close()


@pytest.fixture
def console_services(ivr_db, tmp_path):
    """The console's services on a copy of the demo database, with an in-process pop bus."""
    yield from console_services_for(ivr_db, tmp_path)


@pytest.fixture
def app(console_services):
    from agent_console import create_app

    return create_app({"TESTING": True}, services=console_services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


class AuthActions:
    """Sign in as one of the demo accounts, through the real form (CSRF and all)."""

    def __init__(self, client):
        self._client = client

    def csrf_token(self, path: str = "/login") -> str:
        import re

        page = self._client.get(path).get_data(as_text=True)
        found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token" value="([^"]+)"', page)
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, username: str = "operator", password: str | None = None):
        from db.demo_data import DEMO_ACCOUNTS

        password = password or next(a.password for a in DEMO_ACCOUNTS if a.username == username)
        return self._client.post("/login", data={"username": username, "password": password,
                                                 "csrf_token": self.csrf_token()})

    def post(self, path: str, data: dict | None = None, page: str = "/"):
        """POST like the page would: with the CSRF token its forms carry."""
        return self._client.post(path, data={**(data or {}), "csrf_token": self.csrf_token(page)})

    def logout(self):
        return self.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


def post_twice_at_once(app, username: str, page: str, path: str, data: dict | None = None) -> list[int]:
    """A double click: `username` signed in twice, both POSTing `data` to `path` (with the
    CSRF token of `page`'s forms) at once; the two answers' status codes."""
    clients = [app.test_client() for _ in range(2)]
    tokens = []
    for client in clients:
        actions = AuthActions(client)
        actions.login(username)
        tokens.append(actions.csrf_token(page))
    answers: list[int] = []
    threads = [threading.Thread(target=lambda c=c, t=t: answers.append(c.post(path, data={**(data or {}), "csrf_token": t}).status_code))
               for c, t in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers
