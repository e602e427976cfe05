"""`manage.py db_roles --app-role NAME [--create [--password-env VAR]]`: the application's PostgreSQL role.

Run as the owner role (the one that ran `migrate` and owns the tables), after every `migrate`. The application
role may SELECT, INSERT, UPDATE and DELETE the ordinary tables, only SELECT `django_migrations`, and only SELECT
and INSERT the audit and anchor tables: PostgreSQL refuses it UPDATE, DELETE and TRUNCATE there, whatever the
application does (docs/operations.md). Sequences: USAGE and SELECT (never setval). Every run first revokes what
the role holds on the schema's tables and sequences, then grants the above, so running it again is harmless and
puts back anything granted by hand. Default privileges give tables from later migrations the ordinary grants;
running it again after each migrate is what keeps a new append-only table restricted.
"""

import os
import re

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from screening.models import AuditAnchor, AuditEvent

# Tables the application may only read and append to (DESIGN.md §7).
APPEND_ONLY_TABLES = (AuditEvent._meta.db_table, AuditAnchor._meta.db_table)
# The migration history: the application may read it (to report unapplied migrations), only migrate writes it.
READ_ONLY_TABLES = ("django_migrations",)
ORDINARY = "SELECT, INSERT, UPDATE, DELETE"
REFUSED = ("UPDATE", "DELETE", "TRUNCATE")
# A plain lower-case PostgreSQL identifier: nothing to quote, nothing to escape.
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def _one(sql: str, params: list | None = None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def _run(*statements: str) -> None:
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


class Command(BaseCommand):
    help = (
        "Grant the application's PostgreSQL role what it needs and no more: the audit and anchor tables "
        "SELECT and INSERT only. Run as the owner role after every migrate (idempotent)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="the role the application connects as")
        parser.add_argument(
            "--create", action="store_true", help="create the role (LOGIN, no other attribute) if it does not exist"
        )
        parser.add_argument(
            "--password-env",
            metavar="VAR",
            help="with --create: set the role's password from this environment variable (never from the command line)",
        )

    def handle(self, *args, app_role, create, password_env, **options):
        if not ROLE_NAME.fullmatch(app_role):
            raise CommandError(
                f"--app-role {app_role!r}: use lower-case letters, digits and _ (at most 63)", returncode=2
            )
        if password_env and not create:
            raise CommandError("--password-env goes with --create", returncode=2)
        if connection.vendor != "postgresql":
            raise CommandError("db_roles needs PostgreSQL (DATABASE_URL): SQLite has no roles", returncode=2)
        password = None
        if password_env:
            password = os.environ.get(password_env, "")
            if not password:
                raise CommandError(f"--password-env: the environment variable {password_env} is empty or unset")

        with transaction.atomic():
            owner = self._owner()
            if create:
                self._create_or_update(app_role, password)
            elif not _one("SELECT 1 FROM pg_roles WHERE rolname = %s", [app_role]):
                raise CommandError(f"role {app_role} does not exist: create it, or pass --create")
            self._refuse_unsafe(app_role, owner)
            counts = self._grant(app_role, owner)
            self._check(app_role)

        tables, sequences = counts
        self.stdout.write(
            f"Role {app_role}: {ORDINARY} on {tables} tables; SELECT, INSERT only on {', '.join(APPEND_ONLY_TABLES)} "
            f"(UPDATE, DELETE and TRUNCATE refused); SELECT only on {', '.join(READ_ONLY_TABLES)}; "
            f"USAGE, SELECT on {sequences} sequences; tables {owner} creates later get {ORDINARY}. "
            "Run this again after every migrate."
        )

    def _owner(self) -> str:
        owner = _one(
            "SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = %s",
            [APPEND_ONLY_TABLES[0]],
        )
        if owner is None:
            raise CommandError(f"no table {APPEND_ONLY_TABLES[0]} in this database: run migrate first")
        return owner

    def _create_or_update(self, role: str, password: str | None) -> None:
        exists = _one("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if not exists:
            _run(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS')
            self.stdout.write(f"Created role {role}.")
        if password is not None:
            # Hashed here (SCRAM, as the server's password_encryption says): the plain password never reaches
            # the server, so it cannot land in its logs.
            from psycopg2.extensions import encrypt_password

            connection.ensure_connection()
            verifier = encrypt_password(password, role, connection.connection)
            with connection.cursor() as cursor:
                cursor.execute(f'ALTER ROLE "{role}" PASSWORD %s', [verifier])
            self.stdout.write(f"Set the password of {role}.")

    def _refuse_unsafe(self, role: str, owner: str) -> None:
        # The role must not be able to act as an owner of the tables: owners may TRUNCATE, drop triggers and
        # grant themselves anything.
        if role == owner or _one("SELECT pg_has_role(%s, %s, 'MEMBER')", [role, owner]):
            raise CommandError(f"role {role} is (or may act as) {owner}, the tables' owner: use a separate role")
        if _one("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [role]):
            raise CommandError(f"role {role} is a superuser: PostgreSQL refuses it nothing")

    def _grant(self, role: str, owner: str) -> tuple[int, int]:
        schema = _one("SELECT current_schema()")
        database = _one("SELECT current_database()")
        # Identifiers come from the catalogue or passed ROLE_NAME above; quoted, never taken from a user's text.
        r, o, s = f'"{role}"', f'"{owner}"', f'"{schema}"'
        restricted = ", ".join(f'"{t}"' for t in APPEND_ONLY_TABLES)
        read_only = ", ".join(f'"{t}"' for t in READ_ONLY_TABLES)
        _run(
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {s} FROM {r}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {s} FROM {r}",
            f'GRANT CONNECT ON DATABASE "{database}" TO {r}',
            f"GRANT USAGE ON SCHEMA {s} TO {r}",
            f"GRANT {ORDINARY} ON ALL TABLES IN SCHEMA {s} TO {r}",
            f"REVOKE INSERT, UPDATE, DELETE ON {read_only} FROM {r}",
            f"REVOKE UPDATE, DELETE ON {restricted} FROM {r}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {s} TO {r}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT {ORDINARY} ON TABLES TO {r}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {o} IN SCHEMA {s} GRANT USAGE, SELECT ON SEQUENCES TO {r}",
        )
        tables = _one("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
        sequences = _one("SELECT count(*) FROM pg_sequences WHERE schemaname = current_schema()")
        return tables, sequences

    def _check(self, role: str) -> None:
        # Ask PostgreSQL what the role can do, memberships and PUBLIC included: a grant made elsewhere (to PUBLIC,
        # to a group the role belongs to) would undo the restriction, and this run would not have revoked it.
        for table in APPEND_ONLY_TABLES:
            held = [p for p in REFUSED if _one("SELECT has_table_privilege(%s, %s, %s)", [role, table, p])]
            if held:
                raise CommandError(
                    f"role {role} still has {', '.join(held)} on {table}, granted to PUBLIC or to a role it "
                    "belongs to: revoke it there"
                )
