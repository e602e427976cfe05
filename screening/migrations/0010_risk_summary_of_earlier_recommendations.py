"""The six-domain risk summary, once, for every recommendation stored before the summary existed
(DESIGN.md §10): computed from the answers stored with it under its own rule set version and written
beside it. The screening rows themselves are not touched.

The rules are read from the pure core (`screening.rules`, `screening.questionnaire`): a rule set
version is data that is never edited once issued, so today's code gives what that version gives.
"""

from django.db import migrations

BATCH = 2000


def summarize_earlier(apps, schema_editor):
    from screening import questionnaire, rules

    Screening = apps.get_model("screening", "Screening")
    RiskSummary = apps.get_model("screening", "RiskSummary")
    # Keyset pages over the screenings with a recommendation; per page, one lookup of the summaries that
    # already exist (an anti-join on every page would grow with the table).
    recommended = Screening.objects.filter(recommendation__isnull=False).order_by("id")
    last = 0
    while batch := list(recommended.filter(id__gt=last).values_list("id", "answers_snapshot", "rules_version")[:BATCH]):
        last = batch[-1][0]
        done = set(RiskSummary.objects.filter(screening_id__in=[pk for pk, _, _ in batch]).values_list("pk", flat=True))
        rows = []
        for pk, snapshot, version in batch:
            if pk in done:
                continue
            try:
                result = rules.evaluate(questionnaire.parse(snapshot), version)
            except (questionnaire.QuestionnaireError, ValueError) as error:
                # One stored snapshot today's parser refuses must not undo the rest: name it and go on.
                print(f"\n  screening id {pk}: no risk summary ({error.__class__.__name__})", end="")
                continue
            rows.append(
                RiskSummary(
                    screening_id=pk,
                    evidence={d.domain.value: list(d.evidence) for d in result.domains},
                    **{d.domain.value: d.rating for d in result.domains},
                )
            )
        RiskSummary.objects.bulk_create(rows)


class Migration(migrations.Migration):
    dependencies = [("screening", "0009_risk_summary")]

    operations = [migrations.RunPython(summarize_earlier, migrations.RunPython.noop)]
