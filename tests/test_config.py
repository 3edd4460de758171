import datetime as dt
import re

import pytest

from config.settings import DEFAULTS_FILE, SCHEMA, ConfigError, env_name, load_settings


def test_defaults_load_and_are_typed():
    settings = load_settings(environ={})
    assert settings.database.url.startswith("sqlite:///")
    assert settings.ivr.port == 4573
    assert settings.app.timezone == "Asia/Shanghai"
    assert settings.tz.utcoffset(dt.datetime(2026, 11, 26)) == dt.timedelta(hours=8)
    assert not settings.production


def test_every_default_key_is_in_the_schema_and_commented():
    lines = DEFAULTS_FILE.read_text(encoding="utf-8").splitlines()
    section, seen = None, set()
    for number, line in enumerate(lines):
        if match := re.fullmatch(r"\[(\w+)\]", line):
            section = match.group(1)
        elif match := re.match(r"(\w+)\s*=", line):
            key = f"{section}.{match.group(1)}"
            seen.add(key)
            assert lines[number - 1].startswith("#"), f"{key} has no comment above it"
    assert seen == set(SCHEMA)


def test_environment_overrides_defaults():
    settings = load_settings(environ={"HOTLINE_DATABASE_URL": "postgresql+psycopg://u:p@db:5432/hotline", "HOTLINE_IVR_PORT": "4600"})
    assert settings.database.url == "postgresql+psycopg://u:p@db:5432/hotline"
    assert settings.ivr.port == 4600
    assert settings.sources["ivr.port"] == "HOTLINE_IVR_PORT"


def test_local_file_overrides_defaults_and_environment_wins(tmp_path):
    local = tmp_path / "hotline.toml"
    local.write_text('[ivr]\nport = 4700\nhost = "0.0.0.0"\n', encoding="utf-8")
    settings = load_settings(environ={"HOTLINE_CONFIG": str(local), "HOTLINE_IVR_PORT": "4800"})
    assert settings.ivr.host == "0.0.0.0"
    assert settings.ivr.port == 4800


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"HOTLINE_DATABASE_URL": "not a url"}, "setting database.url (from HOTLINE_DATABASE_URL) is 'not a url'; expected an SQLAlchemy URL"),
        ({"HOTLINE_DATABASE_URL": "mysql://root@localhost/x"}, "expected an SQLAlchemy URL for sqlite or postgresql"),
        ({"HOTLINE_IVR_PORT": "70000"}, "setting ivr.port (from HOTLINE_IVR_PORT) is '70000'; expected a TCP port number from 1 to 65535"),
        ({"HOTLINE_IVR_PORT": "http"}, "expected a TCP port number"),
        ({"HOTLINE_APP_TIMEZONE": "Mars/Olympus"}, "expected an IANA time zone"),
        ({"HOTLINE_DATABASE_ECHO": "maybe"}, "expected true or false"),
        ({"HOTLINE_APP_ENV": "staging"}, "expected one of development, production"),
        ({"HOTLINE_IVR_PROT": "4573"}, "unknown setting in environment variable HOTLINE_IVR_PROT"),
    ],
)
def test_bad_values_name_the_key_and_what_was_expected(environ, message):
    with pytest.raises(ConfigError) as error:
        load_settings(environ=environ)
    assert message in str(error.value)


def test_bad_port_in_local_file_names_the_file(tmp_path):
    local = tmp_path / "local.toml"
    local.write_text("[ivr]\nport = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"setting ivr.port \(from {re.escape(str(local))}\) is 0"):
        load_settings(environ={"HOTLINE_CONFIG": str(local)})


def test_unknown_key_in_local_file(tmp_path):
    local = tmp_path / "local.toml"
    local.write_text("[database]\nuri = 'sqlite://'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting 'database.uri' in .*local.toml"):
        load_settings(environ={"HOTLINE_CONFIG": str(local)})


def test_broken_or_missing_local_file(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[ivr\nport=1", encoding="utf-8")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_settings(environ={"HOTLINE_CONFIG": str(broken)})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_settings(environ={"HOTLINE_CONFIG": str(tmp_path / "absent.toml")})


def test_value_that_is_not_a_table(tmp_path):
    local = tmp_path / "flat.toml"
    local.write_text("port = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'port' must be a \\[section\\] table"):
        load_settings(environ={"HOTLINE_CONFIG": str(local)})


def test_production_refuses_the_shipped_secret_key():
    with pytest.raises(ConfigError, match="app.secret_key still has its shipped default"):
        load_settings(environ={"HOTLINE_APP_ENV": "production"})
    with pytest.raises(ConfigError, match="at least 16 characters"):
        load_settings(environ={"HOTLINE_APP_ENV": "production", "HOTLINE_APP_SECRET_KEY": "short"})
    with pytest.raises(ConfigError, match="asterisk.trunk_password still has its shipped default"):
        load_settings(environ={"HOTLINE_APP_ENV": "production", "HOTLINE_APP_SECRET_KEY": "x" * 32})
    settings = load_settings(environ={"HOTLINE_APP_ENV": "production", "HOTLINE_APP_SECRET_KEY": "x" * 32,
                                      "HOTLINE_ASTERISK_TRUNK_PASSWORD": "t" * 20, "HOTLINE_ASTERISK_AMI_SECRET": "a" * 20})
    assert settings.production


def test_env_names():
    assert env_name("database.url") == "HOTLINE_DATABASE_URL"
    assert env_name("ivr.port") == "HOTLINE_IVR_PORT"


SECRET_VALUE = "Sw0rdf1sh"  # short enough to be refused, distinctive enough to find


@pytest.mark.parametrize("key", ["app.secret_key", "asterisk.trunk_password", "asterisk.ami_secret"])
def test_a_rejected_secret_is_named_but_never_printed(tmp_path, key):
    section, name = key.split(".")
    local = tmp_path / "local.toml"
    for toml_value in (f'"{SECRET_VALUE}"', f'["{SECRET_VALUE}"]', f'{{ x = "{SECRET_VALUE}" }}'):
        local.write_text(f"[{section}]\n{name} = {toml_value}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as error:
            load_settings(environ={"HOTLINE_CONFIG": str(local)})
        assert key in str(error.value) and SECRET_VALUE not in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_settings(environ={env_name(key): SECRET_VALUE})
    assert env_name(key) in str(error.value) and SECRET_VALUE not in str(error.value)


def test_a_rejected_sms_token_is_never_printed(tmp_path):
    local = tmp_path / "local.toml"
    local.write_text(f'[sms]\nauth_token = ["{SECRET_VALUE}"]\n', encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_settings(environ={"HOTLINE_CONFIG": str(local)})
    assert "sms.auth_token" in str(error.value) and SECRET_VALUE not in str(error.value)


@pytest.mark.parametrize(("key", "value"), [
    ("database.url", f"mysql://hotline:{SECRET_VALUE}@db.example/hotline"),
    ("database.url", f"hotline:{SECRET_VALUE}@db.example/hotline"),
    ("database.url", f"postgresql://hotline:{SECRET_VALUE}/x@db.example:port/hotline"),
    ("console.redis_url", f"http://:{SECRET_VALUE}@redis.example:6379/0"),
])
def test_a_rejected_url_is_shown_without_its_password(key, value):
    with pytest.raises(ConfigError) as error:
        load_settings(environ={env_name(key): value})
    message = str(error.value)
    assert key in message and SECRET_VALUE not in message and "***@" in message


def test_a_broken_config_file_is_reported_without_the_secret_on_the_broken_line(tmp_path):
    broken = tmp_path / "broken.toml"
    for line in (f'secret_key = "{SECRET_VALUE}\n', f"secret_key = {SECRET_VALUE}\n", f'secret_key = "{SECRET_VALUE}\\q"\n'):
        broken.write_text("[app]\n" + line, encoding="utf-8")
        with pytest.raises(ConfigError, match="is not valid TOML") as error:
            load_settings(environ={"HOTLINE_CONFIG": str(broken)})
        assert SECRET_VALUE not in str(error.value)


def test_production_refuses_the_demo_clock():
    """With it, whoever reaches the IVR could choose the time it judges business hours by."""
    production = {"HOTLINE_APP_ENV": "production", "HOTLINE_APP_SECRET_KEY": "x" * 32,
                  "HOTLINE_ASTERISK_TRUNK_PASSWORD": "t" * 20, "HOTLINE_ASTERISK_AMI_SECRET": "a" * 20}
    assert not load_settings(environ=production).ivr.demo_clock
    with pytest.raises(ConfigError, match="ivr.demo_clock is for demos: production refuses it"):
        load_settings(environ={**production, "HOTLINE_IVR_DEMO_CLOCK": "true"})
    assert load_settings(environ={"HOTLINE_IVR_DEMO_CLOCK": "true"}).ivr.demo_clock
