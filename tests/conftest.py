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
