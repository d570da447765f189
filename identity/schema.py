"""OpenAPI description of the bearer-token authentication."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "identity.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": (
                "Get a token from POST /api/v1/auth/login and send it as "
                "`Authorization: Bearer <token>`. It expires after TOKEN_TTL_HOURS and dies "
                "at once on POST /api/v1/auth/logout."
            ),
        }
