"""Token authentication with an expiry (settings.API_TOKEN_TTL_HOURS)."""

from __future__ import annotations

from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from apps.core.services import api_token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's TokenAuthentication, refusing tokens older than API_TOKEN_TTL_HOURS.

    A leaked token stops working on its own; clients get a new one from the token endpoint
    (which replaces the expired one)."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if api_token_is_expired(token):
            raise AuthenticationFailed("Token expired: POST /api/v1/auth/token/ for a new one.")
        return user, token
