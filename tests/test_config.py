"""Settings: POSTROOM_* variables over the TOML file named by POSTROOM_CONFIG over the defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postroom.config import CONFIG_FILE_ENV, Settings, load_settings
from postroom.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No POSTROOM_* from the outside; XDG_DATA_HOME points into the test's folder."""
    for name in list(os.environ):
        if name.startswith("POSTROOM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "postroom"


def test_defaults_live_under_the_data_dir(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == clean_env
    assert settings.resolved_database_url == f"sqlite:///{clean_env / 'postroom.db'}"
    assert settings.resolved_blob_dir == clean_env / "blobs"
    assert settings.secret_key_file == clean_env / "secret.key"
    assert (settings.host, settings.port, settings.log_level) == ("127.0.0.1", 8025, "info")
    assert (settings.admin_email, settings.admin_password) == ("admin@localhost", None)
    assert (settings.secret_key, settings.tenant) == (None, None)


def test_without_xdg_data_home_the_data_dir_is_in_the_home_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert load_settings().data_dir == tmp_path / ".local" / "share" / "postroom"


def test_the_data_dir_moves_the_defaults_with_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path / "data"))
    settings = load_settings()
    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'data' / 'postroom.db'}"
    assert settings.resolved_blob_dir == tmp_path / "data" / "blobs"
    assert settings.secret_key_file == tmp_path / "data" / "secret.key"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = {
        "POSTROOM_DATA_DIR": str(tmp_path / "data"),
        "POSTROOM_DATABASE_URL": "postgresql+psycopg://postroom@db.example.com/postroom",
        "POSTROOM_BLOB_DIR": str(tmp_path / "blobs"),
        "POSTROOM_SECRET_KEY": "key-one,key-two",
        "POSTROOM_HOST": "0.0.0.0",
        "POSTROOM_PORT": "9000",
        "POSTROOM_ADMIN_EMAIL": "root@example.com",
        "POSTROOM_ADMIN_PASSWORD": "correct-horse-battery-9",
        "POSTROOM_TENANT": "acme",
        "POSTROOM_LOG_LEVEL": "WARNING",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.resolved_database_url == "postgresql+psycopg://postroom@db.example.com/postroom"
    assert settings.resolved_blob_dir == tmp_path / "blobs"
    assert settings.secret_key == "key-one,key-two"
    assert (settings.host, settings.port) == ("0.0.0.0", 9000)
    assert (settings.admin_email, settings.admin_password) == ("root@example.com", "correct-horse-battery-9")
    assert (settings.tenant, settings.log_level) == ("acme", "warning")


def test_empty_variables_mean_the_defaults(monkeypatch: pytest.MonkeyPatch, clean_env: Path) -> None:
    for name in ("DATA_DIR", "BLOB_DIR", "DATABASE_URL", "SECRET_KEY", "ADMIN_PASSWORD", "TENANT"):
        monkeypatch.setenv(f"POSTROOM_{name}", "")
    settings = load_settings()
    assert settings.data_dir == clean_env
    assert settings.resolved_blob_dir == clean_env / "blobs"  # not "." (Path("") is the current folder)
    assert settings.resolved_database_url == f"sqlite:///{clean_env / 'postroom.db'}"
    assert not (settings.secret_key or settings.admin_password or settings.tenant)


def test_a_toml_file_gives_settings_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "postroom.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "from-file"}"\n'
        'host = "0.0.0.0"\n'
        "port = 9100\n"
        'tenant = "from-file"\n'
        'log_level = "debug"\n'
    )
    monkeypatch.setenv(CONFIG_FILE_ENV, str(config))
    monkeypatch.setenv("POSTROOM_PORT", "9200")
    monkeypatch.setenv("POSTROOM_TENANT", "from-env")
    settings = load_settings()
    assert settings.data_dir == tmp_path / "from-file"
    assert settings.resolved_blob_dir == tmp_path / "from-file" / "blobs"
    assert (settings.host, settings.log_level) == ("0.0.0.0", "debug")
    assert (settings.port, settings.tenant) == (9200, "from-env")


def test_a_missing_config_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CONFIG_FILE_ENV, str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigurationError, match=rf"^{CONFIG_FILE_ENV}=.*nowhere\.toml: no such file$"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("POSTROOM_PORT", "99999", "port: must be from 0 to 65535, not '99999'"),
        ("POSTROOM_PORT", "-1", "port: must be from 0 to 65535, not '-1'"),
        ("POSTROOM_PORT", "http", "port: must be a whole number, not 'http'"),
        ("POSTROOM_LOG_LEVEL", "loud", "log_level: must be one of debug, info, warning, error, not 'loud'"),
    ],
)
def test_an_invalid_variable_is_named(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert str(caught.value).startswith("invalid settings (POSTROOM_* variables or POSTROOM_CONFIG file): ")
    assert named in str(caught.value)


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ('port = "eight"\n', "port: must be a whole number, not 'eight'"),
        ('colour = "blue"\n', "colour: not a setting"),
        ('host = "unterminated\n', "not a readable TOML file"),
    ],
)
def test_an_invalid_config_file_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, named: str
) -> None:
    config = tmp_path / "postroom.toml"
    config.write_text(content)
    monkeypatch.setenv(CONFIG_FILE_ENV, str(config))
    with pytest.raises(ConfigurationError, match=CONFIG_FILE_ENV) as caught:
        load_settings()
    assert named in str(caught.value)


def test_every_problem_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_PORT", "99999")
    monkeypatch.setenv("POSTROOM_LOG_LEVEL", "loud")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "port: " in str(caught.value) and "log_level: " in str(caught.value)


def test_settings_made_in_code_are_converted_and_checked(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), scheduler_seconds=2, blob_dir="")  # type: ignore[arg-type]
    assert settings.data_dir == tmp_path and settings.blob_dir is None
    assert settings.scheduler_seconds == 2.0 and isinstance(settings.scheduler_seconds, float)
    with pytest.raises(ConfigurationError) as caught:
        Settings(data_dir=tmp_path, scheduler_seconds=0, queue_name="", workers=True)  # type: ignore[arg-type]
    text = str(caught.value)
    assert "scheduler_seconds: must be more than 0 and at most 900, not 0" in text
    assert "queue_name: must be at least 1 character(s) long" in text
    assert "workers: must be a number, not True" in text


def test_secrets_stay_out_of_the_settings_repr(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="fernet-key-text", admin_password="hunter2-hunter2")
    assert "fernet-key-text" not in repr(settings) and "hunter2" not in repr(settings)
    assert "data_dir=" in repr(settings)


def test_a_float_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSTROOM_SCHEDULER_SECONDS", " 2.5 ")
    assert load_settings().scheduler_seconds == 2.5
    monkeypatch.setenv("POSTROOM_SCHEDULER_SECONDS", "nan")
    with pytest.raises(ConfigurationError, match="scheduler_seconds: must be a finite number, not 'nan'"):
        load_settings()


def test_unknown_overrides_are_a_programming_error() -> None:
    with pytest.raises(TypeError, match="unknown settings: colour"):
        load_settings(colour="blue")
