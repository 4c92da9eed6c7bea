"""Label classes of a project and the label rules of a submit.

A project's classes have an explicit ``order``: the annotate page's keys 1-9 follow it
(archived classes skipped), new classes go last, and owners reorder them by sending every
id in the order they want. A class that live annotations use is never deleted (that would
strip their label): it is archived instead, which hides it from new work but keeps it on
those annotations and in exports. A submit needs a label class when the project says so
(``Project.require_label``) and every attribute its class marks as required; saving a
draft checks attribute types only (:func:`annotator.workflow.annotations.clean_attributes`).
Who may change classes is :mod:`annotator.access`'s to decide (owners, by the API's roles).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Q

from annotator.errors import AttributesRequired, InUse, InvalidInput, LabelRequired
from annotator.models import Annotation, LabelClass, Project


def with_usage(queryset):
    """Label classes with ``annotation_count``: the live annotations that use each (one query)."""
    return queryset.annotate(
        annotation_count=Count("annotations", filter=Q(annotations__deleted_at__isnull=True), distinct=True)
    )


def create_label_class(project: Project, **fields: Any) -> LabelClass:
    """A new class of ``project``, placed after the existing ones (archived ones included)."""
    with transaction.atomic():
        # The project row is the lock: two classes created at once get different places.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        last = LabelClass.objects.filter(project=project).aggregate(last=Max("order"))["last"]
        fields["order"] = 0 if last is None else last + 1
        return LabelClass.objects.create(project=project, **fields)


def reorder(project: Project, ids: Any) -> list[LabelClass]:
    """Put the project's classes in the order of ``ids`` (every class id of the project, once).

    Returns:
        The classes in their new order (``order`` 0, 1, 2, ...).

    Raises:
        InvalidInput: ``ids`` is not a list of ids, names a class of another project, repeats
            one or leaves one out.
    """
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidInput("ids must be the list of the project's label class ids, in order.", field="ids")
    if len(set(ids)) != len(ids):
        raise InvalidInput("ids names a label class more than once.", field="ids")
    with transaction.atomic():
        classes = {c.pk: c for c in LabelClass.objects.select_for_update().filter(project=project)}
        if unknown := sorted(set(ids) - set(classes)):
            raise InvalidInput(f"Label classes {unknown} are not in this project.", field="ids")
        if missing := sorted(set(classes) - set(ids)):
            names = ", ".join(repr(classes[i].name) for i in missing)
            raise InvalidInput(f"Give every class of the project; missing: {names}.", field="ids")
        ordered = [classes[i] for i in ids]
        for position, label_class in enumerate(ordered):
            label_class.order = position
        LabelClass.objects.bulk_update(ordered, ["order"])
    return ordered


def delete_label_class(label_class: LabelClass) -> None:
    """Delete a class that no live annotation uses.

    Raises:
        InUse: annotations use it (``annotation_count`` says how many); archive it instead.
    """
    with transaction.atomic():
        LabelClass.objects.select_for_update().filter(pk=label_class.pk).first()
        count = Annotation.objects.live().filter(label_class=label_class).count()
        if count:
            raise InUse(
                f"{count} annotation{'s' if count != 1 else ''} use{'' if count != 1 else 's'} the class "
                f"{label_class.name!r}, so it cannot be deleted. Archive it instead: it is then hidden from "
                "new work and kept on those annotations.",
                extra={"annotation_count": count},
            )
        label_class.delete()


def check_submittable(annotation: Annotation) -> None:
    """What a submit needs of the annotation's content: a label class if the project requires
    one, and every attribute its class marks as required.

    Raises:
        LabelRequired: no label class, in a project with ``require_label``.
        AttributesRequired: required attributes without a value (``missing`` lists their names).
    """
    label_class = annotation.label_class
    if label_class is None:
        if annotation.project.require_label:
            raise LabelRequired(
                f"Annotation #{annotation.pk} has no label class, and this project requires one before it is "
                "submitted. Give it a label class, then submit it.",
                field="label_class",
            )
        return
    values = annotation.attributes or {}
    missing = [
        d["name"] for d in label_class.attributes or [] if d.get("required") and values.get(d["name"]) in (None, "")
    ]
    if missing:
        raise AttributesRequired(
            f"Annotation #{annotation.pk} ({label_class.name}) needs a value for "
            f"{', '.join(repr(name) for name in missing)} before it is submitted.",
            field="attributes",
            extra={"missing": missing},
        )
