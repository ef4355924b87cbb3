"""Page-number pagination whose answers match what the schema promises.

DRF's stock class quietly ignores a ``page_size`` it cannot read and answers 404 to a
``page`` that is not a number. A generated client (or a person) then gets a page they did
not ask for, or "not found" for a typo. Here a value that is not a whole number >= 1 is a
400 naming the parameter; a page past the last one stays a 404 that says how many pages
there are; a ``page_size`` above the maximum is capped (documented).
"""

from __future__ import annotations

from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 100

    def _positive_int(self, request, name: str) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValidationError({name: [f"{name} must be a whole number of at least 1 (got {raw[:20]!r})."]})
        return value

    def get_page_size(self, request) -> int:
        size = self._positive_int(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        paginator = self.django_paginator_class(queryset, page_size)
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            number = paginator.num_pages
        else:
            number = self._positive_int(request, self.page_query_param) or 1
        try:
            self.page = paginator.page(number)
        except InvalidPage:
            raise NotFound(
                f"There is no page {number}: there are {paginator.num_pages} pages of {page_size}."
            ) from None
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                # No "maximum": a larger size is served capped, not refused.
                parameter["description"] = (
                    f"Results per page: default {self.page_size}; values above {self.max_page_size} are capped."
                )
            else:
                parameter["description"] = "Page number, from 1. A page past the last one is a 404."
        return parameters
