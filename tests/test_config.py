"""Settings from the environment: defaults, and one-line errors naming the variable."""
import pytest

from app.config import ConfigError, settings_from_env


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_defaults_are_embedded():
    settings = settings_from_env({})
    assert settings.database_url == "sqlite:///aqta.db"
    assert settings.redis_url is None
    assert settings.session_cookie_secure is False
    assert (settings.session_idle_seconds, settings.session_max_seconds) == (8 * 3600, 7 * 86400)
    assert settings.providers["openai"].api_key is None


def test_generated_secret_key_is_kept_for_the_next_start(tmp_path):
    first = settings_from_env({}).secret_key
    assert len(first) >= 32
    assert settings_from_env({}).secret_key == first
    assert (tmp_path / ".aqta_secret_key").stat().st_mode & 0o077 == 0


def test_provider_variables_are_read():
    settings = settings_from_env({"ANTHROPIC_API_KEY": "k", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"})
    assert settings.providers["anthropic"].api_key == "k"
    assert settings.providers["anthropic"].base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize("env, variable", [
    ({"DATABASE_URL": "oracle://db"}, "DATABASE_URL"),
    ({"DATABASE_URL": "not a url"}, "DATABASE_URL"),
    ({"REDIS_URL": "http://localhost:6379"}, "REDIS_URL"),
    ({"SECRET_KEY": "short"}, "SECRET_KEY"),
    ({"SESSION_COOKIE_SECURE": "maybe"}, "SESSION_COOKIE_SECURE"),
    ({"SESSION_IDLE_SECONDS": "10"}, "SESSION_IDLE_SECONDS"),
    ({"SESSION_MAX_SECONDS": "a week"}, "SESSION_MAX_SECONDS"),
    ({"MAX_REQUEST_BYTES": "lots"}, "MAX_REQUEST_BYTES"),
    ({"KEY_CACHE_SECONDS": "-1"}, "KEY_CACHE_SECONDS"),
    ({"PROVIDER_READ_TIMEOUT": "soon"}, "PROVIDER_READ_TIMEOUT"),
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
    ({"METRICS_PORT": "70000"}, "METRICS_PORT"),
    ({"METRICS_PORT": "metrics"}, "METRICS_PORT"),
    ({"SHUTDOWN_GRACE_SECONDS": "0"}, "SHUTDOWN_GRACE_SECONDS"),
])
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as raised:
        settings_from_env(env)
    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


@pytest.mark.parametrize("env, embedded", [
    ({}, True),
    ({"REDIS_URL": "redis://127.0.0.1:6379/0"}, False),
    ({"REDIS_URL": "redis://127.0.0.1:6379/0", "EMBEDDED_WORKER": "true"}, True),
    ({"EMBEDDED_WORKER": "off"}, False),
])
def test_the_embedded_worker_runs_without_redis_unless_told(env, embedded):
    assert settings_from_env(env).run_embedded_worker is embedded


def test_jobs_namespace():
    assert settings_from_env({}).jobs_namespace == "aqta-jobs"
    assert settings_from_env({"JOBS_NAMESPACE": "staging"}).jobs_namespace == "staging"


def test_a_bad_embedded_worker_value_names_the_variable():
    with pytest.raises(ConfigError, match="EMBEDDED_WORKER"):
        settings_from_env({"EMBEDDED_WORKER": "sometimes"})


def test_operations_settings():
    defaults = settings_from_env({})
    assert (defaults.log_format, defaults.metrics_token, defaults.metrics_port, defaults.metrics_host,
            defaults.shutdown_grace_seconds) == ("text", None, None, "127.0.0.1", 30)
    told = settings_from_env({"LOG_FORMAT": "JSON", "METRICS_TOKEN": "t" * 16, "METRICS_PORT": "9464",
                              "METRICS_HOST": "0.0.0.0", "PROMETHEUS_MULTIPROC_DIR": "/run/aqta-metrics",
                              "SHUTDOWN_GRACE_SECONDS": "90"})
    assert (told.log_format, told.metrics_token, told.metrics_port, told.metrics_host,
            told.metrics_multiprocess_dir, told.shutdown_grace_seconds) == \
        ("json", "t" * 16, 9464, "0.0.0.0", "/run/aqta-metrics", 90)
