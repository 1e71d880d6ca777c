"""Webhook settings from the environment."""
import pytest

from app.config import ConfigError, Settings, settings_from_env

BASE = {"SECRET_KEY": "a-secret-key-0123456789"}


def test_defaults():
    settings = settings_from_env(BASE)
    assert settings.webhook_allow_private is False
    assert settings.webhook_timeout_seconds == 10.0
    assert settings.webhook_retry_schedule == Settings.webhook_retry_schedule
    assert sum(settings.webhook_retry_schedule) == 99_305  # ~27.6 h from the first attempt to the last
    assert settings.webhook_disable_after == 5 and settings.webhook_lease_seconds == 60.0
    assert settings.webhook_retention_days == 30


def test_values_are_read():
    settings = settings_from_env({**BASE, "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT_SECONDS": "3",
                                  "WEBHOOK_RETRY_SCHEDULE": "1, 2.5,60", "WEBHOOK_DISABLE_AFTER": "0",
                                  "WEBHOOK_LEASE_SECONDS": "30"})
    assert settings.webhook_allow_private is True and settings.webhook_timeout_seconds == 3.0
    assert settings.webhook_retry_schedule == (1.0, 2.5, 60.0)
    assert settings.webhook_disable_after == 0 and settings.webhook_lease_seconds == 30.0


@pytest.mark.parametrize("env, variable", [
    ({"WEBHOOK_ALLOW_PRIVATE": "maybe"}, "WEBHOOK_ALLOW_PRIVATE"),
    ({"WEBHOOK_TIMEOUT_SECONDS": "0"}, "WEBHOOK_TIMEOUT_SECONDS"),
    ({"WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "WEBHOOK_RETRY_SCHEDULE"),
    ({"WEBHOOK_RETRY_SCHEDULE": "5,-1"}, "WEBHOOK_RETRY_SCHEDULE"),
    ({"WEBHOOK_DISABLE_AFTER": "-2"}, "WEBHOOK_DISABLE_AFTER"),
    ({"WEBHOOK_RETENTION_DAYS": "0"}, "WEBHOOK_RETENTION_DAYS"),
    ({"WEBHOOK_TIMEOUT_SECONDS": "30", "WEBHOOK_LEASE_SECONDS": "20"}, "WEBHOOK_LEASE_SECONDS"),
])
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=variable):
        settings_from_env({**BASE, **env})
