# Joins the record's migration (0016, issue 14) and the replay jobs' (0019) so that the committed history has a
# single leaf whichever of the other engineers' merges (0018) lands first; it changes nothing.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('screening', '0016_safety_acknowledgements_amendment_reason'),
        ('screening', '0019_replayjob'),
    ]

    operations = []
