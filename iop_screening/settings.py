"""Settings for IOP Screening, read from the environment, else from the git-ignored `.env` (or `ENV_FILE`),
which `make run` and `make test` write with random development keys. Every variable is in .env.example.

Fail closed: a missing or published secret, or a boolean or number it cannot read, stops the program at
start naming the setting. `DATABASE_URL` switches from a SQLite file to PostgreSQL.
"""

import base64
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# The secrets the program will not start without, each the setting of its name (`make` gives each a
# development key in `.env`).
REQUIRED_SECRETS = ("SECRET_KEY", "AUDIT_HMAC_KEY", "AUDIT_SIGNING_KEY")
# Values this repository has published for them, which anyone can read; any "change-me-..." value (the
# old .env.example's) is refused too.
PUBLISHED_SECRETS = frozenset({"insecure-placeholder-key-for-local-development-only", "insecure-placeholder-audit-key"})
# Module-level names that are not settings are lower case (Django takes every upper-case name).
_true_words = frozenset({"1", "true", "yes", "on"})
_false_words = frozenset({"0", "false", "no", "off"})


def read_env_file(path: Path, *, required: bool) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (blank lines and # comments skipped, optional quotes removed)."""
    if not path.exists():
        if required:
            raise ImproperlyConfigured(f"ENV_FILE={path} does not exist.")
        return {}
    values = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        if not sep or not name.strip():
            raise ImproperlyConfigured(f"{path}, line {number}: expected NAME=value.")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


# ENV_FILE (read from the environment only) is relative to the project root; when it is given the
# file must exist, while the default .env may be missing (the environment then holds everything).
_env_file_name = os.environ.get("ENV_FILE", "").strip()
ENV_FILE = BASE_DIR / (_env_file_name or ".env")
_dotenv = read_env_file(ENV_FILE, required=bool(_env_file_name))


def env(name: str, default: str | None = None) -> str | None:
    """The environment's value, else the .env file's; an empty value counts as unset."""
    return os.environ.get(name) or _dotenv.get(name) or default


def envbool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    word = value.strip().lower()
    if word not in _true_words | _false_words:
        raise ImproperlyConfigured(f"{name}={value!r} is not a boolean: use true or false (or 1/0, yes/no, on/off).")
    return word in _true_words


def envint(name: str, default: int, *, minimum: int = 0) -> int:
    value = env(name)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is below its minimum, {minimum}.")
    return number


def envlist(name: str, default: str) -> list[str]:
    return [v.strip() for v in env(name, default).split(",") if v.strip()]


def envsecrets(names: tuple[str, ...]) -> dict[str, str]:
    """Each named secret, or one error naming every secret that is missing or published."""
    values = {name: env(name) for name in names}
    missing = [name for name, value in values.items() if value is None]
    published = [
        name for name, value in values.items() if value in PUBLISHED_SECRETS or str(value).startswith("change-me")
    ]
    problems = [f"{', '.join(missing)} not set"] if missing else []
    if published:
        problems.append(f"{', '.join(published)} set to a value published in this repository")
    if problems:
        raise ImproperlyConfigured(
            f"{'; '.join(problems)}. Set each in the environment or in {ENV_FILE} to a long"
            " random value, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"
            " (`make run` and `make test` write development keys to .env when it is missing)."
        )
    return values


DEBUG = envbool("DEBUG", False)
# SECRET_KEY, AUDIT_HMAC_KEY (the key of the audit log's HMAC-SHA-256 hash chain: changing it
# invalidates verification of old events) and any other name in REQUIRED_SECRETS.
globals().update(envsecrets(REQUIRED_SECRETS))
# AUDIT_SIGNING_KEY: the Ed25519 private key that signs the audit chain's checkpoints (DESIGN.md §7), as the
# base64 of its 32 raw bytes; its public key is published, so anyone can check a checkpoint.
try:
    if len(base64.b64decode(AUDIT_SIGNING_KEY, validate=True)) != 32:  # noqa: F821 (set just above)
        raise ValueError
except ValueError:
    raise ImproperlyConfigured(
        "AUDIT_SIGNING_KEY is not the base64 of 32 bytes (an Ed25519 private key), e.g. "
        "python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())'"
    ) from None
# The public halves of signing keys retired by a rotation (base64, comma-separated): old checkpoints still verify.
AUDIT_RETIRED_PUBLIC_KEYS = envlist("AUDIT_RETIRED_PUBLIC_KEYS", "")
for _public in AUDIT_RETIRED_PUBLIC_KEYS:
    try:
        if len(base64.b64decode(_public, validate=True)) != 32:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            f"AUDIT_RETIRED_PUBLIC_KEYS holds {_public!r}, not the base64 of a 32-byte Ed25519 public key."
        ) from None
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "django_filters",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "screening",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "screening.middleware.AuditContextMiddleware",
    "screening.middleware.RequestGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "screening.middleware.SessionTimeoutMiddleware",
    "screening.middleware.MfaMiddleware",
    "screening.views.handover.HandoverLockMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "iop_screening.urls"
WSGI_APPLICATION = "iop_screening.wsgi.application"

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
                "screening.context_processors.roles",
            ],
        },
    },
]

_database_url = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=envint("DB_CONN_MAX_AGE", 0))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction begins, so concurrent writers (the audit
    # chain above all) queue instead of failing with "database is locked" mid-transaction.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
# Behind PgBouncer in transaction mode a cursor cannot outlive its transaction: no server-side cursors
# (every large read already goes in keyset pages: exports, verification).
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = envbool("DISABLE_SERVER_SIDE_CURSORS", False)
# What-if replay runs as a background job (screening/replay_jobs.py): at most this many at once across every app
# server, each in REPLAY_PROCESSES worker processes (0: in the job's thread); a running job whose heartbeat is
# older than REPLAY_STALE_SECONDS lost its server and reads as interrupted.
REPLAY_MAX_RUNNING = envint("REPLAY_MAX_RUNNING", 1, minimum=1)
REPLAY_PROCESSES = envint("REPLAY_PROCESSES", 2)
REPLAY_STALE_SECONDS = envint("REPLAY_STALE_SECONDS", 60, minimum=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
# Argon2id at OWASP's cost first (iop_screening/hashers.py says why); PBKDF2 only to verify hashes made before it,
# each re-hashed with Argon2id at its user's next sign-in.
PASSWORD_HASHERS = ["iop_screening.hashers.Argon2idHasher", "django.contrib.auth.hashers.PBKDF2PasswordHasher"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Sign-in lockout (django-axes): lock a username+address after repeated failures.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", 15, minimum=1) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind a load balancer: how many proxies in front of the app append to X-Forwarded-For (0: none, use the
# connection's address). The client address of the audit trail and of the lockout comes from there.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
AXES_CLIENT_IP_CALLABLE = "screening.middleware.client_address"
# What axes stores as the username: what was typed, cut to a username's length (a 5,000-character value must
# not fail the insert, on PostgreSQL a 500).
AXES_USERNAME_CALLABLE = "screening.signals.typed_username"

# Sessions: idle timeout (sliding) and an absolute lifetime, both in minutes.
# Second factor (DESIGN.md §11): every user enrols a TOTP device; `make run`'s demo turns it off and says so.
MFA_REQUIRED = envbool("MFA_REQUIRED", True)
OTP_TOTP_ISSUER = "IOP Screening"

# Password-set and reset links go by email to the user (never shown to an admin); single use, 24 hours.
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "IOP Screening <no-reply@localhost>")
PASSWORD_RESET_TIMEOUT = 24 * 60 * 60

SESSION_IDLE_TIMEOUT_MINUTES = envint("SESSION_IDLE_TIMEOUT_MINUTES", 15, minimum=1)
SESSION_ABSOLUTE_TIMEOUT_MINUTES = envint("SESSION_ABSOLUTE_TIMEOUT_MINUTES", 8 * 60, minimum=1)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT_MINUTES * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

SECURE = envbool("SECURE", False)  # production behind HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = SECURE
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if envbool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp 4): no inline script or style, everything from this origin.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves static files (Bootstrap included, from the django-bootstrap-static package) in
# every environment: from STATIC_ROOT after `collectstatic`, else straight from the app folders.
WHITENOISE_USE_FINDERS = True
# Production (`make serve`, `make release`): hashed, compressed file names from `collectstatic`, which WhiteNoise
# serves with a year's caching; development and tests read the files as they are.
STATIC_MANIFEST = envbool("STATIC_MANIFEST", False)
if STATIC_MANIFEST:
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    WHITENOISE_USE_FINDERS = False

# Logs carry ids and actions, never names or answers (no PHI in logs).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # One JSON object per line (screening.logs.JsonFormatter): each request with its id, method, path
    # without the query string, status, duration and user id — never a name, record number or answer.
    "formatters": {"json": {"()": "screening.logs.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # 4xx responses are expected traffic (a 403 for a wrong role); only server errors are logged.
    "loggers": {"axes": {"level": "WARNING"}, "django.request": {"level": "ERROR"}},
}
