"""apps/core/validation.py: the database's limits, checked before the database sees them."""

from __future__ import annotations

import pytest
from django.http import QueryDict
from rest_framework import serializers

from apps.core.errors import ApplicationError
from apps.core.validation import (
    NulFreeInputMixin,
    check_integer,
    check_length,
    contains_nul,
    integer_bounds,
    reject_nul,
)
from apps.curriculum.models import Article, Resource

INT_MAX = 2_147_483_647


def test_contains_nul_looks_everywhere():
    assert contains_nul("a\x00")
    assert contains_nul(["ok", ["deeper", {"key": "v\x00"}]])
    assert contains_nul({"k\x00": 1})
    assert not contains_nul({"k": ["v", 1, None, 2.5]})
    deep: list = []
    node = deep
    for _ in range(100_000):  # no recursion: a deep JSON value cannot blow the stack
        node.append([])
        node = node[0]
    node.append("\x00")
    assert contains_nul(deep)


def test_integer_bounds_come_from_the_model_and_the_database():
    assert integer_bounds(Article, "order") == {"min_value": -INT_MAX - 1, "max_value": INT_MAX}
    assert integer_bounds(Article, "version") == {"min_value": 0, "max_value": INT_MAX}
    assert integer_bounds(Resource, "year") == {"min_value": 0, "max_value": 32767}


def test_service_checks_name_the_field():
    with pytest.raises(ApplicationError) as info:
        check_integer(Article, "order", INT_MAX + 1)
    assert info.value.field == "order" and "2,147,483,647" in info.value.message
    with pytest.raises(ApplicationError) as info:
        check_integer(Article, "version", -1, field="expected_version")
    assert info.value.field == "expected_version"
    check_integer(Article, "order", INT_MAX)
    with pytest.raises(ApplicationError) as info:
        check_length(Article, "title", "t" * 201)
    assert info.value.field == "title" and "200" in info.value.message
    with pytest.raises(ApplicationError) as info:
        reject_nul(["fine", "bad\x00"], "topics")
    assert info.value.field == "topics"


class Input(NulFreeInputMixin, serializers.Serializer):
    name = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    extra = serializers.JSONField(required=False)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "ok", "extra": {"nested": ["x\x00"]}}, "extra"),
        ({"name": "ok", "tags": ["a", "b\x00"]}, "tags"),
        ({"name": "n\x00"}, "name"),
    ],
)
def test_serializer_mixin_refuses_nul_in_any_field(data, field):
    serializer = Input(data=data)
    assert not serializer.is_valid()
    assert list(serializer.errors) == [field] and "NUL" in str(serializer.errors[field][0])


def test_serializer_mixin_reads_every_value_of_form_input():
    data = QueryDict(mutable=True)
    data.setlist("name", ["ok"])
    data.setlist("tags", ["b\x00", "fine"])  # QueryDict.__getitem__ would only show "fine"
    serializer = Input(data=data)
    assert not serializer.is_valid() and "tags" in serializer.errors
    assert Input(data={"name": "ok", "extra": {"k": [1, "v"]}}).is_valid()
