from rest_framework.permissions import SAFE_METHODS, BasePermission


class IsStaffOrReadOnly(BasePermission):
    """The request is a read, or comes from a staff user."""

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)

    def allows_anonymous(self, method):
        """For the OpenAPI schema (pollsite.schema): reads need no token."""
        return method in SAFE_METHODS


class IsStaff(BasePermission):
    """The request comes from a staff user."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_staff)
