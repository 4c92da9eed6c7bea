"""Schema fuzzing: generated requests against a live server, checked against /api/v1/schema/.

schemathesis reads the schema the API serves and, from a fixed seed, generates requests
for every operation: boundary cases of every parameter and body field (its coverage
phase, valid and invalid values) and a bounded number of random ones. Each response must
not be a server error, and its status, content type and body must be ones the operation
documents. It runs as the owner of a project that holds one row of every kind, so that
most ids name real rows, and as an anonymous caller. No operation is skipped: the segment
endpoint answers 409 (the world's image has no SAM2 features), export downloads 409 (the
export has not run).

It drives schemathesis's engine (what its command line runs) rather than its pytest
plugin: the plugin of schemathesis 4.32 sets ``Item._nodeid``, which pytest 9.2 no longer has.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests
import schemathesis
from django.db import connection
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema

from tests.support.workflow import CENTRE, make_image, square

# The timeout only bounds a hang (a run takes one to three minutes on two busy cores).
pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(900), pytest.mark.django_db(transaction=True)]

SEED = 20261128
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance"]
# Random cases per operation, after the coverage phase's boundary cases.
OWNER_EXAMPLES = 5
ANONYMOUS_EXAMPLES = 3
# One case in this many keeps the ids it was generated with (mostly rows that do not
# exist: the 404 answers); the others name the world's rows.
KEEP_GENERATED_IDS_EVERY = 4


def fuzz_config(
    base_url: str, max_examples: int, token: str | None = None, coverage: bool = True
) -> SchemathesisConfig:
    """Deterministic generation from :data:`SEED`; no deadline, no time limit: only the count is bounded."""
    # A new connection for every request: Django's test server mishandles an occasional
    # keep-alive connection after an error page, and a broken pipe is not the API's doing.
    headers = {"Connection": "close"}
    if token is not None:
        headers["Authorization"] = f"Token {token}"
    return SchemathesisConfig.from_dict(
        {
            "base-url": base_url,
            "seed": SEED,
            "cache": {"enabled": False},  # nothing learnt in one run changes the next
            "suppress-health-check": ["all"],
            "headers": headers,
            "workers": 1,
            "request-timeout": 120,  # a hung request fails the run; no request comes near it
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
            "phases": {
                # Boundary values of every parameter and body field, valid and not; no requests
                # with methods the path does not have (Django answers those 405 before any view).
                "coverage": {
                    "enabled": coverage,
                    "unexpected-methods": [],
                    "generate-duplicate-query-parameters": False,
                },
                # Stateful sequences need links between operations that the schema does not declare.
                "stateful": {"enabled": False},
            },
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
                # The owner's token is in the headers; anonymous callers send generated ones.
                "with-security-parameters": token is None,
            },
        }
    )


@dataclass
class World:
    """One row of every kind in the cast's project, and factories of fresh ones for DELETE."""

    ids: dict[str, int]
    fresh: dict[str, Callable[[], int]]


# The path segment before ``{id}`` -> the kind of row it names.
ID_KIND = re.compile(r"/(?P<kind>[a-z-]+)/\{id\}")


@pytest.fixture
def world(cast) -> World:
    from annotator.choices import JobKind, Role
    from annotator.models import Export, Job, LabelClass, Membership, Project, VectorImport
    from annotator.workflow import annotations, comments

    project, owner = cast.project, cast.owner
    label = LabelClass.objects.create(project=project, name="field")
    image = make_image(project)
    counter = itertools.count()

    def new_annotation() -> int:
        # The fuzzer may have archived the class meanwhile (PATCH archived=true), and new work
        # takes no archived class: labelled fresh rows get it back first.
        LabelClass.objects.filter(pk=label.pk).update(archived=False)
        return annotations.create_annotation(image, owner, square(*CENTRE), label_class_id=label.pk).pk

    def new_area() -> int:
        return comments.save_area(project, image_id=image.pk, geometry=square(*CENTRE, 0.002), user=owner).pk

    def new_project() -> int:
        other = Project.objects.create(name=f"Throwaway {next(counter)}", created_by=owner)
        Membership.objects.create(project=other, user=owner, role=Role.OWNER)
        return other.pk

    def new_member() -> int:
        user = type(owner).objects.create_user(username=f"newcomer{next(counter)}", password="x")
        return Membership.objects.create(project=project, user=user, role=Role.VIEWER).pk

    def new_label_class() -> int:
        return LabelClass.objects.create(project=project, name=f"class {next(counter)}").pk

    def new_image() -> int:
        return make_image(project, name=f"scene {next(counter)}.tif").pk

    def new_export() -> int:
        return Export.objects.create(project=project, created_by=owner, formats=["geojson"]).pk

    job = Job.objects.create(project=project, kind=JobKind.INGEST, target=image, created_by=owner)
    export = Export.objects.create(project=project, created_by=owner, formats=["geojson"])
    centre = {"type": "Point", "coordinates": list(CENTRE)}
    thread = comments.open_thread(project, owner, "Is this a field?", image_id=image.pk, point=centre)
    vector_import = VectorImport.objects.create(
        project=project, image=image, file_name="fields.geojson", created_by=owner
    )
    return World(
        ids={
            "projects": project.pk,
            "members": Membership.objects.get(project=project, user=cast.viewer).pk,
            "label-classes": label.pk,
            "images": image.pk,
            "jobs": job.pk,
            "exports": export.pk,
            "annotations": new_annotation(),
            "areas": new_area(),
            "comments": thread.pk,
            "imports": vector_import.pk,
        },
        fresh={
            "projects": new_project,
            "members": new_member,
            "label-classes": new_label_class,
            "images": new_image,
            "exports": new_export,
            "annotations": new_annotation,
            "areas": new_area,
        },
    )


@dataclass
class FuzzRun:
    operations: set[str] = field(default_factory=set)
    requests: int = 0
    requests_by_phase: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def served_schema(live_server) -> dict:
    """The schema the server serves, with one form encoding per request body.

    DRF parses urlencoded and multipart bodies into the same QueryDict, so fuzzing both
    only doubles the form cases; the JSON body and the multipart one (files) stay.
    """
    response = requests.get(f"{live_server.url}/api/v1/schema/", params={"format": "json"}, timeout=60)
    response.raise_for_status()
    raw = response.json()
    for methods in raw["paths"].values():
        for operation in methods.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in content:
                content.pop("application/x-www-form-urlencoded", None)
    return raw


def fuzz(live_server, config: SchemathesisConfig, before_call: Callable | None = None) -> FuzzRun:
    """Run schemathesis's phases against the live server; collect every failed check."""
    schema = schemathesis.openapi.from_dict(served_schema(live_server), config=config)
    run = FuzzRun()
    if before_call is not None:
        schemathesis.hook("before_call")(before_call)  # a global hook: unregistered below
    try:
        run_engine(schema, run)
    finally:
        if before_call is not None:
            schemathesis.hooks.unregister(before_call)
    return run


def run_engine(schema, run: FuzzRun) -> None:
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            run.operations.add(recorder.label)
            run.requests += len(recorder.interactions)
            phase = event.phase.value
            run.requests_by_phase[phase] = run.requests_by_phase.get(phase, 0) + len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        response = recorder.interactions[case_id].response
                        body = response.content[:300] if response is not None else b""
                        run.failures.append(
                            f"{recorder.label}: {check.failure_info.failure.title}\n"
                            f"{check.failure_info.failure.message}\n{check.failure_info.code_sample}\n"
                            f"-> {response.status_code if response is not None else None} {body!r}"
                        )
        elif isinstance(event, events.NonFatalError):
            info = event.info
            run.failures.append(f"{event.label}: {info.title}: {info.message}\n{info.extras}\n{info.code_sample}")
        elif isinstance(event, events.FatalError):
            raise event.exception


@pytest.fixture
def id_chooser(world):
    """A ``before_call`` hook: points a case's path parameters at the world's rows (a fresh
    row for DELETE, so that deletions do their work and the world stays whole)."""
    cases = itertools.count()

    def before_call(context, case, **kwargs) -> None:
        params = case.path_parameters
        if not params:
            return
        delete = case.method.upper() == "DELETE"
        if not delete and next(cases) % KEEP_GENERATED_IDS_EVERY == KEEP_GENERATED_IDS_EVERY - 1:
            return
        if "project_pk" in params:
            params["project_pk"] = world.ids["projects"]
        if "image_pk" in params:
            params["image_pk"] = world.ids["images"]
        match = ID_KIND.search(case.operation.path)
        kind = match["kind"] if match else None
        if "id" not in params or kind not in world.ids:
            return  # a kind the world has no row of: the generated id (most likely a 404)
        if delete and kind in world.fresh:
            params["id"] = world.fresh[kind]()
            connection.close()  # the engine's thread: leave no connection open on the test database
        elif not delete:
            params["id"] = world.ids[kind]

    return before_call


def report(run: FuzzRun) -> str:
    return f"{len(run.failures)} failures in {run.requests} requests\n\n" + "\n\n".join(run.failures[:40])


def test_the_owner_gets_documented_answers_and_no_server_errors(live_server, world, id_chooser):
    response = requests.post(
        f"{live_server.url}/api/v1/auth/token/", json={"username": "owner", "password": "owner-pw-123"}, timeout=30
    )
    response.raise_for_status()
    config = fuzz_config(live_server.url, OWNER_EXAMPLES, token=response.json()["token"])
    run = fuzz(live_server, config, before_call=id_chooser)
    print(f"owner: {len(run.operations)} operations, {run.requests} requests {run.requests_by_phase}")
    assert not run.failures, report(run)


def test_an_anonymous_caller_gets_documented_answers_and_no_server_errors(live_server, cast):
    # Every operation but the token's answers 401 whatever the input: no boundary cases needed.
    run = fuzz(live_server, fuzz_config(live_server.url, ANONYMOUS_EXAMPLES, coverage=False))
    print(f"anonymous: {len(run.operations)} operations, {run.requests} requests")
    assert not run.failures, report(run)
