from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("annotator", "0008_job_liveness")]

    operations = [
        migrations.AddField(
            model_name="project",
            name="require_label",
            field=models.BooleanField(
                default=True, help_text="whether an annotation needs a label class before it is submitted"
            ),
        ),
        migrations.AddField(
            model_name="labelclass",
            name="archived",
            field=models.BooleanField(
                default=False, help_text="hidden from new work, kept on the annotations that use it"
            ),
        ),
        migrations.AlterField(
            model_name="labelclass",
            name="order",
            field=models.PositiveIntegerField(default=0, help_text="position in the list; keys 1-9 follow it"),
        ),
    ]
