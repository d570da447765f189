"""Settings for the poll service: one file, every value from the environment.

Development mode (the default, what `make run` uses) generates its secrets under var/.
Production mode (DJANGO_ENV=production) refuses to start without them.
"""

import math
import os
from datetime import timedelta

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from pollsite import defaults
from pollsite.db_backend.driver import pin_psycopg2

# First: Django's PostgreSQL backend stays on psycopg2 with psycopg 3 installed for the
# job engine (pollsite/db_backend/driver.py says why).
pin_psycopg2()

BASE_DIR = defaults.BASE_DIR
VAR_DIR = defaults.VAR_DIR


def envstr(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, "")
    if value == "":
        if default is None:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name, "").strip()
    return default if value == "" else _integer(name, value, minimum, "an integer")


def _integer(name: str, text: str, minimum: int | None, kind: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {kind}, not {text!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envfloat(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def envlist(name):
    return [item.strip() for item in os.environ.get(name, "").split(",") if item.strip()]


def envints(name: str, default: list[int], *, minimum: int | None = None) -> list[int]:
    """A comma-separated list of integers, each held to what envint holds one to."""
    kind = "integers separated by commas"
    return [_integer(name, item, minimum, kind) for item in envlist(name)] or default


def envchoice(name, choices, default):
    value = os.environ.get(name, "").strip() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


DJANGO_ENV = envchoice("DJANGO_ENV", ("development", "production"), "development")
PRODUCTION = DJANGO_ENV == "production"


def envsecret(name):
    """A secret from the environment; in development, generated once and kept under var/."""
    if PRODUCTION or os.environ.get(name):
        return envstr(name)
    return defaults.development_secret(name)


SECRET_KEY = envsecret("SECRET_KEY")
DEBUG = envbool("DEBUG", False)
DEV_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS") or ([] if PRODUCTION else DEV_HOSTS)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    # First: its makemigrations/migrate commands (one autodetector for both pgtrigger and
    # pgviews, migrations_extra/autodetector.py) must win over the ones django_pgviews
    # ships. It also applies sql/ (migrations_extra/sqlfiles.py).
    "migrations_extra",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "django_pgviews",
    "cacheops",
    # The job engine: its tables come with its migrations; tasks live in each app's
    # tasks.py (polls/tasks.py says how they run).
    "procrastinate.contrib.django",
    "identity",
    "polls",
    "webhooks",
]

MIDDLEWARE = [
    "pollsite.middleware.RequestLogMiddleware",
    "pollsite.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The stream server's (pollsite/asgi.py says why): each of these is async, and none
# hops to a thread. The stream authenticates by bearer token, not by session, and sets
# its own headers (polls/stream_apis.py).
STREAM_MIDDLEWARE = [
    "pollsite.middleware.RequestLogMiddleware",
    "pollsite.middleware.DatabaseUnavailableMiddleware",  # process_exception only: no hop
    "corsheaders.middleware.CorsMiddleware",
]

ROOT_URLCONF = "pollsite.urls"
WSGI_APPLICATION = "pollsite.wsgi.application"
ASGI_APPLICATION = "pollsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database and cache -------------------------------------------------------------
# Without DATABASE_URL / REDIS_URL, development points at the embedded servers that
# `make run` starts (see devstack/).
DATABASE_URL = envstr("DATABASE_URL", None if PRODUCTION else defaults.embedded_database_url())
# Redis Sentinel (pollsite/redis_client.py): "host:port,host:port" of the sentinels and
# the name of the master they watch. Then REDIS_URL is not used, and every client (the
# results cache, the attempt counters, cacheops, Django's cache) follows the master.
REDIS_SENTINELS = envlist("REDIS_SENTINELS")
REDIS_SENTINEL_MASTER = envstr("REDIS_SENTINEL_MASTER", "polls")
REDIS_URL = envstr(
    "REDIS_URL",
    "redis://sentinel"
    if REDIS_SENTINELS
    else None
    if PRODUCTION
    else defaults.embedded_redis_url(),
)
# A Redis over TLS (rediss://) whose certificate no CA vouches for, as Heroku's (self-signed):
# REDIS_TLS_VERIFY=false still encrypts, but takes the server's certificate unchecked. Every
# client is built from REDIS_URL, so the option goes there.
if REDIS_URL.startswith("rediss://") and not envbool("REDIS_TLS_VERIFY", True):
    REDIS_URL += f"{'&' if '?' in REDIS_URL else '?'}ssl_cert_reqs=none"

try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL)}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
# Django's PostgreSQL backend, with a health check that asks the socket instead of the
# server (pollsite/db_backend/base.py says why).
DATABASES["default"]["ENGINE"] = "pollsite.db_backend"
# Persistent connections: each WSGI worker thread keeps its connection across requests
# (a new one costs a fork on the server and several round trips). The health check
# (before a request's first query; no round trip, see pollsite/db_backend) replaces a
# connection that a restarted database left dead, so no request fails on it.
DATABASES["default"]["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", 300, minimum=0)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = envbool("DB_CONN_HEALTH_CHECKS", True)
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = envint(
    "DB_CONNECT_TIMEOUT", 5, minimum=1
)
DATABASES["default"]["TEST"] = {"NAME": "test_polls"}

# Bounded waits (docs/serving.md): every connection starts with the server's limits, so
# no statement waits on a lock or a slow server longer than the front waits on the app
# (nginx: 30 s); a vote refused by them is rolled back and answers 503. The jobs whose
# statements may run long raise them on their own connection
# (DatabaseWrapper.allow_long_statements: the refresher, migrations).
DB_STATEMENT_TIMEOUT_MS = envint("DB_STATEMENT_TIMEOUT_MS", 5000, minimum=0)
DB_LOCK_TIMEOUT_MS = envint("DB_LOCK_TIMEOUT_MS", 2000, minimum=0)
DB_IDLE_IN_TRANSACTION_TIMEOUT_MS = envint("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 10000, minimum=0)
# PostgreSQL 17 and later; 0 leaves it out, for an older server.
DB_TRANSACTION_TIMEOUT_MS = envint("DB_TRANSACTION_TIMEOUT_MS", 10000, minimum=0)
# The same on the client's side, for a server that cannot enforce its own (frozen: its
# timers do not run): a statement still waiting after this many seconds has its socket
# shut down and fails (pollsite/db_backend).
DB_SOCKET_TIMEOUT = envfloat("DB_SOCKET_TIMEOUT", 8.0)
# A vote that reaches its check in the database later than this after the API sent it
# is refused there (sql/polls_cast_vote.sql): a statement the server takes up after a
# freeze, or after a lock longer than its timeout, cannot count a vote whose client the
# API has told 503. The gap to DB_SOCKET_TIMEOUT covers the clocks' skew between the
# API's host and the database's, and the commit itself.
DB_VOTE_DEADLINE_SECONDS = envfloat("DB_VOTE_DEADLINE_SECONDS", 5.0)
if DB_SOCKET_TIMEOUT and DB_VOTE_DEADLINE_SECONDS > DB_SOCKET_TIMEOUT - 1:
    raise ImproperlyConfigured(
        "DB_VOTE_DEADLINE_SECONDS must be at least 1 s below DB_SOCKET_TIMEOUT"
    )
# At most this many statements of one process wait on the server at once (0: no limit;
# the API server runs with its threads less one, devstack/web.py), so that a frozen
# database cannot take every thread. A statement that finds them taken waits for one
# until the server looks stuck (pollsite/db_backend: a statement has waited 0.5 s), or
# not at all while a statement timed out in the last DB_SUSPECT_SECONDS.
DB_CONCURRENCY = envint("DB_CONCURRENCY", 0, minimum=0)
DB_SUSPECT_SECONDS = envfloat("DB_SUSPECT_SECONDS", 5.0)

# Start each connection in UTC (Django then skips its SET TIME ZONE round trip on every
# new connection) and with the limits above, as startup options: no round trip either.
# (A pooler that refuses startup options needs them set on the database role instead:
# ALTER ROLE ... SET statement_timeout = ..., and so on.)
DATABASES["default"]["OPTIONS"]["options"] = " ".join(
    f"-c {name}={value}"
    for name, value in (
        ("timezone", "UTC"),
        ("statement_timeout", DB_STATEMENT_TIMEOUT_MS),
        ("lock_timeout", DB_LOCK_TIMEOUT_MS),
        ("idle_in_transaction_session_timeout", DB_IDLE_IN_TRANSACTION_TIMEOUT_MS),
        ("transaction_timeout", DB_TRANSACTION_TIMEOUT_MS),
    )
    if name == "timezone" or value
)

# --- Past one machine (docs/scaling.md) ---------------------------------------------
# DATABASE_POOL_MODE=transaction: DATABASE_URL goes through a transaction pooler
# (PgBouncer), where consecutive transactions of one connection may run on different
# server connections. So: no server-side cursors (a named cursor lives past its
# transaction), and no startup options (PgBouncer refuses them): the limits above and
# the time zone are the role's defaults instead, set by `manage.py set_role_defaults`.
# What needs a session (the stream's LISTEN, the workers' LISTEN and psycopg 3 pool,
# the reconciler's advisory lock, migrations) runs in processes whose DATABASE_URL
# goes direct; the API never sets session state (allow_long_statements is the jobs').
DATABASE_POOL_MODE = envchoice("DATABASE_POOL_MODE", ("session", "transaction"), "session")
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"].pop("options")
# DATABASE_REPLICA_URL: a streaming replica for the reads that may lag (pollsite/replicas.py
# says which, and how a client that wrote reads its writes). Never migrated, never
# written; the tests read it as the primary (TEST MIRROR).
DATABASE_REPLICA_URL = envstr("DATABASE_REPLICA_URL", "")
# A replica serves a read only while it holds every change committed more than this long
# ago (measured, pollsite/replicas.py); a client that wrote reads the primary this long
# (and a second more) after its write. The bound docs/api-contract.md gives for lists
# of events, ledgers and exports.
REPLICA_MAX_LAG_SECONDS = envfloat("REPLICA_MAX_LAG_SECONDS", 2.0)
# How often each process compares the replica's replay position with the primary's.
REPLICA_CHECK_SECONDS = envfloat("REPLICA_CHECK_SECONDS", 0.2)
# A read the replica has not answered in this long (frozen, cut off) is given up and
# done on the primary (pollsite/replicas.py): the reads sent there are small, so this is
# well under the primary's DB_SOCKET_TIMEOUT. Connecting to it is bounded the same way
# (libpq's connect_timeout: whole seconds, at least 2).
REPLICA_SOCKET_TIMEOUT = envfloat("REPLICA_SOCKET_TIMEOUT", 2.0)
if DATABASE_REPLICA_URL:
    try:
        replica = dj_database_url.parse(DATABASE_REPLICA_URL)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_REPLICA_URL is not a valid URL: {exc}") from None
    # The primary's settings (engine, limits, persistence), the replica's address.
    DATABASES["replica"] = {
        **DATABASES["default"],
        "NAME": replica["NAME"],
        "USER": replica["USER"],
        "PASSWORD": replica["PASSWORD"],
        "HOST": replica["HOST"],
        "PORT": replica["PORT"],
        "OPTIONS": {
            **DATABASES["default"]["OPTIONS"],
            "connect_timeout": max(2, math.ceil(REPLICA_SOCKET_TIMEOUT)),
        },
        # Two keys of our backend's (pollsite/db_backend), which dj-database-url's type
        # does not know: the watchdog's bound, and that its reads are done again on the
        # primary when it fails (pollsite/replicas.py).
        "SOCKET_TIMEOUT": REPLICA_SOCKET_TIMEOUT,  # type: ignore[typeddict-unknown-key]
        "READS_FALL_BACK": True,
        "TEST": {"MIRROR": "default"},
    }
    # Remembers who asks and pins who wrote (read your writes): a Redis SET per write.
    MIDDLEWARE.insert(2, "pollsite.replicas.ReadYourWritesMiddleware")
    # Without a replica, no router: every read goes to "default" at no cost.
    DATABASE_ROUTERS = ["pollsite.replicas.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis timeouts stay short: when Redis is down, cacheops degrades to the database
# and a request must not wait seconds for a dead socket first.
REDIS_CONNECT_TIMEOUT = envfloat("REDIS_CONNECT_TIMEOUT", 0.25)
REDIS_SOCKET_TIMEOUT = envfloat("REDIS_SOCKET_TIMEOUT", 0.5)
REDIS_OPTIONS = {
    "socket_connect_timeout": REDIS_CONNECT_TIMEOUT,
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
}

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": REDIS_OPTIONS,
        "KEY_PREFIX": "polls",
    }
}

CACHEOPS_REDIS = (
    f"{REDIS_URL}{'&' if '?' in REDIS_URL else '?'}"
    f"socket_connect_timeout={REDIS_CONNECT_TIMEOUT}&socket_timeout={REDIS_SOCKET_TIMEOUT}"
)
if REDIS_SENTINELS:
    CACHEOPS_REDIS = ""
    CACHEOPS_SENTINEL = {
        "locations": [(h, int(p)) for h, _, p in (s.rpartition(":") for s in REDIS_SENTINELS)],
        "service_name": REDIS_SENTINEL_MASTER,
        **REDIS_OPTIONS,
    }
    CACHES["default"]["OPTIONS"] = {
        **REDIS_OPTIONS,
        "pool_class": "pollsite.redis_client.SentinelPool",
    }
CACHEOPS_DEGRADE_ON_FAILURE = True
CACHEOPS_DEFAULTS = {"timeout": envint("CACHEOPS_TIMEOUT", 60 * 60, minimum=1)}


# --- Auth ----------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# API tokens (django-rest-knox): 256 random bits, stored as a SHA-512 digest, sent as
# `Authorization: Bearer <token>`, dead at logout or after TOKEN_TTL_HOURS.
REST_KNOX = {
    "AUTH_HEADER_PREFIX": "Bearer",
    "TOKEN_TTL": timedelta(hours=envint("TOKEN_TTL_HOURS", 24, minimum=1)),
    "AUTO_REFRESH": False,
}

# --- Internationalization and time ---------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
# Development serves static files straight from the apps (WHITENOISE_USE_FINDERS, no
# collectstatic step on `make run`); production serves the collected, hashed files.
STATIC_ROOT = os.environ.get("STATIC_ROOT") or (BASE_DIR / "staticfiles" if PRODUCTION else None)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = False

# --- Request bodies: a larger one is refused with 413 payload_too_large (pollsite.parsers).
# The API's largest legitimate body (a poll with 100 options and their descriptions) is
# well under 1 MiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("MAX_REQUEST_BODY_BYTES", 1024 * 1024, minimum=1024)

# --- REST framework and OpenAPI --------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["pollsite.problems.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["pollsite.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["identity.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_PAGINATION_CLASS": "pollsite.pagination.PageNumberPagination",
    "PAGE_SIZE": envint("API_PAGE_SIZE", 20, minimum=1),
    "EXCEPTION_HANDLER": "pollsite.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "pollsite.schema.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Poll service API",
    "DESCRIPTION": (
        "The backend of record for polls whose voters are verified against a national ID "
        "registry.\n\n"
        "**Auth flow.** `POST /api/v1/auth/register`, then `POST /api/v1/auth/login` for a "
        "token; send it as `Authorization: Bearer <token>` (the Authorize button here). "
        "`POST /api/v1/identity/verify` once, with your national ID and date of birth, to "
        "become a voter. `POST /api/v1/auth/logout` kills the token at once.\n\n"
        "**Errors** are RFC 9457 problem documents (`application/problem+json`) with a "
        "stable `code` to branch on; 400 `validation_error` adds `errors: {field: "
        "[messages]}`; 429 and 503 carry `Retry-After`.\n\n"
        "**Lists** are pages of `{count, next, previous, results}` (`?page=`)."
    ),
    "VERSION": "1.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # No "Patched..." twin of an update body: its fields are optional already.
    "COMPONENT_SPLIT_PATCH": False,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
    # Typed as they are matched (polls/urls.py): a poll id is an integer.
    "PATH_CONVERTER_OVERRIDES": {
        "poll_id": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
        "receipt": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
    },
    # pollsite/schema.py: the results stream (no DRF view) and the document's defaults.
    "PREPROCESSING_HOOKS": ["pollsite.schema.preprocess"],
    "POSTPROCESSING_HOOKS": ["pollsite.schema.postprocess"],
    "ENUM_NAME_OVERRIDES": {
        "PollStatusEnum": "polls.status.STATUSES",
        "VerificationStatusEnum": "identity.serializers.VERIFICATION_STATUSES",
        "PollEventTypeEnum": "polls.models.PollEvent.Type",
    },
}

# --- GraphQL (pollsite/graphql/, docs/api-contract.md "GraphQL") ---------------------------
# The limits a public GraphQL endpoint needs (OWASP's GraphQL cheat sheet), checked before
# any database work: a document deeper than this, with more aliases or tokens than this,
# or asking its paginated lists for more items than this (nested pages multiply; a page
# holds at most 100) is refused with its code.
GRAPHQL_MAX_DEPTH = envint("GRAPHQL_MAX_DEPTH", 10, minimum=1)
GRAPHQL_MAX_ALIASES = envint("GRAPHQL_MAX_ALIASES", 15, minimum=0)
GRAPHQL_MAX_TOKENS = envint("GRAPHQL_MAX_TOKENS", 2000, minimum=100)
GRAPHQL_MAX_ITEMS = envint("GRAPHQL_MAX_ITEMS", 1000, minimum=100)
# Trusted documents (pollsite/graphql/trusted.py): a JSON file of {sha256: document}, such
# as graphql-codegen's persisted documents; when set, only those documents run.
GRAPHQL_TRUSTED_DOCUMENTS = envstr("GRAPHQL_TRUSTED_DOCUMENTS", "")
# Introspection and the GraphiQL page: on in development, off in production.
GRAPHQL_INTROSPECTION = envbool("GRAPHQL_INTROSPECTION", not PRODUCTION)
GRAPHQL_GRAPHIQL = envbool("GRAPHQL_GRAPHIQL", not PRODUCTION)

# --- CORS: no origin is allowed unless the environment names it. ----------------------
CORS_ALLOWED_ORIGINS = envlist("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["ETag", "Retry-After", "X-Request-ID"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "if-none-match",
    "x-request-id",
]

# --- Security (production) -------------------------------------------------------------
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Logging ----------------------------------------------------------------------------
LOG_LEVEL = envchoice("LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO")
# Who writes the one line per request: the app (pollsite.middleware), or the front proxy
# (nginx, deploy/nginx.conf.template), which does it for a fraction of the cost. make run
# and docker-compose.yml run nginx and set "front"; an app served alone keeps "app".
REQUEST_LOG = envchoice("REQUEST_LOG", ("app", "front"), "app")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # The request line is written by pollsite.middleware; django.request would
        # repeat every 4xx as a warning. Server errors (with their traceback, for us,
        # never for the client) still come through at ERROR.
        "django.request": {"level": "ERROR"},
        # httpx logs every registry call at INFO; identity.registry logs the failures.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
        # procrastinate says at INFO, in every process, each periodic task it registers
        # and each job a worker takes; failures and retries still come at WARNING/ERROR.
        "procrastinate": {"level": "WARNING"},
    },
}

# --- National ID verification -----------------------------------------------------------
NATIONAL_ID_SCHEME = envchoice(
    "NATIONAL_ID_SCHEME", ("za", "ee", "in", "ke", "ng"), defaults.NATIONAL_ID_SCHEME
)
# The blind index key (HMAC-SHA256 of the canonical number). Kept apart from SECRET_KEY so
# either can be rotated alone; the version is stored next to each index value.
NATIONAL_ID_HMAC_KEY = envsecret("NATIONAL_ID_HMAC_KEY")
NATIONAL_ID_HMAC_KEY_VERSION = envint("NATIONAL_ID_HMAC_KEY_VERSION", 1, minimum=1)
VOTING_AGE = envint("VOTING_AGE", defaults.VOTING_AGE, minimum=0)

# Attempt limits, counted atomically in Redis (pollsite/ratelimit.py). Verification
# fails closed when Redis is down; login fails open (an outage must not lock everyone out).
VERIFY_ATTEMPTS_PER_ACCOUNT = envint("VERIFY_ATTEMPTS_PER_ACCOUNT", 5, minimum=1)
VERIFY_ATTEMPTS_PER_NATIONAL_ID = envint("VERIFY_ATTEMPTS_PER_NATIONAL_ID", 5, minimum=1)
VERIFY_WINDOW_SECONDS = envint("VERIFY_WINDOW_SECONDS", 3600, minimum=1)
LOGIN_ATTEMPTS_PER_USERNAME = envint("LOGIN_ATTEMPTS_PER_USERNAME", 10, minimum=1)
LOGIN_ATTEMPTS_PER_IP = envint("LOGIN_ATTEMPTS_PER_IP", 100, minimum=1)
LOGIN_WINDOW_SECONDS = envint("LOGIN_WINDOW_SECONDS", 300, minimum=1)
# Device tokens (identity/devices.py, OWASP's device cookies): a client that logged in
# before is limited per device (this many failures per window), not by its address nor
# by its account's unknown clients. At most LOGIN_DEVICES_PER_USER per account (the
# oldest go), each valid LOGIN_DEVICE_MAX_AGE_SECONDS after it was issued.
LOGIN_ATTEMPTS_PER_DEVICE = envint("LOGIN_ATTEMPTS_PER_DEVICE", 10, minimum=1)
LOGIN_DEVICES_PER_USER = envint("LOGIN_DEVICES_PER_USER", 20, minimum=1)
LOGIN_DEVICE_MAX_AGE_SECONDS = envint("LOGIN_DEVICE_MAX_AGE_SECONDS", 365 * 86400, minimum=60)

# --- The national registry (identity/registry.py is its only caller) --------------------
REGISTRY_URL = envstr("REGISTRY_URL", None if PRODUCTION else defaults.embedded_registry_url())
REGISTRY_ADAPTER = envstr("REGISTRY_ADAPTER", "identity.registry.SignedRegistryAdapter")
REGISTRY_CLIENT_ID = envstr("REGISTRY_CLIENT_ID", defaults.REGISTRY_CLIENT_ID)
REGISTRY_CLIENT_SECRET = envsecret("REGISTRY_CLIENT_SECRET")
REGISTRY_API_KEY = os.environ.get("REGISTRY_API_KEY", "")
REGISTRY_CONNECT_TIMEOUT = envfloat("REGISTRY_CONNECT_TIMEOUT", 2.0)
REGISTRY_READ_TIMEOUT = envfloat("REGISTRY_READ_TIMEOUT", 5.0)
# One verification never waits longer than this for the registry, retries included.
REGISTRY_DEADLINE = envfloat("REGISTRY_DEADLINE", REGISTRY_READ_TIMEOUT)
REGISTRY_RETRIES = envint("REGISTRY_RETRIES", 2, minimum=0)
REGISTRY_BREAKER_FAIL_MAX = envint("REGISTRY_BREAKER_FAIL_MAX", 5, minimum=1)
REGISTRY_BREAKER_RESET_SECONDS = envint("REGISTRY_BREAKER_RESET_SECONDS", 30, minimum=1)
REGISTRY_SIM_DATA = os.environ.get("REGISTRY_SIM_DATA", "")

# Benchmarks only (bench/): route the no-op endpoints (bench/urls.py).
BENCH_ENDPOINTS = envbool("BENCH_ENDPOINTS", False)

# --- Polls ------------------------------------------------------------------------------
CACHEOPS = {
    # Polls and options change only through the ORM, so cacheops sees every write and
    # invalidates on its own.
    "polls.poll": {"ops": "all"},
    "polls.option": {"ops": "all"},
    # Written by triggers and REFRESH, behind the ORM's back: cached explicitly in
    # selectors and invalidated explicitly (polls.services.results_changed, the refresher).
    "polls.optiontally": {"ops": ()},
    "polls.resultssnapshot": {"ops": ()},
    "polls.votetimelinesnapshot": {"ops": ()},
}
# vote_timeline_mv (minute buckets, a scan of every vote) is refreshed this often, by the
# workers (polls/tasks.py); `manage.py refresh_results` refreshes it by hand.
TIMELINE_REFRESH_SECONDS = envfloat("TIMELINE_REFRESH_SECONDS", 60.0)

# --- Background work: procrastinate (polls/tasks.py, identity/tasks.py) -----------------
# The workers refresh poll_results_mv this often, and vote_timeline_mv every
# TIMELINE_REFRESH_SECONDS (each a divisor of 60 s or of 60 min: a cron's interval).
RESULTS_REFRESH_SECONDS = envint("RESULTS_REFRESH_SECONDS", 5, minimum=1)
# A vote's Idempotency-Key replays its first answer for this long, then is forgotten (a
# later retry answers 409 already_voted: the vote still counts once).
IDEMPOTENCY_KEY_RETENTION_HOURS = envint("IDEMPOTENCY_KEY_RETENTION_HOURS", 48, minimum=1)
# poll.results_final is recorded this long after a poll closes: longer than any
# transaction may last (transaction_timeout, DB_TRANSACTION_TIMEOUT_MS), so a vote that
# passed the open check just before the close has committed or failed (polls/lifecycle.py).
RESULTS_FINAL_DELAY_SECONDS = envfloat("RESULTS_FINAL_DELAY_SECONDS", 15.0)
# Webhooks (webhooks/services.py): each attempt bounded in time and in what it reads;
# retried after each of these seconds in turn (about 27 h in all); an endpoint whose
# deliveries fail this many times in a row is disabled. Targets on loopback, private,
# link-local or metadata addresses are refused unless this says otherwise (development
# and tests, to deliver to a receiver on loopback).
WEBHOOK_ALLOW_PRIVATE_TARGETS = envbool("WEBHOOK_ALLOW_PRIVATE_TARGETS", False)
WEBHOOK_TIMEOUT_SECONDS = envfloat("WEBHOOK_TIMEOUT_SECONDS", 5.0)
WEBHOOK_RESPONSE_MAX_BYTES = envint("WEBHOOK_RESPONSE_MAX_BYTES", 65536, minimum=0)
WEBHOOK_RETRY_SECONDS = envints(
    "WEBHOOK_RETRY_SECONDS", [5, 300, 1800, 7200, 18000, 36000, 36000], minimum=1
)
WEBHOOK_DISABLE_AFTER = envint("WEBHOOK_DISABLE_AFTER", 5, minimum=1)
# A job whose worker has sent no heartbeat for this long (a worker sends one every 10 s)
# is queued again by retry_stalled_jobs: a worker killed mid-job loses nothing.
STALLED_JOB_SECONDS = envint("STALLED_JOB_SECONDS", 30, minimum=15)
PROCRASTINATE_WORKER_DEFAULTS = {
    # Every queue; polling as well as LISTEN, so a lost notification costs at most this.
    "fetch_job_polling_interval": 1.0,
    "update_heartbeat_interval": 10.0,
    "stalled_worker_timeout": STALLED_JOB_SECONDS,
    # SIGTERM: finish the jobs under way (bounded by their own timeouts), then stop.
    "shutdown_graceful_timeout": 30.0,
}
# A periodic tick more than this late (no worker was up) is skipped, not run late.
PROCRASTINATE_PERIODIC_DEFAULTS = {"max_delay": 600}
# The public timeline merges whole minutes into buckets of at least this many votes (all
# options together), so that no bucket narrows a voter's choice more than k voters' worth
# (docs/privacy.md).
TIMELINE_MIN_BUCKET_VOTES = envint("TIMELINE_MIN_BUCKET_VOTES", 10, minimum=1)
# The materialized views are created by migrations_extra 0002, not after every migrate.
MATERIALIZED_VIEWS_DISABLE_SYNC_ON_MIGRATE = True
# Results stream (polls/stream_apis.py, polls/stream_hub.py): at most one event per poll
# per interval; a comment line keeps idle connections open.
RESULTS_STREAM_MIN_INTERVAL = envfloat("RESULTS_STREAM_MIN_INTERVAL", 0.2)
RESULTS_STREAM_HEARTBEAT = envfloat("RESULTS_STREAM_HEARTBEAT", 15.0)
# How many streams one stream process holds; past it, a new one is refused with 503
# stream_capacity. The front sizes its connections to this (devstack/web.py), so that
# full streams never take the connections votes and reads need. STREAMS_PER_CLIENT is
# the front's limit for one client address (429 too_many_streams), read by devstack.
RESULTS_STREAM_CAPACITY = envint(
    "RESULTS_STREAM_CAPACITY", defaults.RESULTS_STREAM_CAPACITY, minimum=1
)
STREAMS_PER_CLIENT = envint("STREAMS_PER_CLIENT", defaults.STREAMS_PER_CLIENT, minimum=1)
# The results cache (polls/results_cache/). Each process serves what it read from Redis
# for RESULTS_LEASE_SECONDS, and a change (a vote, a poll edit) to a poll that is being
# read waits out the leases on it, at most that long, before its answer is sent: longer
# leases save Redis round trips and rebuilds on reads under voting, and cost each vote
# on a poll being read up to that much latency. 20 ms: results under voting at 82 % of
# the no-op GET, against 73 % with 10 ms (3 alternating rounds); votes on polls nobody
# reads never wait.
RESULTS_LEASE_SECONDS = envfloat("RESULTS_LEASE_SECONDS", 0.02)
# After Redis failed to answer, each process reads results from the database for this
# long before it asks Redis again.
RESULTS_CACHE_RETRY_SECONDS = envfloat("RESULTS_CACHE_RETRY_SECONDS", 1.0)
# `manage.py reconcile_results` (started by `make run`) compares every cached results
# entry with the database this often, and repairs any that differ: a change whose
# announcement Redis missed, or a vote written outside the API (psql, imports). That is
# the bound on a stale read once Redis answers again (docs/api-contract.md).
RESULTS_RECONCILE_SECONDS = envfloat("RESULTS_RECONCILE_SECONDS", 0.25)
# Each stream process rereads the results of the polls it serves this often, so a
# wake-up lost anywhere costs at most that long.
RESULTS_STREAM_REFRESH_SECONDS = envfloat("RESULTS_STREAM_REFRESH_SECONDS", 1.0)
# How often each app process may send the NOTIFY that wakes the streams.
RESULTS_NOTIFY_INTERVAL = envfloat("RESULTS_NOTIFY_INTERVAL", 0.05)
