import re

import pytest
from click.testing import CliRunner

from hotline.cli import cli
from hotline.context import AppContext


@pytest.fixture
def runner():
    return CliRunner()


def run(runner, settings, *args, input=None):
    return runner.invoke(cli, list(args), obj=AppContext(settings), input=input, catch_exceptions=False)


def test_help_lists_only_working_commands(runner, settings):
    result = run(runner, settings, "--help")
    assert result.exit_code == 0
    commands = set(re.findall(r"^  ([\w-]+)\s", result.output.split("Commands:")[1], re.M))
    assert commands == {"db", "demo", "demo-data", "user"} | EXTRA_COMMANDS


EXTRA_COMMANDS = {"ivr", "call", "prompts", "asterisk-config", "ami", "console", "sms", "dialer", "regrade", "kpi"}


def test_commands_refuse_an_unmigrated_database(runner, settings):
    result = run(runner, settings, "demo-data")
    assert result.exit_code == 1
    assert "hotline db upgrade" in result.output


def test_upgrade_demo_data_and_demo(runner, settings):
    assert "is at revision" in run(runner, settings, "db", "upgrade").output
    assert "added 48 providers, 3 accounts" in run(runner, settings, "demo-data").output
    assert "nothing added" in run(runner, settings, "demo-data").output
    banner = run(runner, settings, "demo", "--once").output
    assert "operator-demo-2026" in banner and "supervisor" in banner and "admin" in banner
    assert "FastAGI IVR listening on 127.0.0.1:" in banner
    assert "call --at '2026-12-01 10:00' --from 13912345678 --keys '2 1 3'" in banner


def test_user_create(runner, settings):
    run(runner, settings, "db", "upgrade")
    result = run(runner, settings, "user", "create", "xiaoli", "--role", "operator", "--extension", "1010", "--password", "longenough")
    assert result.exit_code == 0, result.output
    again = run(runner, settings, "user", "create", "xiaoli", "--role", "operator", "--password", "longenough")
    assert again.exit_code == 1 and "already exists" in again.output
    short = run(runner, settings, "user", "create", "xiaowang", "--role", "admin", "--password", "short")
    assert short.exit_code == 1 and "at least 8 characters" in short.output


def test_bad_configuration_exits_with_the_message(monkeypatch, capsys):
    import hotline.cli

    monkeypatch.setenv("HOTLINE_IVR_PORT", "99999")
    monkeypatch.setattr("sys.argv", ["hotline", "demo"])
    with pytest.raises(SystemExit) as exit_info:
        hotline.cli.main()
    assert exit_info.value.code == 2
    assert "setting ivr.port (from HOTLINE_IVR_PORT) is '99999'" in capsys.readouterr().err


def test_production_refuses_demo_passwords_and_demo_data(runner, cli_demo_settings, tmp_path):
    from config import load_settings

    settings = cli_demo_settings
    production = load_settings(environ={}, overrides={
        "database.url": settings.database.url, "app.env": "production", "app.secret_key": "p" * 32,
        "asterisk.trunk_password": "t" * 20, "asterisk.ami_secret": "a" * 20, "ivr.port": settings.ivr.port,
    })
    refused = run(runner, production, "demo", "--once")
    assert refused.exit_code == 1
    assert "demo password: operator, supervisor, admin" in refused.output
    assert "demo password" in run(runner, production, "demo-data").output
    empty = load_settings(environ={}, overrides={
        "database.url": f"sqlite:///{tmp_path / 'empty.sqlite3'}", "app.env": "production", "app.secret_key": "p" * 32,
        "asterisk.trunk_password": "t" * 20, "asterisk.ami_secret": "a" * 20,
    })
    run(runner, empty, "db", "upgrade")
    assert "demo data and its known passwords are refused in production" in run(runner, empty, "demo-data").output


def test_demo_banner_reports_the_configured_menu_hours(runner, settings, tmp_path):
    from config import load_settings
    from ivr.menu import MENU_FILE

    menu = tmp_path / "menu.toml"
    menu.write_text(MENU_FILE.read_text(encoding="utf-8").replace('open = "08:00"', 'open = "06:30"'), encoding="utf-8")
    custom = load_settings(environ={}, overrides={
        "database.url": settings.database.url, "ivr.port": settings.ivr.port, "ivr.menu_file": str(menu),
        "ivr.sounds_dir": settings.ivr.sounds_dir, "app.data_dir": settings.app.data_dir,
    })
    run(runner, custom, "db", "upgrade")
    assert "business hours 06:30-20:00" in run(runner, custom, "demo", "--once").output


def test_hotline_console_serves_with_gunicorn(tmp_path, demo_database_template):
    import os
    import shutil
    import subprocess
    import sys
    import urllib.request

    from tests.conftest import free_port, wait_until

    database = tmp_path / "hotline.sqlite3"
    shutil.copy(demo_database_template, database)
    port = free_port()
    env = {**os.environ, "HOTLINE_DATABASE_URL": f"sqlite:///{database}", "HOTLINE_APP_DATA_DIR": str(tmp_path),
           "HOTLINE_CONSOLE_WORKERS": "1"}
    env.pop("HOTLINE_CONFIG", None)
    process = subprocess.Popen([sys.executable, "-m", "hotline", "console", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def healthy():
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200
        except OSError:
            return False
    try:
        assert wait_until(healthy, timeout=20)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as page:
            assert "坐席台登录" in page.read().decode()
    finally:
        process.terminate()
        process.wait(20)


def test_several_console_workers_need_redis(runner, settings):
    from config import load_settings

    run(runner, settings, "db", "upgrade")
    several = load_settings(environ={}, overrides={**{k: settings.get(k) for k in ("database.url", "app.data_dir")},
                                                   "console.workers": 4})
    result = run(runner, several, "console")
    assert result.exit_code == 1 and "console.redis_url" in result.output


def test_sms_command_refuses_without_a_gateway(runner, settings):
    run(runner, settings, "db", "upgrade")
    result = run(runner, settings, "sms")
    assert result.exit_code == 1 and "outbox" in result.output


def test_regrade_grades_every_provider_and_refuses_a_bad_rule(runner, cli_demo_settings, tmp_path):
    from sqlalchemy import func, select

    from db.models import GradeChange, Provider
    from db.session import make_engine, make_session_factory

    settings = cli_demo_settings
    result = run(runner, settings, "regrade")
    assert result.exit_code == 0 and re.search(r"regraded: \d+ graded, \d+ ungraded", result.output)
    engine = make_engine(settings.database.url)
    with make_session_factory(engine)() as session:
        providers = session.scalar(select(func.count()).select_from(Provider))
        assert session.scalar(select(func.count()).select_from(GradeChange)) == providers == 48
    engine.dispose()
    bad = tmp_path / "grading.toml"
    from supervision.rule import RULE_FILE

    bad.write_text(RULE_FILE.read_text(encoding="utf-8").replace("min_ratings = 5", "min_ratings = -1"), encoding="utf-8")
    refused = run(runner, settings, "regrade", "--rule", str(bad))
    assert refused.exit_code == 1 and "evidence.min_ratings is -1" in refused.output


def test_kpi_rollup_rolls_up_the_ended_days_once(runner, cli_demo_settings):
    settings = cli_demo_settings
    first = run(runner, settings, "kpi", "rollup")
    assert first.exit_code == 0 and re.search(r"^calls: rolled up \d+ days", first.output, re.M), first.output
    assert re.search(r"^requests and surveys: rolled up \d+ days", first.output, re.M), first.output
    # Only the last days of calls (their 72 h repeat window still open) are rolled up
    # again; no request or survey changed.
    again = run(runner, settings, "kpi", "rollup")
    assert re.search(r"^calls: rolled up [1-3] days", again.output, re.M), again.output
    assert "requests and surveys: nothing to roll up" in again.output, again.output
    refused = runner.invoke(cli, ["kpi", "rollup", "--rebuild"], obj=AppContext(settings))
    assert refused.exit_code == 2 and "--since" in refused.output
