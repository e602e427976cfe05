"""`manage.py recommend FILE`: answers as JSON in, the recommendation of DESIGN.md §4 out,
with the six-domain risk summary of §10 under `domains`."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from screening import questionnaire, rules


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    # A repeated key would silently keep only its last value: contradictory answers must not pass.
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class Command(BaseCommand):
    help = "Recommend a level of care for a JSON answer set (or an array of them). FILE may be - for stdin."
    requires_system_checks = []  # pure computation: no database, and start-up stays fast

    def add_arguments(self, parser):
        parser.add_argument("file", help="JSON file with one answer object or an array of them; - reads stdin")
        parser.add_argument("--indent", type=int, default=None, help="pretty-print the output")

    def handle(self, *args, file, indent, **options):
        try:
            if file == "-":
                raw = sys.stdin.buffer.read()
            else:
                with open(file, "rb") as f:
                    raw = f.read()
        except OSError as e:
            raise CommandError(f"FILE: cannot read {file}: {e.strerror}", returncode=2) from None
        try:
            data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_no_duplicate_keys)
        except UnicodeDecodeError as e:
            raise CommandError(f"FILE: not UTF-8 text (byte {e.start})", returncode=2) from None
        except json.JSONDecodeError as e:
            message = f"FILE: not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
            raise CommandError(message, returncode=2) from None
        except _DuplicateKey as e:
            raise CommandError(f"FILE: the key {e.args[0]!r} appears twice in one object", returncode=2) from None
        except (ValueError, RecursionError) as e:  # e.g. an integer of thousands of digits, absurd nesting
            message = f"FILE: not usable JSON ({type(e).__name__}: {str(e)[:120]})"
            raise CommandError(message, returncode=2) from None

        # An array gets an array back, and each error names its element.
        many = isinstance(data, list)
        results, problems = [], []
        for index, item in enumerate(data if many else [data]):
            try:
                results.append(rules.evaluate(questionnaire.parse(item)).to_dict())
            except questionnaire.QuestionnaireError as e:
                where = f"[{index}]." if many else ""
                problems.extend(f"{where}{name}: {msg}" for name, msgs in e.errors.items() for msg in msgs)
        if problems:
            head = f"invalid answers in {len(problems)} place(s)" if many else "invalid answers"
            raise CommandError(f"{head}:\n  " + "\n  ".join(problems), returncode=2)
        self.stdout.write(json.dumps(results if many else results[0], indent=indent))
