"""Besides the project cast: a staff user (the team's admin, not a member of the cast's
project) and a superuser."""

from __future__ import annotations

import pytest


@pytest.fixture
def staff(make_user):
    user = make_user("staffer")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="root-pw-123")
