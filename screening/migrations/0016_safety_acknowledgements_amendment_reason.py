# Issue 14: the safety flags acknowledged with the signature (DESIGN.md §5) and an amendment's reason.
# Every new column has a default, so the rows already there (signed ones included) are not rewritten.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('screening', '0014_audit_request_id'),
    ]

    operations = [
        migrations.AddField(
            model_name='screening',
            name='amendment_reason',
            field=models.TextField(blank=True, default='', verbose_name='reason for amendment'),
        ),
        migrations.AddField(
            model_name='screening',
            name='emergency_action',
            field=models.CharField(blank=True, choices=[('crisis_team', 'Crisis team contacted'), ('emergency_services', 'Emergency services called'), ('emergency_department', 'Sent to an emergency department'), ('other', 'Other')], default='', max_length=32, verbose_name='action taken on the emergency referral'),
        ),
        migrations.AddField(
            model_name='screening',
            name='emergency_action_text',
            field=models.TextField(blank=True, default='', verbose_name='what was done'),
        ),
        migrations.AddField(
            model_name='screening',
            name='safety_review_confirmed',
            field=models.BooleanField(default=False, verbose_name='same-day risk assessment confirmed'),
        ),
        migrations.AddConstraint(
            model_name='screening',
            constraint=models.CheckConstraint(condition=models.Q(('emergency_action', ''), ('emergency_action__in', ['crisis_team', 'emergency_services', 'emergency_department', 'other']), _connector='OR'), name='screening_screening_emergency_action_valid'),
        ),
        migrations.AddConstraint(
            model_name='screening',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('emergency_action', ''), ('emergency_action_text', '')), models.Q(models.Q(('emergency_action', ''), _negated=True), ('emergency_action_text__gt', ''), ('flag_emergency_referral', True)), _connector='OR'), name='screening_screening_emergency_action_whole', violation_error_message="An emergency referral's action needs what was done, and only an emergency referral has one."),
        ),
        migrations.AddConstraint(
            model_name='screening',
            constraint=models.CheckConstraint(condition=models.Q(('safety_review_confirmed', False), ('flag_safety_review', True), _connector='OR'), name='screening_screening_safety_review_confirmed_flag'),
        ),
        migrations.AddConstraint(
            model_name='screening',
            constraint=models.CheckConstraint(condition=models.Q(('amendment_reason', ''), ('amends__isnull', False), _connector='OR'), name='screening_screening_amendment_reason_amends'),
        ),
    ]
