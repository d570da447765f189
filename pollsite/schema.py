"""OpenAPI generation tweaks."""

from drf_spectacular import openapi


class AutoSchema(openapi.AutoSchema):
    """Names a view's nested InputSerializer after its view ("LoginInput", not "Input").

    Views declare `class InputSerializer` inside themselves (HackSoft style); without
    this, every one of them would claim the same OpenAPI component name.
    """

    def get_serializer_name(self, serializer, direction):
        cls = serializer if isinstance(serializer, type) else type(serializer)
        owner, _, name = cls.__qualname__.rpartition(".")
        if owner and name.endswith("Serializer"):
            return owner.removesuffix("Api") + name.removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def get_auth(self):
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
