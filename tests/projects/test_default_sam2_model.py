"""``GEOPROMPT_SAM2_MODEL`` is the SAM2 model of new projects, created by the API or by load_demo
(the demo's: tests/projects/test_demo_data.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from annotator.sam2.registry import MODELS
from tests.support.rasters import REPO

SMALL = "sam2.1_hiera_small"


def test_a_project_created_through_the_api_gets_the_configured_model(cast, client_for, settings):
    from annotator.models import Project

    settings.PROJECT_CREATORS = "any"
    settings.SAM2_MODEL = SMALL
    response = client_for(cast.owner).post("/api/v1/projects/", {"name": "Wetlands"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["sam2_model"] == SMALL
    assert Project.objects.get(pk=response.json()["id"]).sam2_model == SMALL


def test_a_project_that_names_its_model_keeps_it(cast, client_for, settings):
    settings.PROJECT_CREATORS = "any"
    settings.SAM2_MODEL = SMALL
    body = {"name": "Wetlands", "sam2_model": "sam2.1_hiera_base_plus"}
    response = client_for(cast.owner).post("/api/v1/projects/", body, format="json")
    assert response.json()["sam2_model"] == "sam2.1_hiera_base_plus"


def _settings_in_a_child(model: str) -> subprocess.CompletedProcess:
    """Start Django in a child process with ``GEOPROMPT_SAM2_MODEL=model`` and print the setting."""
    child_env = {**os.environ, "GEOPROMPT_DEBUG": "true", "GEOPROMPT_SAM2_MODEL": model}
    child_env["DJANGO_SETTINGS_MODULE"] = "backend.settings"
    code = "import django; django.setup(); from django.conf import settings; print(settings.SAM2_MODEL)"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=child_env, capture_output=True, text=True, timeout=60
    )


def test_every_model_of_the_registry_is_accepted_and_nothing_else():
    large = _settings_in_a_child("sam2.1_hiera_large")
    assert large.returncode == 0, large.stderr
    assert large.stdout.strip() == "sam2.1_hiera_large"
    unknown = _settings_in_a_child("sam3_hiera_huge")
    assert unknown.returncode != 0
    assert "GEOPROMPT_SAM2_MODEL" in unknown.stderr
    assert all(name in unknown.stderr for name in MODELS)
