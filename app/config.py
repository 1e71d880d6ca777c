"""Settings, read once from the environment by the app factory (never at import).

Every variable is documented in the README with its default. A bad value stops
start-up with a ``ConfigError`` whose one-line message names the variable.
"""
from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from limits import parse

from app.healthcare.note import NoteError, Signer
from providers.base import ProviderSettings
from storage.database import sqlite_file

PROVIDER_NAMES = ("openai", "anthropic", "google", "perplexity", "mock")
DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql")
SECRET_KEY_FILE = ".aqta_secret_key"


class ConfigError(Exception):
    """A configuration value is unusable; the message names the variable and the fix."""


@dataclass(frozen=True)
class OAuthClient:
    """One OpenID Connect identity provider (Google or Microsoft)."""

    name: str
    client_id: str | None
    client_secret: str | None
    issuer: str
    jwks_url: str | None  # None: the ``jwks_uri`` of the discovery document at metadata_url
    metadata_url: str  # the issuer's OpenID Connect discovery document

    @property
    def enabled(self) -> bool:
        return bool(self.client_id)


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///aqta.db"
    redis_url: str | None = None
    # Per process. Every command on the hot path takes well under a millisecond, so a few
    # dozen connections serve a thousand concurrent requests (they queue for one); more
    # cost memory and, in a burst, the time to open them (benchmarks/perf).
    redis_max_connections: int = 64
    redis_key_prefix: str = "aqta:"  # every key the app writes in Redis starts with this
    secret_key: str = ""
    session_cookie_secure: bool = False
    session_idle_seconds: int = 8 * 3600  # a session unused this long is over
    session_max_seconds: int = 7 * 24 * 3600  # a session this old is over, however used
    max_request_bytes: int = 8 * 1024 * 1024  # bytes
    key_cache_seconds: float = 1.0  # how long an API key lookup is trusted in process
    rate_limit_window_seconds: int = 60  # the window a key's requests-per-minute are counted in
    signin_rate_limit: str = "10/minute"  # password sign-ups and logins per client address
    signin_account_failure_limit: str = "10/hour"  # wrong passwords per account before a pause
    cache_ttl_seconds: int = 3600  # how long a cached answer is served; 0 turns the cache off
    cache_max_bytes: int = 64 * 1024 * 1024  # bytes the in-process cache may hold (no Redis)
    db_pool_size: int = 20  # connections per process, PostgreSQL and MySQL
    log_level: str = "INFO"
    log_format: str = "text"  # "text", or "json": one JSON object per line (python-json-logger)
    metrics_token: str | None = None  # the bearer token GET /metrics asks for on the API's port
    metrics_port: int | None = None  # a listener of its own for GET /metrics, without a token
    metrics_host: str = "127.0.0.1"  # the address that listener binds
    # prometheus_client's multi-process folder (aqta serve makes a fresh one per start);
    # set: /metrics sums every process's files.
    metrics_multiprocess_dir: str | None = None
    shutdown_grace_seconds: int = 30  # seconds in-flight requests (streams) get to finish on SIGTERM
    oauth: dict[str, OAuthClient] = field(default_factory=dict)
    oauth_after_login_url: str = "/dashboard"  # where the browser lands after OAuth sign-in
    oauth_jwks_cache_seconds: float = 3600.0  # how long a provider's signing keys are trusted
    oauth_jwks_refetch_seconds: float = 60.0  # least time between refetches for an unknown kid
    providers: dict[str, ProviderSettings] = field(default_factory=dict)
    models_file: str | None = None
    prices_file: str | None = None
    # Run the actors and the scheduler inside this process (settings_from_env: on when
    # REDIS_URL is unset); built directly, as tests do, it is off unless asked for.
    run_embedded_worker: bool = False
    jobs_namespace: str = "aqta-jobs"  # prefix of the job queues' Redis keys
    request_retention_days: int = 90  # days raw request-log rows are kept; aggregates stay
    request_log_stream: str = "aqta:request-log"  # the Redis Stream the request log passes through
    request_journal_dir: str = "aqta-journal"  # the request log's local journal (embedded, fallback)
    request_journal_fsync_seconds: float = 1.0  # longest a journaled record waits for fsync; 0: each
    request_journal_segment_bytes: int = 16 * 1024 * 1024  # bytes per journal file before rotating
    request_reconcile_seconds: float = 900.0  # a started stream with no final record after this is closed
    log_origin: str = "aqta.local/healthcare-log"  # the transparency log's name in its checkpoints
    # Note signer keys (PRIVATE+KEY+name+id+key) that sign checkpoints, newest first; empty:
    # one is generated on first use and kept in the database, sealed under SECRET_KEY.
    log_signing_keys: tuple[str, ...] = ()
    receipt_secret: str = ""  # root of the per-account commitment keys; empty: derived from SECRET_KEY
    log_stream: str = "aqta:log-pending"  # the Redis Stream handed-off receipts pass through
    log_journal_dir: str = "aqta-log-journal"  # the receipts' local journal (embedded, fallback)
    export_dir: str = "aqta-exports"  # finished receipt exports, served to their owner
    # Days receipts and audit events keep their content: six years (HIPAA §164.316(b)(2)) with
    # the two leap days they span; their hashes stay in the tree for ever.
    log_retention_days: int = 2192
    webhook_allow_private: bool = False  # deliver to loopback/private addresses (never cloud metadata)
    webhook_timeout_seconds: float = 10.0  # a delivery must get its 2xx within this long
    # Seconds between a webhook delivery's attempts (each with up to 20 % jitter): 5 s, 5 min,
    # 30 min, 2 h, 5 h, 10 h, 10 h; after the last, the delivery has failed (~27.6 h in all).
    webhook_retry_schedule: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
    webhook_disable_after: int = 5  # deliveries failed for good in a row that disable an endpoint; 0: never
    webhook_lease_seconds: float = 60.0  # how long a claimed delivery is left to its worker before a retake
    webhook_retention_days: int = 30  # days finished webhook events and their attempts are kept

    def override(self, **changes) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


def _text(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name, "").strip()
    return value or default


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _text(env, name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={value!r} is not a boolean; use true or false")


def _number(env: Mapping[str, str], name: str, default, kind=float, minimum=0):
    value = _text(env, name)
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if number < minimum:
        raise ConfigError(f"{name}={value!r} must be at least {minimum}")
    return number


def check_rate_limit(name: str, value: str) -> str:
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a rate limit; use e.g. 10/minute or "
                          "100 per hour") from None
    return value


def check_database_url(url: str) -> str:
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(
            f"DATABASE_URL has unknown scheme {scheme or url!r}; use sqlite:///path, "
            "postgresql://user@host/db or mysql://user@host/db")
    return url


def database_label(url: str) -> str:
    """The database a URL names, fit to print: an SQLite file as its absolute path, any other
    URL with its password masked."""
    path = sqlite_file(url)
    if path is not None:
        return os.path.abspath(path)
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def check_redis_url(url: str | None) -> str | None:
    if url is not None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(f"REDIS_URL {url!r} must start with redis://, rediss:// or unix://")
    return url


def _secret_key(env: Mapping[str, str]) -> str:
    """SECRET_KEY, or one generated once and kept beside the embedded database.

    Every gunicorn worker must sign sessions with the same key, and sessions should
    survive a restart, so a random per-process key would not do.
    """
    configured = _text(env, "SECRET_KEY")
    if configured:
        if len(configured) < 16:
            raise ConfigError("SECRET_KEY is too short; use at least 16 random characters")
        return configured
    path = Path(SECRET_KEY_FILE)
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def check_after_login_url(url: str) -> str:
    """A path on this site, or an absolute http(s) URL (a separate front end)."""
    parts = urlsplit(url)
    local = url.startswith("/") and not url.startswith("//") and not parts.netloc
    if not local and not (parts.scheme in ("http", "https") and parts.netloc):
        raise ConfigError(f"OAUTH_AFTER_LOGIN_URL={url!r} must be a path such as /dashboard "
                          "or an absolute http(s):// URL")
    return url


def _oauth_clients(env: Mapping[str, str]) -> dict[str, OAuthClient]:
    google_issuer = _text(env, "GOOGLE_ISSUER", "https://accounts.google.com")
    tenant = _text(env, "MICROSOFT_TENANT", "common")
    microsoft_base = f"https://login.microsoftonline.com/{tenant}/v2.0"
    # Microsoft's multi-tenant tokens carry their own tenant in `iss`; {tenantid} is
    # filled from the token's `tid` claim when the issuer is checked.
    microsoft_issuer = _text(env, "MICROSOFT_ISSUER",
                             "https://login.microsoftonline.com/{tenantid}/v2.0"
                             if tenant in ("common", "organizations", "consumers")
                             else microsoft_base)
    return {
        "google": OAuthClient(
            "google", _text(env, "GOOGLE_CLIENT_ID"), _text(env, "GOOGLE_CLIENT_SECRET"),
            google_issuer, _text(env, "GOOGLE_JWKS_URL"),
            _text(env, "GOOGLE_METADATA_URL",
                  f"{google_issuer}/.well-known/openid-configuration")),
        "microsoft": OAuthClient(
            "microsoft", _text(env, "MICROSOFT_CLIENT_ID"), _text(env, "MICROSOFT_CLIENT_SECRET"),
            microsoft_issuer, _text(env, "MICROSOFT_JWKS_URL"),
            _text(env, "MICROSOFT_METADATA_URL", f"{microsoft_base}/.well-known/openid-configuration")),
    }


def _provider_settings(env: Mapping[str, str]) -> dict[str, ProviderSettings]:
    connect = _number(env, "PROVIDER_CONNECT_TIMEOUT", 5.0)
    read = _number(env, "PROVIDER_READ_TIMEOUT", 120.0)
    pool = _number(env, "PROVIDER_POOL_SIZE", 1000, int, 1)
    mock_extra = {
        "response_words": _number(env, "MOCK_RESPONSE_WORDS", 20, int, 1),
        "chunk_count": _number(env, "MOCK_CHUNK_COUNT", 5, int, 1),
        "latency_ms": _number(env, "MOCK_LATENCY_MS", 0, int),
        "chunk_delay_ms": _number(env, "MOCK_CHUNK_DELAY_MS", 0, int),
    }
    return {
        name: ProviderSettings(
            api_key=_text(env, f"{name.upper()}_API_KEY"),
            base_url=_text(env, f"{name.upper()}_BASE_URL"),
            connect_timeout=connect, read_timeout=read, pool_size=pool,
            extra=mock_extra if name == "mock" else {})
        for name in PROVIDER_NAMES
    }


def _retry_schedule(env: Mapping[str, str]) -> tuple[float, ...]:
    value = _text(env, "WEBHOOK_RETRY_SCHEDULE")
    if value is None:
        return Settings.webhook_retry_schedule
    try:
        schedule = tuple(float(part) for part in value.split(","))
    except ValueError:
        schedule = ()
    if not schedule or min(schedule) <= 0:
        raise ConfigError(f"WEBHOOK_RETRY_SCHEDULE={value!r} must be positive seconds separated by "
                          "commas, e.g. 5,300,1800")
    return schedule


def _webhook_settings(env: Mapping[str, str]) -> dict:
    timeout = _number(env, "WEBHOOK_TIMEOUT_SECONDS", Settings.webhook_timeout_seconds, float, 0.1)
    lease = _number(env, "WEBHOOK_LEASE_SECONDS", Settings.webhook_lease_seconds, float, 1)
    if lease <= timeout:
        raise ConfigError(f"WEBHOOK_LEASE_SECONDS={lease:g} must be longer than "
                          f"WEBHOOK_TIMEOUT_SECONDS={timeout:g}")
    return {
        "webhook_allow_private": _bool(env, "WEBHOOK_ALLOW_PRIVATE", False),
        "webhook_timeout_seconds": timeout,
        "webhook_retry_schedule": _retry_schedule(env),
        "webhook_disable_after": _number(env, "WEBHOOK_DISABLE_AFTER", Settings.webhook_disable_after, int),
        "webhook_lease_seconds": lease,
        "webhook_retention_days": _number(env, "WEBHOOK_RETENTION_DAYS", Settings.webhook_retention_days,
                                          int, 1),
    }


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    return Settings(
        database_url=check_database_url(_text(env, "DATABASE_URL", Settings.database_url)),
        redis_url=check_redis_url(_text(env, "REDIS_URL")),
        redis_max_connections=_number(env, "REDIS_MAX_CONNECTIONS", Settings.redis_max_connections,
                                      int, 1),
        redis_key_prefix=_text(env, "REDIS_KEY_PREFIX", Settings.redis_key_prefix),
        secret_key=_secret_key(env),
        session_cookie_secure=_bool(env, "SESSION_COOKIE_SECURE", False),
        session_idle_seconds=_number(env, "SESSION_IDLE_SECONDS", Settings.session_idle_seconds,
                                     int, 60),
        session_max_seconds=_number(env, "SESSION_MAX_SECONDS", Settings.session_max_seconds,
                                    int, 60),
        max_request_bytes=_number(env, "MAX_REQUEST_BYTES", Settings.max_request_bytes, int, 1024),
        key_cache_seconds=_number(env, "KEY_CACHE_SECONDS", Settings.key_cache_seconds),
        signin_rate_limit=check_rate_limit(
            "SIGNIN_RATE_LIMIT", _text(env, "SIGNIN_RATE_LIMIT", Settings.signin_rate_limit)),
        signin_account_failure_limit=check_rate_limit(
            "SIGNIN_ACCOUNT_FAILURE_LIMIT", _text(env, "SIGNIN_ACCOUNT_FAILURE_LIMIT",
                                                  Settings.signin_account_failure_limit)),
        cache_ttl_seconds=_number(env, "CACHE_TTL_SECONDS", Settings.cache_ttl_seconds, int),
        cache_max_bytes=_number(env, "CACHE_MAX_BYTES", Settings.cache_max_bytes, int),
        db_pool_size=_number(env, "DB_POOL_SIZE", Settings.db_pool_size, int, 1),
        log_level=_text(env, "LOG_LEVEL", "INFO").upper(),
        log_format=log_format(env),
        **_metrics_settings(env),
        shutdown_grace_seconds=_number(env, "SHUTDOWN_GRACE_SECONDS", Settings.shutdown_grace_seconds,
                                       int, 1),
        oauth=_oauth_clients(env),
        oauth_after_login_url=check_after_login_url(
            _text(env, "OAUTH_AFTER_LOGIN_URL", Settings.oauth_after_login_url)),
        oauth_jwks_cache_seconds=_number(env, "OAUTH_JWKS_CACHE_SECONDS",
                                         Settings.oauth_jwks_cache_seconds),
        oauth_jwks_refetch_seconds=_number(env, "OAUTH_JWKS_REFETCH_SECONDS",
                                           Settings.oauth_jwks_refetch_seconds),
        providers=_provider_settings(env),
        models_file=_text(env, "AQTA_MODELS_FILE"),
        prices_file=_text(env, "AQTA_PRICES_FILE"),
        run_embedded_worker=_bool(env, "EMBEDDED_WORKER", _text(env, "REDIS_URL") is None),
        jobs_namespace=_text(env, "JOBS_NAMESPACE", Settings.jobs_namespace),
        request_retention_days=_number(env, "REQUEST_RETENTION_DAYS",
                                       Settings.request_retention_days, int, 1),
        request_log_stream=_text(env, "REQUEST_LOG_STREAM", Settings.request_log_stream),
        request_journal_dir=_text(env, "REQUEST_JOURNAL_DIR", Settings.request_journal_dir),
        request_journal_fsync_seconds=_number(env, "REQUEST_JOURNAL_FSYNC_SECONDS",
                                              Settings.request_journal_fsync_seconds),
        request_journal_segment_bytes=_number(env, "REQUEST_JOURNAL_SEGMENT_BYTES",
                                              Settings.request_journal_segment_bytes, int, 4096),
        request_reconcile_seconds=_number(env, "REQUEST_RECONCILE_SECONDS",
                                          Settings.request_reconcile_seconds, float, 1),
        **_webhook_settings(env),
        **_log_settings(env),
    )


LOG_FORMATS = ("text", "json")
MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for it


def log_format(env: Mapping[str, str] | None = None) -> str:
    """LOG_FORMAT, checked: "text" (the default) or "json"."""
    value = (_text(os.environ if env is None else env, "LOG_FORMAT", "text")).lower()
    if value not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT={value!r} is not a log format; use text or json")
    return value


def _metrics_settings(env: Mapping[str, str]) -> dict:
    port = _number(env, "METRICS_PORT", None, int, 1)
    if port is not None and port > 65535:
        raise ConfigError(f"METRICS_PORT={port} is not a port; use 1 to 65535")
    token = _text(env, "METRICS_TOKEN")
    if token is not None and len(token) < 16:
        raise ConfigError("METRICS_TOKEN is too short; use at least 16 random characters")
    return {"metrics_token": token, "metrics_port": port,
            "metrics_host": _text(env, "METRICS_HOST", Settings.metrics_host),
            "metrics_multiprocess_dir": _text(env, MULTIPROCESS_DIR_VARIABLE)}


def _log_settings(env: Mapping[str, str]) -> dict:
    keys = tuple((_text(env, "LOG_SIGNING_KEYS") or "").replace(",", " ").split())
    for position, key in enumerate(keys):
        try:
            Signer.parse(key)
        except NoteError as exc:
            raise ConfigError(f"LOG_SIGNING_KEYS: key {position + 1} is unusable ({exc}); make one "
                              "with `aqta log generate-key NAME`") from None
    origin = _text(env, "LOG_ORIGIN", Settings.log_origin)
    if "\n" in origin:
        raise ConfigError("LOG_ORIGIN must be one line, e.g. example.com/healthcare-log")
    return {"log_origin": origin, "log_signing_keys": keys,
            "receipt_secret": _text(env, "RECEIPT_SECRET", ""),
            "log_stream": _text(env, "LOG_STREAM", Settings.log_stream),
            "log_journal_dir": _text(env, "LOG_JOURNAL_DIR", Settings.log_journal_dir),
            "export_dir": _text(env, "EXPORT_DIR", Settings.export_dir),
            "log_retention_days": _number(env, "LOG_RETENTION_DAYS", Settings.log_retention_days, int, 1)}
