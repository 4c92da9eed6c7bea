"""Evaluate a SAM2 model on a project's approved polygons (NoC@85/90, NoF@90, mIoU after 1..5 clicks)."""

from __future__ import annotations

import json
import time

from django.core.management.base import BaseCommand, CommandError

from annotator import jobs
from annotator.errors import GeopromptError
from annotator.models import Job, ModelEvaluation, Project
from annotator.quality import evaluation as service

WAIT_S = 1.0


class Command(BaseCommand):
    help = (
        "Replay the interactive-segmentation protocol (clicks at the farthest point of the larger error "
        "region, each refining the previous mask) on a project's approved polygons, or a seeded sample, "
        "and keep the figures as a ModelEvaluation row. The job runs in this process; if a worker takes "
        "it first, this command waits for it and prints the same figures."
    )

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--model", default=None, help="a SAM2 model name (default: the project's model)")
        parser.add_argument("--sample", type=int, default=None, help="evaluate a random sample of this many polygons")
        parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
        parser.add_argument("--max-clicks", type=int, default=service.DEFAULT_MAX_CLICKS, help="click budget (20)")
        parser.add_argument("--json", action="store_true", dest="as_json", help="print the summary as one JSON line")

    def handle(self, *args, project_id: int, model, sample, seed, max_clicks, as_json: bool, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"There is no project {project_id}.")
        try:
            params = service.parse_params(project, model, sample, seed, max_clicks)
            evaluation = service.create_evaluation(project, None, params)
        except GeopromptError as exc:
            raise CommandError(exc.message) from None
        job = jobs.run_job(evaluation.job_id) or Job.objects.get(pk=evaluation.job_id)
        while not job.is_finished:
            time.sleep(WAIT_S)  # a worker claimed it first: its row says when it is done
            job.refresh_from_db()
        evaluation = ModelEvaluation.objects.get(pk=evaluation.pk)
        if job.status != "succeeded":
            raise CommandError(f"Evaluation {evaluation.pk} {job.status}: {job.error or job.message}")
        self.report(evaluation, job, as_json)

    def report(self, evaluation: ModelEvaluation, job: Job, as_json: bool) -> None:
        s = evaluation.summary
        if as_json:
            self.stdout.write(
                json_line(
                    {
                        "evaluation": evaluation.pk,
                        "model": evaluation.model_name,
                        "checkpoint_digest": evaluation.checkpoint_digest,
                        "untrained": evaluation.untrained,
                        **s,
                        "per_class": evaluation.per_class,
                    }
                )
            )
            return
        self.stdout.write(f"Evaluation {evaluation.pk}: {job.message}")
        if evaluation.untrained:
            self.stdout.write("WARNING: untrained weights (no checkpoint): the numbers are meaningless.")
        self.stdout.write(f"model {evaluation.model_name}, checkpoint {evaluation.checkpoint_digest}")
        self.stdout.write(
            f"{s['objects']} of {s['approved']} approved polygons evaluated; skipped {s['skipped'] or 'none'}; "
            f"{s['runtime_s']:.1f} s ({s['seconds_per_100_objects']} s per 100 objects)"
        )
        rows = [("overall", s), *[(c["name"] or "unlabelled", c) for c in evaluation.per_class]]
        self.stdout.write(f"{'class':<24} {'objects':>7} {'NoC@85':>7} {'NoC@90':>7} {'NoF@90':>7}  mIoU@1..5")
        for name, f in rows:
            if not f["objects"]:
                continue
            curve = " ".join(f"{v:.3f}" for v in f["miou"])
            self.stdout.write(
                f"{name[:24]:<24} {f['objects']:>7} {f['noc85']:>7.2f} {f['noc90']:>7.2f} {f['nof90']:>7}  {curve}"
            )


def json_line(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"))
