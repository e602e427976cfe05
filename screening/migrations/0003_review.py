# Reserved for the admin review issue (indexes for history and dashboard).
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("screening", "0002_roles")]

    operations = []
