from django.apps import AppConfig


class AnnotatorConfig(AppConfig):
    name = "annotator"
    verbose_name = "Geoprompt annotator"
    default_auto_field = "django.db.models.BigAutoField"

    # Where each kind of job runs: the module that registers its runner (``@jobs.register``)
    # and the Celery queue its jobs go to. The registry imports a module only when a job of
    # its kind runs: enqueueing needs only the queue, so the web process and the default
    # worker never load torch for the encode runner.
    job_runners = {
        "ingest": ("annotator.imagery.images", "default"),
        "encode": ("annotator.sam2.encoding", "encode"),
        "export": ("annotator.exports.build", "default"),
        "import": ("annotator.workflow.vector_import", "default"),
        # Loads SAM2's decoder (torch): on the encode worker, like the encoder.
        "evaluate": ("annotator.quality.evaluation", "encode"),
        # Vector geometry and a raster grid in metres (shapely, rasterio): no torch.
        "consensus": ("annotator.quality.agreement", "default"),
        # Segment everything / find similar: SAM2's decoder on the cached features (torch).
        "drafts": ("annotator.drafts.runs", "encode"),
    }
