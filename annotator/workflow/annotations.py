"""Annotation lifecycle: create, update and delete, each writing a version row.

Geometries come in as GeoJSON (EPSG:4326, lon/lat, RFC 7946) and are stored as
MultiPolygons in EPSG:4326, clipped to the image footprint. Areas are geodesic on the
WGS84 ellipsoid, in square metres. An update names the version it edits; a stale one is
refused with :class:`~annotator.errors.StaleVersion` and changes nothing. Who may change
what is :mod:`annotator.access`'s to decide.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import shapely
from django.conf import settings
from django.contrib.gis.geos import GEOSException, GEOSGeometry, MultiPolygon, Polygon
from django.db import transaction
from django.utils import timezone
from pyproj import Geod

from annotator.access import Access, require_role
from annotator.choices import Role
from annotator.errors import InvalidInput, NotFound, StaleVersion
from annotator.geometry import crosses_antimeridian, into_frame
from annotator.models import (
    Annotation,
    AnnotationSource,
    AnnotationState,
    AnnotationVersion,
    Image,
    LabelClass,
    Project,
    VersionAction,
)
from annotator.segment import prompt_sessions
from annotator.workflow import risk

_GEOD = Geod(ellps="WGS84")
ATTRIBUTE_TYPES = ("text", "number", "choice", "boolean")
_MISSING: Any = object()
# Two geometries whose vertices are closer than this (degrees, EPSG:4326; about 0.1 mm) are the
# same: a geometry sent back as the API gave it has been through a decimal round trip.
SAME_GEOMETRY_DEG = 1e-9


# --- geometry --------------------------------------------------------------------------


def geodesic_area_m2(geometry: GEOSGeometry) -> float:
    """Area of an EPSG:4326 (multi)polygon on the WGS84 ellipsoid, in square metres."""
    area, _perimeter = _GEOD.geometry_area_perimeter(shapely.from_wkb(bytes(geometry.wkb)))
    return abs(area)


def _polygonal(geometry: GEOSGeometry) -> MultiPolygon | None:
    """The polygon parts of a geometry as a MultiPolygon (SRID 4326), or None if it has none."""
    if geometry.empty:
        return None
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif isinstance(geometry, MultiPolygon):
        parts = list(geometry)
    elif geometry.geom_type == "GeometryCollection":
        parts = []
        for part in geometry:
            found = _polygonal(part)
            if found is not None:
                parts.extend(found)
    else:
        return None
    parts = [p for p in parts if not p.empty and p.area > 0]
    if not parts:
        return None
    return MultiPolygon(*parts, srid=4326)


def parse_geojson(value: Any, field: str = "geometry") -> GEOSGeometry:
    """Parse a GeoJSON Polygon/MultiPolygon (or a Feature holding one) in EPSG:4326."""
    if isinstance(value, dict) and value.get("type") == "Feature":
        value = value.get("geometry")
    if not isinstance(value, dict) or "type" not in value or "coordinates" not in value:
        raise InvalidInput("Give the geometry as a GeoJSON Polygon or MultiPolygon object.", field=field)
    if value["type"] not in ("Polygon", "MultiPolygon"):
        raise InvalidInput(f"The geometry must be a Polygon or MultiPolygon, not a {value['type']}.", field=field)
    if value["coordinates"] == []:
        raise InvalidInput("The geometry is empty.", field=field)
    try:
        geometry = GEOSGeometry(json.dumps(value))
    except (ValueError, TypeError, GEOSException) as exc:
        raise InvalidInput(f"The geometry is not readable GeoJSON: {exc}", field=field) from None
    except Exception as exc:  # GDALException for malformed coordinate arrays
        raise InvalidInput(f"The geometry is not readable GeoJSON: {exc}", field=field) from None
    geometry.srid = 4326
    return geometry


def clean_geometry(geometry: GEOSGeometry, image: Image, *, repair: bool = False) -> MultiPolygon:
    """Validate an EPSG:4326 polygon and clip it to the image footprint.

    Args:
        geometry: a Polygon or MultiPolygon in EPSG:4326 (lon, lat degrees).
        image: the image it belongs to; its footprint (EPSG:4326) bounds the result.
        repair: make an invalid geometry valid instead of refusing it (imports).

    Returns:
        A valid, non-empty MultiPolygon in EPSG:4326, inside the footprint.

    Raises:
        InvalidInput: empty, invalid (with GEOS's reason), too many vertices, outside the
            image, or an image without a footprint.
    """
    if image.footprint is None:
        raise InvalidInput("This image has no georeference yet, so it cannot hold annotations.", field="image")
    if geometry.empty:
        raise InvalidInput("The geometry is empty.", field="geometry")
    limit = settings.MAX_ANNOTATION_VERTICES
    if geometry.num_coords > limit:
        raise InvalidInput(f"The geometry has {geometry.num_coords} vertices; the limit is {limit}.", field="geometry")
    west, south, east, north = geometry.extent
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        raise InvalidInput("The geometry has coordinates that are not finite numbers.", field="geometry")
    footprint = image.footprint
    # Across the antimeridian the footprint runs on past ±180° (annotator.geometry); there a
    # polygon may come in either longitude convention, or split at the line (RFC 7946).
    lon_limit = 540 if crosses_antimeridian(_shapely(footprint)) else 180
    if west < -lon_limit or east > lon_limit or south < -90 or north > 90:
        raise InvalidInput("Coordinates must be longitude, latitude in degrees (EPSG:4326).", field="geometry")
    if not geometry.valid:
        if not repair:
            raise InvalidInput(f"The geometry is not valid: {geometry.valid_reason}.", field="geometry")
        geometry = geometry.make_valid()
    if lon_limit > 180:
        geometry = _into_footprint_frame(geometry, footprint)
    if not footprint.contains(geometry):
        geometry = geometry.intersection(footprint)
    clipped = _polygonal(geometry)
    if clipped is None:
        raise InvalidInput("The geometry lies outside the image.", field="geometry")
    return clipped


def _shapely(geometry: GEOSGeometry) -> shapely.Geometry:
    return shapely.from_wkb(bytes(geometry.wkb))


def _into_footprint_frame(geometry: GEOSGeometry, footprint: GEOSGeometry) -> GEOSGeometry:
    """Each polygon of ``geometry`` moved into the footprint's longitude frame, parts that meet
    at the antimeridian joined into one."""
    frame = _shapely(footprint)
    polygons = getattr(_shapely(geometry), "geoms", None) or [_shapely(geometry)]
    joined = shapely.union_all([into_frame(polygon, frame) for polygon in polygons])
    return GEOSGeometry(memoryview(shapely.to_wkb(joined)), srid=4326)


# --- attributes ------------------------------------------------------------------------


def clean_attribute_definitions(definitions: Any) -> list[dict[str, Any]]:
    """Validate a label class's attribute definitions.

    Each is ``{"name": str, "type": "text"|"number"|"choice"|"boolean", "required": bool,
    "choices": [str, ...]}`` (choices only, and required, for type ``choice``).
    """
    if not isinstance(definitions, list):
        raise InvalidInput("attributes must be a list of definitions.", field="attributes")
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in definitions:
        if not isinstance(item, dict):
            raise InvalidInput("Each attribute definition must be an object.", field="attributes")
        name = item.get("name")
        kind = item.get("type")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_ -]{0,63}", name):
            raise InvalidInput(f"Attribute name {name!r} is not a short plain name.", field="attributes")
        if name in seen:
            raise InvalidInput(f"Attribute {name!r} is defined twice.", field="attributes")
        seen.add(name)
        if kind not in ATTRIBUTE_TYPES:
            raise InvalidInput(
                f"Attribute {name!r} has type {kind!r}; use one of {', '.join(ATTRIBUTE_TYPES)}.", field="attributes"
            )
        if extra := sorted(set(item) - {"name", "type", "required", "choices"}):
            raise InvalidInput(f"Attribute {name!r} has unknown keys: {', '.join(extra)}.", field="attributes")
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise InvalidInput(f"Attribute {name!r}: required must be true or false.", field="attributes")
        definition: dict[str, Any] = {"name": name, "type": kind, "required": required}
        if kind == "choice":
            choices = item.get("choices")
            if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
                raise InvalidInput(f"Attribute {name!r} needs a list of text choices.", field="attributes")
            if len(set(choices)) != len(choices):
                raise InvalidInput(f"Attribute {name!r} lists a choice twice.", field="attributes")
            definition["choices"] = choices
        elif "choices" in item and item["choices"] not in (None, []):
            raise InvalidInput(f"Only choice attributes have choices; {name!r} is a {kind}.", field="attributes")
        cleaned.append(definition)
    return cleaned


def clean_attributes(label_class: LabelClass | None, attributes: Any) -> dict[str, Any]:
    """Check an annotation's attribute values against its class's definitions: known names,
    values of their type. Required ones may still be missing on a draft: a submit asks for
    them (:func:`annotator.workflow.labels.check_submittable`)."""
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise InvalidInput("attributes must be an object.", field="attributes")
    definitions = {d["name"]: d for d in (label_class.attributes if label_class else [])}
    unknown = sorted(set(attributes) - set(definitions))
    if unknown:
        where = f"class {label_class.name!r}" if label_class else "an annotation without a class"
        raise InvalidInput(f"Unknown attribute(s) for {where}: {', '.join(unknown)}.", field="attributes")
    for name, definition in definitions.items():
        if name not in attributes or attributes[name] is None:
            continue
        value = attributes[name]
        kind = definition["type"]
        ok = {
            "text": isinstance(value, str),
            "number": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
            "boolean": isinstance(value, bool),
            "choice": value in definition.get("choices", []),
        }[kind]
        if not ok:
            expected = f"one of {definition['choices']}" if kind == "choice" else f"a {kind}"
            raise InvalidInput(f"Attribute {name!r} must be {expected}.", field="attributes")
    return {k: v for k, v in attributes.items() if v is not None}


def carried_over(label_class: LabelClass | None, attributes: dict[str, Any]) -> dict[str, Any]:
    """The values of ``attributes`` that ``label_class`` defines with a matching type: what an
    annotation keeps when its class changes (the others belonged to the old class)."""
    kept = {}
    for name, value in (attributes or {}).items():
        try:
            kept.update(clean_attributes(label_class, {name: value}))
        except InvalidInput:
            continue
    return kept


def label_class_for(
    project: Project, label_class_id: int | None, *, current_id: int | None = None
) -> LabelClass | None:
    """The project's class ``label_class_id``; an archived one only if the annotation already has it."""
    if label_class_id is None:
        return None
    label_class = LabelClass.objects.filter(project=project, pk=label_class_id).first()
    if label_class is None:
        raise InvalidInput(f"Label class {label_class_id} is not in this project.", field="label_class")
    if label_class.archived and label_class.pk != current_id:
        raise InvalidInput(
            f"The label class {label_class.name!r} is archived: it stays on the annotations that have it, "
            "but new work takes another class.",
            field="label_class",
        )
    return label_class


# --- versions --------------------------------------------------------------------------


def version_row(annotation: Annotation, action: VersionAction, user, comment: str = "") -> AnnotationVersion:
    """An unsaved version row holding the annotation's current content."""
    return AnnotationVersion(
        annotation=annotation,
        version=annotation.version,
        action=action,
        user=user if user is not None and user.is_authenticated else None,
        geometry=annotation.geometry,
        label_class_id=annotation.label_class_id,
        attributes=annotation.attributes,
        state=annotation.state,
        comment=comment,
    )


def parse_version(value: Any, if_match: str | None = None) -> int | None:
    """The version an update names: an ``If-Match`` ETag (``"3"`` or ``W/"3"``) or a field."""
    if if_match:
        token = if_match.strip().removeprefix("W/").strip('"')
        if not token.isdigit():
            raise InvalidInput('If-Match must be the annotation\'s ETag, such as "3".', field="version")
        return int(token)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("version must be an integer.", field="version")
    return value


def lock(annotation_id: int) -> Annotation:
    """The live annotation row, locked until the transaction ends."""
    annotation = (
        Annotation.objects.live()
        .select_for_update(of=("self",))
        .select_related("project", "image")
        .filter(pk=annotation_id)
        .first()
    )
    if annotation is None:
        raise NotFound("No such annotation.")
    return annotation


def check_version(annotation: Annotation, expected: int | None, *, required: bool) -> None:
    if expected is None:
        if required:
            raise InvalidInput("Name the version you edit (If-Match header or a version field).", field="version")
        return
    if expected != annotation.version:
        raise StaleVersion(
            f"Someone changed this annotation since you loaded it: you edited version {expected}, "
            f"it is now at version {annotation.version}. Reload it and apply your change again.",
            extra={"current_version": annotation.version},
        )


# --- lifecycle -------------------------------------------------------------------------


def create_annotation(
    image: Image,
    user,
    geometry: Any,
    *,
    label_class_id: int | None = None,
    attributes: Any = None,
    source: str = AnnotationSource.MANUAL,
    sam: dict | None = None,
    session_id: str | None = None,
) -> Annotation:
    """Create a draft annotation (version 1) from GeoJSON in EPSG:4326.

    The caller must be an annotator, reviewer or owner of the image's project. With
    ``source="sam"`` and the ``session_id`` of the prompt session it came from, the SAM2
    figures that session recorded for its last result (on this image, for this user) go
    into ``provenance`` server-side, and the review risk is computed from them
    (:mod:`annotator.workflow.risk`); the browser's own ``sam`` object is kept as sent.
    """
    require_role(user, image.project_id, Role.ANNOTATOR, "Only annotators, reviewers and owners create annotations.")
    if source not in (AnnotationSource.SAM, AnnotationSource.MANUAL):
        raise InvalidInput("source must be 'sam' or 'manual'; imports go through the import endpoint.", field="source")
    if sam is not None and not isinstance(sam, dict):
        raise InvalidInput("sam must be an object (prompts, score, model, untrained).", field="sam")
    label_class = label_class_for(image.project, label_class_id)
    clean = clean_geometry(parse_geojson(geometry), image)
    annotation = Annotation(
        project_id=image.project_id,
        image=image,
        label_class=label_class,
        author=user,
        geometry=clean,
        area_m2=geodesic_area_m2(clean),
        source=source,
        sam=sam if source == AnnotationSource.SAM else None,
        attributes=clean_attributes(label_class, attributes),
    )
    if source == AnnotationSource.SAM and session_id:
        annotation.provenance = click_provenance(session_id, image, user)
        risk.assess(annotation)
    with transaction.atomic():
        annotation.save()
        version_row(annotation, VersionAction.CREATED, user).save()
    return annotation


def click_provenance(session_id: str, image: Image, user) -> dict:
    """The figures the prompt session ``session_id`` recorded for its last result, when that
    result was this user's on this image; else an empty dict (expired, someone else's)."""
    figures = prompt_sessions.last_figures(session_id)
    if not figures or figures.get("image") != image.pk or figures.get("user") != user.pk:
        return {}
    return {k: v for k, v in figures.items() if k not in ("image", "user")} | {"session": session_id}


def update_annotation(
    annotation_id: int,
    user,
    *,
    expected_version: int | None,
    geometry: Any = _MISSING,
    label_class_id: Any = _MISSING,
    attributes: Any = _MISSING,
) -> Annotation:
    """Change geometry, label or attributes of the version the caller names.

    A rejected annotation that is edited goes back to ``draft`` (to be submitted again). An
    update that changes nothing (the same geometry within ``SAME_GEOMETRY_DEG``, label class
    and attributes) writes nothing: no version, no change of state.

    Raises:
        PermissionDenied: the user may not edit it (someone else's, or a viewer).
        LockedForReview: the author's annotation is submitted or approved.
        StaleVersion: ``expected_version`` is not the current version (nothing is written).
    """
    with transaction.atomic():
        annotation = lock(annotation_id)
        Access.of(user, annotation.project).check("edit", annotation)
        check_version(annotation, expected_version, required=True)
        stored = (annotation.geometry.clone(), annotation.label_class_id, annotation.attributes)
        stored_area = annotation.area_m2
        if geometry is not _MISSING:
            annotation.geometry = clean_geometry(parse_geojson(geometry), annotation.image)
            annotation.area_m2 = geodesic_area_m2(annotation.geometry)
        previous_class_id = annotation.label_class_id
        if label_class_id is not _MISSING:
            annotation.label_class = label_class_for(
                annotation.project, label_class_id, current_id=annotation.label_class_id
            )
        if attributes is not _MISSING:
            annotation.attributes = clean_attributes(annotation.label_class, attributes)
        elif annotation.label_class_id != previous_class_id:
            annotation.attributes = carried_over(annotation.label_class, annotation.attributes)
        if _unchanged(annotation, *stored):
            # Saving what is stored (a deselect, a repeated request) is no new version: the
            # history stays a list of real changes.
            annotation.geometry = stored[0]
            return annotation
        if annotation.state == AnnotationState.REJECTED:
            annotation.state = AnnotationState.DRAFT
        if risk.has_figures(annotation) and (annotation.label_class_id, annotation.area_m2) != (
            previous_class_id,
            stored_area,
        ):
            risk.assess(annotation)  # the area part follows the new outline or class
        annotation.version += 1
        annotation.save()
        version_row(annotation, VersionAction.UPDATED, user).save()
    return annotation


def _unchanged(annotation: Annotation, geometry: GEOSGeometry, label_class_id: int | None, attributes: dict) -> bool:
    """Whether ``annotation`` (changed in memory) still holds the stored geometry (EPSG:4326),
    label class and attributes."""
    return (
        annotation.label_class_id == label_class_id
        and annotation.attributes == attributes
        and annotation.geometry.equals_exact(geometry, SAME_GEOMETRY_DEG)
    )


def delete_annotation(annotation_id: int, user, *, expected_version: int | None = None) -> Annotation:
    """Delete an annotation, keeping it as a tombstone with a ``deleted`` version row."""
    with transaction.atomic():
        annotation = lock(annotation_id)
        Access.of(user, annotation.project).check("delete", annotation)
        check_version(annotation, expected_version, required=False)
        annotation.deleted_at = timezone.now()
        annotation.version += 1
        annotation.save(update_fields=["deleted_at", "version", "updated_at"])
        version_row(annotation, VersionAction.DELETED, user).save()
    return annotation
