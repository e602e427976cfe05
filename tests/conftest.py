import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests.factories import PASSWORD, UserFactory

# The project's Argon2id hasher spends about 50 ms and 46 MiB on every password it sets or checks, on purpose;
# the suite sets one for every user it makes. Tests hash with MD5 instead, except tests that are
# about passwords, which opt back into the project's hashers with @pytest.mark.real_password_hashing.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REAL_PASSWORD_HASHERS = list(settings.PASSWORD_HASHERS)


def pytest_collection_modifyitems(config, items):
    """Deselect (not skip) tests marked postgresql when the database is not PostgreSQL."""
    if connection.vendor == "postgresql":
        return
    deselected = [item for item in items if item.get_closest_marker("postgresql")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("postgresql")]


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing():
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        yield


@pytest.fixture(autouse=True)
def _real_password_hashing(request):
    # Autouse, so it runs before the fixtures that make users: their passwords get the real hash too.
    if request.node.get_closest_marker("real_password_hashing"):
        request.getfixturevalue("settings").PASSWORD_HASHERS = REAL_PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def _mfa_off(settings):
    # The suite signs users in with a password alone; tests of the second factor (tests/test_mfa.py,
    # tests/e2e/test_mfa.py) switch MFA_REQUIRED back on, as production has it.
    settings.MFA_REQUIRED = False


@pytest.fixture
def clinician(db):
    return UserFactory(username="clin", role="clinician")


@pytest.fixture
def admin_user(db):
    return UserFactory(username="boss", role="admin")


@pytest.fixture
def auditor(db):
    return UserFactory(username="aud", role="auditor")


@pytest.fixture
def password():
    return PASSWORD


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def clinician_client(client, clinician):
    return _client_for(client, clinician)


@pytest.fixture
def admin_client_(client, admin_user):
    return _client_for(client, admin_user)


@pytest.fixture
def auditor_client(client, auditor):
    return _client_for(client, auditor)


@pytest.fixture(scope="session", autouse=True)
def _no_lingering_postgres_sessions(django_db_setup, django_db_blocker):
    """Before the test database is dropped, end sessions that worker processes or live-server threads
    may still hold, so the drop is deterministic (it refuses while any other session is connected)."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
