# Issue 5: the accounting of disclosures is written once per client an export contains, so its table keeps one
# index besides the primary key, unique (client, export), and no foreign-key constraints in the database (see
# ExportDisclosure in models.py for why).


import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('screening', '0005_client_created_at'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='exportdisclosure',
            name='screening_exportdisclosure_unique_client',
        ),
        migrations.RemoveIndex(
            model_name='exportdisclosure',
            name='screening_disclosure_cl_idx',
        ),
        migrations.AlterField(
            model_name='exportdisclosure',
            name='client',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='disclosures', to='screening.client'),
        ),
        migrations.AlterField(
            model_name='exportdisclosure',
            name='export',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='disclosures', to='screening.exportrun'),
        ),
        migrations.AddConstraint(
            model_name='exportdisclosure',
            constraint=models.UniqueConstraint(fields=('client', 'export'), name='screening_exportdisclosure_client_export'),
        ),
    ]
