"""`manage.py create_user USERNAME [USERNAME …] --role ROLE --password-env VAR`: users made by an operator.

For the first admin of a new installation (who then manages everyone else at /users/, where new users get a
password-set link by email) and for a load test's simulated users. The password comes from the environment
variable VAR — never from the command line, where other users of the machine could read it — and passes the
password validators; the users enrol a second factor at their first sign-in when MFA_REQUIRED. Audited as
made by "manage.py create_user". Bad input exits 2 naming the option; nothing is saved then.
"""

import os

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from screening import accounts
from screening.services import ServiceError


class Command(BaseCommand):
    help = "Create users with one role and a password taken from an environment variable."

    def add_arguments(self, parser):
        parser.add_argument("usernames", nargs="+", metavar="USERNAME")
        parser.add_argument("--role", required=True, choices=accounts.ROLES)
        parser.add_argument("--password-env", required=True, metavar="VAR", help="environment variable holding it")

    def handle(self, *args, usernames, role, password_env, **options):
        password = os.environ.get(password_env, "")
        if not password:
            raise CommandError(
                f"--password-env: the environment variable {password_env} is empty or unset", returncode=2
            )
        try:
            made = accounts.operator_create_users(
                usernames=usernames, role=role, password=password, operator="manage.py create_user"
            )
        except ValidationError as e:
            raise CommandError(f"--password-env: {' '.join(e.messages)}", returncode=2) from None
        except ServiceError as e:
            raise CommandError(f"USERNAME: {e}", returncode=2) from None
        self.stdout.write(f"Created {len(made)} {role} user{'s' if len(made) != 1 else ''}.")
