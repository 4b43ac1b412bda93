"""One answer per customer per occasion (NPS and fan survey), and aliases of merged profiles.

Answers already stored keep the occasion their touchpoints were keyed by: the order's id,
else `response-<id>` (so no follow-up is planned a second time for an old answer).
"""

import django.db.models.deletion
from django.db import migrations, models

import saleor_conveyor.models

FILL = [
    "UPDATE saleor_conveyor_npsresponse SET occasion = COALESCE(order_id, 'response-' || id) WHERE occasion IS NULL",
    "UPDATE saleor_conveyor_fansurveyresponse SET occasion = 'response-' || id WHERE occasion IS NULL",
]


class Migration(migrations.Migration):

    dependencies = [
        ('saleor_conveyor', '0003_profile_python_defaults'),
    ]

    operations = [
        migrations.AddField(
            model_name='npsresponse',
            name='occasion',
            field=models.CharField(max_length=96, null=True),
        ),
        migrations.AddField(
            model_name='fansurveyresponse',
            name='occasion',
            field=models.CharField(max_length=96, null=True),
        ),
        migrations.RunSQL(FILL, reverse_sql=migrations.RunSQL.noop),
        migrations.AlterField(
            model_name='npsresponse',
            name='occasion',
            field=models.CharField(default=saleor_conveyor.models.own_occasion, max_length=96),
        ),
        migrations.AlterField(
            model_name='fansurveyresponse',
            name='occasion',
            field=models.CharField(default=saleor_conveyor.models.own_occasion, max_length=96),
        ),
        migrations.RemoveConstraint(
            model_name='npsresponse',
            name='conveyor_nps_once_per_order',
        ),
        migrations.AddConstraint(
            model_name='npsresponse',
            constraint=models.UniqueConstraint(fields=('profile', 'occasion'), name='conveyor_nps_once_per_occasion'),
        ),
        migrations.AddConstraint(
            model_name='fansurveyresponse',
            constraint=models.UniqueConstraint(
                fields=('profile', 'occasion'), name='conveyor_fan_survey_once_per_occasion'
            ),
        ),
        migrations.CreateModel(
            name='ProfileAlias',
            fields=[
                ('old_profile_id', models.BigIntegerField(primary_key=True, serialize=False)),
                (
                    'profile',
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name='aliases',
                        to='saleor_conveyor.fanprofile',
                    ),
                ),
            ],
        ),
    ]
