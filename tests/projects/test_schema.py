"""The OpenAPI schema documents the errors and the shapes the API really answers with.

The live check is tests/projects/test_schema_fuzz.py (marked ``fuzz``, a minute or two);
these read the generated schema only, so the fast lane catches the same regressions early.
"""

from __future__ import annotations

import pytest

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema():
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def error_ref(response: dict) -> str | None:
    return response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")


def test_every_operation_documents_its_errors_with_the_one_error_body(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    assert set(error["properties"]) == {"code", "detail", "field"}
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        if method in ("post", "put", "patch"):
            assert {"400", "403", "413", "415"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        for status, response in responses.items():
            if status >= "400":
                assert error_ref(response) == ERROR_REF, (method, path, status)


def test_conflicts_and_a_missing_checkpoint_are_documented_where_they_happen(schema):
    paths = schema["paths"]
    assert "409" in paths["/api/v1/annotations/{id}/"]["patch"]["responses"]
    assert "409" in paths["/api/v1/projects/{project_pk}/members/{id}/"]["delete"]["responses"]
    assert "409" in paths["/api/v1/exports/{id}/download/"]["get"]["responses"]
    assert {"409", "503"} <= set(paths["/api/v1/images/{id}/segment"]["post"]["responses"])
    assert "409" not in paths["/api/v1/projects/"]["post"]["responses"]


def test_the_annotation_list_is_a_feature_collection_page(schema):
    ok = schema["paths"]["/api/v1/projects/{project_pk}/annotations/"]["get"]["responses"]["200"]
    page = schema["components"]["schemas"][error_ref(ok).rsplit("/", 1)[1]]
    collection, links = page["allOf"]
    assert set(links["required"]) == {"type", "count", "next", "previous", "features"}
    assert "results" not in str(page)
    features = schema["components"]["schemas"][collection["$ref"].rsplit("/", 1)[1]]["properties"]["features"]
    assert features["items"]["$ref"].endswith("/AnnotationFeature")


def test_the_history_is_a_plain_list(schema):
    operation = schema["paths"]["/api/v1/annotations/{id}/history/"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert all(p["in"] == "path" for p in operation["parameters"])


def test_fields_read_through_a_nullable_relation_may_be_null(schema):
    components = schema["components"]["schemas"]
    annotation = components["AnnotationFeature"]["properties"]["properties"]["properties"]
    assert annotation["author"]["nullable"] and annotation["reviewed_by"]["nullable"]
    assert annotation["label_class_name"]["nullable"]
    assert components["Export"]["properties"]["job"]["nullable"]
    assert "nullable" not in components["CommentThread"]["properties"]["comments"]
    assert "nullable" not in components["Membership"]["properties"]["username"]


def test_ids_in_paths_are_integers_and_the_token_endpoint_needs_no_login(schema):
    for path, method, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"] == {"type": "integer"}, (method, path, parameter)
    assert {} in schema["paths"]["/api/v1/auth/token/"]["post"]["security"]
