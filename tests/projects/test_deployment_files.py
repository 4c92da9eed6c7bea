"""docker-compose.yml is a valid Compose file that wires what the app actually reads.

No Docker engine runs on the development or CI machines, so the file is checked the way
``docker compose config`` would check it: parsed against the Compose specification (the
``compose-spec`` parser), then its cross-references and its environment against the code.
"""

from __future__ import annotations

import re

import pytest
import yaml
from compose_spec import PyCompose

from tests.support.rasters import REPO

COMPOSE_FILE = REPO / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict:
    # PyYAML resolves the merge keys (``<<: *app``) as Compose does before validation.
    return yaml.safe_load(COMPOSE_FILE.read_text())


def validate(document: dict) -> PyCompose:
    return PyCompose.from_yaml(yaml.safe_dump(document))


def test_the_compose_file_follows_the_compose_specification(compose):
    assert set(validate(compose).service_names()) == {"db", "redis", "web", "tiler", "worker", "worker-gpu"}


def test_the_validator_refuses_a_misspelt_key_and_an_unknown_condition(compose):
    misspelt = {**compose, "services": {**compose["services"], "redis": {"image": "redis:7", "restartt": "always"}}}
    with pytest.raises(ValueError, match="restartt"):
        validate(misspelt)
    web = {**compose["services"]["web"], "depends_on": {"db": {"condition": "service_happy"}}}
    with pytest.raises(ValueError, match="service_happy"):
        validate({**compose, "services": {**compose["services"], "web": web}})


def test_every_dependency_volume_and_secret_a_service_names_is_declared(compose):
    services = compose["services"]
    for name, service in services.items():
        assert set(service.get("depends_on", {})) <= set(services) - {name}, name
        for mount in service.get("volumes", []):
            source = mount.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in compose["volumes"], f"{name}: volume {source}"
        assert set(service.get("secrets", [])) <= set(compose.get("secrets", {})), name


def test_every_geoprompt_variable_the_file_sets_is_read_by_the_settings(compose):
    settings_source = (REPO / "backend" / "settings.py").read_text()
    read = set(re.findall(r'"(GEOPROMPT_[A-Z0-9_]+)"', settings_source))
    # A secret may also come from a file named by NAME_FILE (backend/env.py: env_secret).
    read |= {f"{name}_FILE" for name in re.findall(r'env_secret\("(GEOPROMPT_[A-Z0-9_]+)"', settings_source)}
    for name, service in compose["services"].items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), name
        unknown = {key for key in environment if key.startswith("GEOPROMPT_")} - read
        assert not unknown, f"{name} sets variables no setting reads: {sorted(unknown)}"


def test_app_services_share_storage_settings_so_any_of_them_may_run_on_another_machine(compose):
    app_services = ("web", "tiler", "worker", "worker-gpu")
    for key in ("GEOPROMPT_STORAGE_URL", "GEOPROMPT_S3_ENDPOINT_URL", "GEOPROMPT_DATABASE_URL", "GEOPROMPT_REDIS_URL"):
        values = {compose["services"][name]["environment"].get(key) for name in app_services}
        assert len(values) == 1 and None not in values, key
