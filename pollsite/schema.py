"""OpenAPI generation: what drf-spectacular cannot see in a view's own declarations.

The schema is what front-end teams generate their clients from (tests/clients holds it to
two real generators), so it says everything the service may answer: each view declares
its own problems (problem_responses), and `AutoSchema.framework_problems` adds the ones
the framework, the database layer and the front answer on any operation of its kind.
"""

import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from drf_spectacular import hooks, openapi
from drf_spectacular.utils import Direction, OpenApiParameter
from rest_framework import exceptions, serializers

from pollsite import problems

if TYPE_CHECKING:
    from drf_spectacular.generators import SchemaGenerator
    from rest_framework.request import Request
    from rest_framework.views import APIView

WRITES = ("POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
# Sent with every 429, 503 and 504 (pollsite/problems.py, deploy/nginx.conf.template).
RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    int,
    OpenApiParameter.HEADER,
    response=[429, 503, 504],
    required=True,
    description="Seconds to wait before retrying.",
)
# The bearer token is optional where an operation does not say otherwise: the document's
# default (see postprocess). Operations that need it say [{"bearerAuth": []}]; operations
# that ignore it say [].
OPTIONAL_BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}, {}]


class AutoSchema(openapi.AutoSchema):
    def get_serializer_name(
        self, serializer: serializers.Serializer[Any], direction: Direction
    ) -> str:
        """Names a view's nested InputSerializer after its view ("LoginRequest", not
        "InputRequest"): views declare `class InputSerializer` inside themselves (HackSoft
        style), and without this every one of them would claim the same component name.
        A view whose methods take different bodies names them with `input_names`.
        """
        cls = serializer if isinstance(serializer, type) else type(serializer)
        owner, _, name = cls.__qualname__.rpartition(".")
        if owner and name == "InputSerializer":
            names: dict[str, str] = getattr(self.view, "input_names", {})
            return names.get(self.method, owner.removesuffix("Api"))
        return super().get_serializer_name(serializer, direction)

    def get_operation_id(self) -> str:
        # "export.csv" would give a dot, which some generators refuse in an identifier.
        return re.sub(r"[^A-Za-z0-9_]", "_", super().get_operation_id())

    def get_override_parameters(self) -> list[Any]:
        return [*super().get_override_parameters(), RETRY_AFTER]

    def _get_response_bodies(self, direction: Direction = "response") -> dict[str, Any]:
        # extend_schema answers get_response_serializers from a subclass it makes of this
        # one, without calling up, so the framework's problems join the declared ones
        # here, where drf-spectacular reads them (tests/polls/test_api_schema.py checks
        # that every operation lists them).
        declared = self.get_response_serializers()
        if isinstance(declared, dict):
            merged = problems.with_problems(declared, self.framework_problems())
            self.get_response_serializers = lambda: merged
        try:
            return super()._get_response_bodies(direction)
        finally:
            self.__dict__.pop("get_response_serializers", None)

    def framework_problems(self) -> list[type[exceptions.APIException]]:
        """The problems any operation like this one may answer, beyond its own."""
        kinds: list[type[exceptions.APIException]] = []
        if self.view.get_authenticators():
            # A token that is expired, revoked or malformed is refused even where none
            # is needed: the client should learn its token is dead, not be served as
            # anonymous (identity/authentication.py).
            kinds.append(exceptions.AuthenticationFailed)
        if self.method in BODY_METHODS:
            kinds.append(problems.PayloadTooLarge)  # the app's limit, or the front's
            if self.get_request_serializer() is not None:
                kinds += [exceptions.ParseError, exceptions.UnsupportedMediaType]
        # Every operation reads the database; the front answers 503 while no app does.
        kinds += [problems.DatabaseUnavailable, problems.AppUnavailable]
        if self.method in WRITES:
            kinds.append(problems.OutcomeUnknown)
        return kinds

    def get_auth(self) -> list[dict[str, Any]]:
        """Operations that anonymous callers may use also list `{}` (no credentials).

        drf-spectacular knows this only of AllowAny and IsAuthenticatedOrReadOnly; a
        permission of ours says so with `allows_anonymous(method)`.
        """
        auths = super().get_auth()
        if not auths or {} in auths:
            return auths
        permissions = self.view.get_permissions()
        if permissions and all(
            getattr(p, "allows_anonymous", lambda method: False)(self.method) for p in permissions
        ):
            auths.append({})
        return auths

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        # Generators read an operation's own `security` only: a non-empty one makes them
        # demand an authenticated client (openapi-python-client), even with `{}` in it.
        # So an operation open to anyone with or without a token inherits the document's
        # OPTIONAL_BEARER, and one that ignores tokens says so with [].
        security = operation.pop("security", [])
        if {} not in security or security == [{}]:
            operation["security"] = [s for s in security if s]
        events = getattr(self.view, "event_stream_data", None)
        if events:
            # OpenAPI 3.0 cannot type a text/event-stream's frames: name each event's
            # data schema in an extension (what OpenAPI 3.2 calls itemSchema).
            stream = operation["responses"]["200"]["content"]["text/event-stream"]
            stream["x-events"] = {
                event: {"$ref": f"#/components/schemas/{component}"}
                for event, component in events.items()
            }
        return operation


# --- Operations served outside DRF (the results stream): documented by a stand-in view --

# (path, route, method, callback), as drf-spectacular lists a view's endpoints.
Endpoint = tuple[str, str, str, Callable[..., Any]]
_OUTSIDE_DRF: list[Endpoint] = []


def document_outside_drf(path: str, route: str, method: str, view: "type[APIView]") -> None:
    """List in the schema an operation that no DRF view serves, described by `view` (an
    APIView whose extend_schema says what the real handler does). `path` is the
    OpenAPI path, `route` the URL pattern (its converters give the parameters' types)."""
    _OUTSIDE_DRF.append((path, route, method, view.as_view()))


def preprocess(endpoints: list[Endpoint]) -> list[Endpoint]:
    return [*endpoints, *_OUTSIDE_DRF]


def postprocess(
    result: dict[str, Any], generator: "SchemaGenerator", request: "Request | None", public: bool
) -> dict[str, Any]:
    # drf-spectacular's hooks are not annotated.
    result = hooks.postprocess_schema_enums(result, generator)  # type: ignore[no-untyped-call]
    result["security"] = OPTIONAL_BEARER
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):
            _defaults_into_descriptions(component)
    return result


def _defaults_into_descriptions(component: dict[str, Any]) -> None:
    """A request body's defaults, said in words rather than with `default`.

    openapi-typescript (7.x, defaultNonNullable) types a property with a `default` as
    always present, which is true of a response and wrong of a request: the client
    may leave it out and the server fills it in. The value stays in the description.
    """
    required = set(component.get("required", ()))
    for name, prop in component.get("properties", {}).items():
        if name in required or "default" not in prop:
            continue
        default = prop.pop("default")
        said = f"Default: `{json.dumps(default)}`."
        prop["description"] = f"{prop['description']} {said}" if prop.get("description") else said
