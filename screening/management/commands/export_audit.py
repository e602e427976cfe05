"""`manage.py export_audit --format csv|jsonl [--since DATE] [--until DATE] [--output FILE]`.

The audit-log export of the auditor page (screening.exports.audit_log) over the whole trail or a date range,
to stdout or a file, logged in the audit trail like any export. Bad arguments exit with status 2 naming the
option. Check the file with `tools/verify_audit_export.py FILE --public-key KEY`.
"""

import getpass

from django.core.management.base import BaseCommand

from screening.exports import audit_log

from ._output import iso_date, write_export


class Command(BaseCommand):
    help = (
        "Export the audit trail with its hashes and signed checkpoints (CSV or JSON Lines); logged as an audit event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", required=True, choices=sorted(audit_log.FORMATS), help="output format")
        parser.add_argument("--since", type=iso_date, help="first day included (YYYY-MM-DD, local time)")
        parser.add_argument("--until", type=iso_date, help="last day included (YYYY-MM-DD, local time)")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, format, since, until, output, **options):
        export = audit_log.AuditLogExport(
            fmt=format,
            filters=audit_log.AuditExportFilters(since=since, until=until),
            actor_username=f"{getpass.getuser()} (command line)",
            via="command",
        )
        write_export(since=since, until=until, output=output, stream=export.stream)
        d = export.event.details
        self.stderr.write(
            f"Exported {d['rows']} audit events and {d['checkpoints']} checkpoints ({d['bytes']} bytes, "
            f"sha256 {d['sha256']}); audit event #{export.event.pk}."
        )
