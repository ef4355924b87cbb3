"""OpenAPI schema generation: component names, and every error an operation can answer.

Naming: each API view nests its own ``InputSerializer``/``OutputSerializer``; by default
every one of them becomes the component "Output"/"Input" and they clash. Name nested
serializers after the view that holds them instead: ``MeApi.OutputSerializer`` ->
``MeApiOutput``.

Errors: a generated client only handles what the schema lists, so each operation lists the
4xx statuses the framework can answer for it, derived from how the view is built (input,
path parameters, authentication, permissions, pagination, throttling) rather than declared
by hand in every view. A view's own declaration of a status wins; when it gave no body, the
shared error body is filled in. The bodies are defined once, as the components ``Error``
and ``ValidationError`` (see ``apps.core.api.exceptions`` for how they are produced).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, force_instance, is_basic_serializer
from drf_spectacular.utils import OpenApiParameter
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Why the request was refused, in words a person can act on. `field` names the input at fault when "
        "one is; some errors add facts (e.g. `retry_after` seconds, `resets_at`, `current_version`)."
    ),
    "properties": {
        "detail": {"type": "string"},
        "field": {"type": "string"},
    },
    "required": ["detail"],
    "additionalProperties": True,
}
VALIDATION_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Input that was refused: each key is a field (nested fields as `params.<name>` or nested objects) "
        "with its messages; `non_field_errors` for the input as a whole; `detail` (and `field`) when one "
        "message covers the request, e.g. a body that is not valid JSON."
    ),
    "properties": {
        "detail": {"type": "string"},
        "field": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": True,
}

# Permission classes that only ask "is someone signed in" (a 401, not a 403, once the token
# authenticator is first: DRF answers NotAuthenticated with the first authenticator's header).
_AUTHENTICATION_ONLY = (AllowAny, IsAuthenticated, IsAuthenticatedOrReadOnly)
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")

DESCRIPTIONS = {
    "400": "Invalid input: the body or a query parameter was refused (each message names its field).",
    "401": "Not signed in, or the token is unknown or expired. `WWW-Authenticate` says how to authenticate.",
    "403": "Signed in but not allowed (a role or object permission), or a session request without its CSRF token.",
    "404": "No such object (or not yours), or a page past the last one.",
    "413": "The request body is larger than the API accepts; `detail` says the limit.",
    "415": "The body's Content-Type is not one this operation reads.",
    "429": "Too many requests, or a quota is used up: `Retry-After` (seconds) says when to try again.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer, direction) -> str:
        cls = serializer.__class__
        outer, _, inner = cls.__qualname__.rpartition(".")
        if outer and "<locals>" not in outer:
            return outer.replace(".", "") + inner
        return super().get_serializer_name(serializer, direction)

    def _process_override_parameters(self, direction="request"):
        result = super()._process_override_parameters(direction)
        # Query parameters read through a serializer (``parameters=[FilterSerializer]``): DRF
        # treats an empty value of an optional field (``?kind=``, as an HTML form sends it) as
        # absent, so the schema says that empty is accepted.
        for parameter in self.get_override_parameters():
            if not is_basic_serializer(parameter):
                continue
            for name in force_instance(parameter).fields:
                built = result.get((name, OpenApiParameter.QUERY))
                if built and not built.get("required"):
                    built["allowEmptyValue"] = True
        return result

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None:
            self._add_error_responses(operation)
        return operation

    # --- error responses ----------------------------------------------------------------

    def _error_statuses(self, operation: dict) -> list[str]:
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        has_query = any(p.get("in") == "query" for p in parameters)
        has_path = any(p.get("in") == "path" for p in parameters)
        unsafe = self.method not in _SAFE_METHODS
        authenticators = self.view.get_authenticators()
        checks_permission = any(not isinstance(p, _AUTHENTICATION_ONLY) for p in self.view.get_permissions())
        csrf = unsafe and any(isinstance(a, SessionAuthentication) for a in authenticators)
        paginated = self.method == "GET" and self._is_list_view() and self._get_paginator() is not None

        statuses = []
        if has_body or has_query:
            statuses.append("400")
        # Any authenticator refuses a bad or expired credential, even where anonymous use is fine.
        if authenticators:
            statuses.append("401")
        if checks_permission or csrf:
            statuses.append("403")
        if has_path or paginated:
            statuses.append("404")
        if has_body:
            statuses += ["413", "415"]
        # Every API view is throttled in production (DEFAULT_THROTTLE_CLASSES, the search and
        # account throttles), and services answer 429 for a used-up quota.
        statuses.append("429")
        return statuses

    def _add_error_responses(self, operation: dict) -> None:
        responses = operation["responses"]
        for code in self._error_statuses(operation):
            responses.setdefault(code, {"description": DESCRIPTIONS[code]})
        for code, response in responses.items():
            if not code.startswith(("4", "5")) or response.get("content"):
                continue
            component = self._error_component("ValidationError" if code == "400" else "Error")
            response["content"] = {"application/json": {"schema": component.ref}}
            if code == "401":
                response.setdefault("headers", {})["WWW-Authenticate"] = {
                    "schema": {"type": "string"},
                    "description": "The scheme to use, e.g. `Token`.",
                }
            if code == "429":
                response.setdefault("headers", {})["Retry-After"] = {
                    "schema": {"type": "integer"},
                    "description": "Seconds to wait before trying again.",
                }

    def _error_component(self, name: str) -> ResolvedComponent:
        schema = VALIDATION_ERROR_SCHEMA if name == "ValidationError" else ERROR_SCHEMA
        component = ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema)
        self.registry.register_on_missing(component)
        return component
