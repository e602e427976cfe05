# Reserved for the auditor issue (append-only trigger on PostgreSQL).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("screening", "0003_review")]

    operations = []
