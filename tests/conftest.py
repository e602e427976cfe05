import pytest

from tests.factories import PASSWORD, UserFactory


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
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
