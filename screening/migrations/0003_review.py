# Indexes for the admin review pages (issue 4): history and dashboard.
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [("screening", "0002_roles")]

    operations = [
        migrations.AddIndex(
            model_name="screening",
            index=models.Index(
                condition=~Q(status="draft"),
                fields=[
                    "created_at",
                    "id",
                    "recommended_level",
                    "final_level",
                    "decision",
                    "override_reason",
                    "clinician",
                    "signed_at",
                    "rules_version",
                    "flag_emergency_referral",
                    "flag_safety_review",
                    "flag_detox_first",
                    "flag_below_iop_threshold",
                    "flag_no_support_network",
                    "flag_commitments_conflict",
                    "flag_attendance_barrier",
                ],
                name="screening_review_idx",
            ),
        ),
    ]
