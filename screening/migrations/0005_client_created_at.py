import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("screening", "0004_audit")]

    operations = [
        migrations.AlterField(
            model_name="client",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
    ]
