from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.settings import DEMO_CONFIG, Settings, SettingsError


def test_defaults_follow_the_contract():
    settings = Settings.from_env({})
    assert settings.config_path == DEMO_CONFIG
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
    assert settings.admin_token is None
    assert settings.max_body_bytes == 25 * 1024 * 1024
    assert settings.port == 8000


def test_environment_overrides_defaults():
    settings = Settings.from_env(
        {
            "AUTOBUILD_CONFIG": "/etc/ab.yml",
            "PORT": "9000",
            "AUTOBUILD_ADMIN_TOKEN": "t0ken-value-0123456789",
        }
    )
    assert settings.config_path == Path("/etc/ab.yml")
    assert settings.port == 9000
    assert settings.admin_token == "t0ken-value-0123456789"


def test_secrets_are_read_by_the_name_the_yaml_gives():
    settings = Settings.from_env({"HELLO_SECRET": "x" * 10})
    assert settings.secret("HELLO_SECRET") == "x" * 10
    assert settings.secret("MISSING") is None
    assert settings.secret(None) is None


def test_a_bad_number_names_the_variable():
    with pytest.raises(SettingsError, match="PORT"):
        Settings.from_env({"PORT": "eighty"})


def test_secrets_do_not_show_in_repr():
    assert "hunter2" not in repr(Settings.from_env({"X": "hunter2"}))


def test_build_control_settings_have_sane_defaults_and_read_seconds():
    defaults = Settings.from_env({})
    assert defaults.heartbeat_seconds == 10 and defaults.heartbeat_ttl_seconds == 30
    assert defaults.lost_worker_grace_seconds == 60
    assert defaults.recovery_interval_seconds == 20
    assert [defaults.retry_delay(n) for n in (1, 2, 3, 9)] == [5, 20, 60, 60]
    fast = Settings.from_env(
        {
            "AUTOBUILD_HEARTBEAT_SECONDS": "0.5",
            "AUTOBUILD_LOST_WORKER_GRACE": "0",
            "AUTOBUILD_RECOVERY_INTERVAL": "1",
            "AUTOBUILD_RETRY_BACKOFF": "0.1, 2",
        }
    )
    assert (fast.heartbeat_seconds, fast.heartbeat_ttl_seconds) == (0.5, 1.5)
    assert fast.lost_worker_grace_seconds == 0 and fast.recovery_interval_seconds == 1
    assert [fast.retry_delay(n) for n in (1, 2, 3)] == [0.1, 2, 2]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AUTOBUILD_HEARTBEAT_SECONDS", "0"),
        ("AUTOBUILD_RECOVERY_INTERVAL", "soon"),
        ("AUTOBUILD_LOST_WORKER_GRACE", "-1"),
        ("AUTOBUILD_RETRY_BACKOFF", "5,,20"),
        ("AUTOBUILD_RETRY_BACKOFF", "5,x"),
    ],
)
def test_a_bad_build_control_setting_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_notification_retries_outlast_a_ten_minute_outage_by_default():
    settings = Settings.from_env({})
    assert settings.notify_timeout_seconds == 10.0
    assert sum(settings.notify_backoff_seconds) > 10 * 60
    assert settings.notify_queue_name == "autobuild-notify"


def test_notification_timeout_and_backoff_come_from_the_environment():
    settings = Settings.from_env(
        {"AUTOBUILD_NOTIFY_TIMEOUT": "3", "AUTOBUILD_NOTIFY_BACKOFF": "1,2", "AUTOBUILD_QUEUE": "q"}
    )
    assert settings.notify_timeout_seconds == 3.0
    assert settings.notify_backoff_seconds == (1.0, 2.0)
    assert settings.notify_queue_name == "q-notify"
    with pytest.raises(SettingsError, match="AUTOBUILD_NOTIFY_TIMEOUT"):
        Settings.from_env({"AUTOBUILD_NOTIFY_TIMEOUT": "soon"})


def test_build_pages_are_linked_at_the_public_url():
    settings = Settings.from_env({"AUTOBUILD_PUBLIC_URL": "https://ci.example.com/"})
    assert settings.build_url("b1") == "https://ci.example.com/builds/b1"
    assert Settings.from_env({}).build_url("b1") == "http://127.0.0.1:8000/builds/b1"


def test_schedule_tick_and_clock_start() -> None:
    settings = Settings.from_env(
        {"AUTOBUILD_SCHEDULE_TICK": "0.5", "AUTOBUILD_SCHEDULE_NOW": "2026-12-01T03:00:00"}
    )
    assert settings.schedule_tick_seconds == 0.5
    assert settings.schedule_clock_start == datetime(2026, 12, 1, 3, tzinfo=UTC)
    default = Settings.from_env({})
    assert (default.schedule_tick_seconds, default.schedule_clock_start) == (15.0, None)
    with pytest.raises(SettingsError, match="AUTOBUILD_SCHEDULE_NOW"):
        Settings.from_env({"AUTOBUILD_SCHEDULE_NOW": "tomorrow"})
    with pytest.raises(SettingsError, match="AUTOBUILD_SCHEDULE_TICK"):
        Settings.from_env({"AUTOBUILD_SCHEDULE_TICK": "0"})


def test_the_base_image_check_runs_hourly_unless_told_otherwise():
    assert Settings.from_env({}).base_check_interval_seconds == 3600
    settings = Settings.from_env({"AUTOBUILD_BASE_CHECK_INTERVAL": "300"})
    assert settings.base_check_interval_seconds == 300
    with pytest.raises(SettingsError, match="AUTOBUILD_BASE_CHECK_INTERVAL"):
        Settings.from_env({"AUTOBUILD_BASE_CHECK_INTERVAL": "hourly"})


def test_insecure_registries_are_host_and_port_entries_lower_cased():
    assert Settings.from_env({}).insecure_registries == frozenset()
    settings = Settings.from_env(
        {"AUTOBUILD_INSECURE_REGISTRIES": " 10.0.0.5:5000, Registry.LAN ,[fd00::1]:5000"}
    )
    assert settings.insecure_registries == {"10.0.0.5:5000", "registry.lan", "[fd00::1]:5000"}


@pytest.mark.parametrize(
    "value",
    [
        "http://10.0.0.5:5000",  # a URL with a scheme
        "10.0.0.5:5000/team",  # a path
        "10.0.0.5:5000,,registry.lan",  # an empty part
        "10.0.0.5:5000,",
        "registry.lan:port",
        "bad host",
    ],
)
def test_a_bad_insecure_registry_entry_names_the_variable(value):
    with pytest.raises(SettingsError, match=r"^AUTOBUILD_INSECURE_REGISTRIES must be registry"):
        Settings.from_env({"AUTOBUILD_INSECURE_REGISTRIES": value})
