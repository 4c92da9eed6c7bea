from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Geoprompt annotator"
    default_auto_field = "django.db.models.BigAutoField"

    # Modules that register a job runner (``@jobs.register``). The job registry imports them
    # on its first lookup, not here in ready(): the encode runner pulls in torch, which
    # manage.py commands do not need.
    job_runner_modules = (
        "annotator.imagery.images",
        "annotator.sam2.encoding",
        "annotator.exports.build",
        "annotator.workflow.vector_import",
    )
