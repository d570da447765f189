"""A URLconf for the error-format tests: tiny DRF views that fail in each standard way."""

from django.urls import include, path
from rest_framework.permissions import IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from pollsite.urls import handler400, handler403, handler404, handler500  # noqa: F401


class Echo(APIView):
    def post(self, request):
        return Response({"got": request.data})


class Boom(APIView):
    def get(self, request):
        raise RuntimeError("secret internals that must not leak")


class Private(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({})


class StaffOnly(APIView):
    permission_classes = [IsAdminUser]

    def get(self, request):
        return Response({})


class OncePerMinute(AnonRateThrottle):
    rate = "1/min"


class Throttled(APIView):
    throttle_classes = [OncePerMinute]

    def get(self, request):
        return Response({})


urlpatterns = [
    path("api/v1/echo", Echo.as_view()),
    path("api/v1/boom", Boom.as_view()),
    path("api/v1/private", Private.as_view()),
    path("api/v1/staff", StaffOnly.as_view()),
    path("api/v1/throttled", Throttled.as_view()),
    path("", include("pollsite.urls")),
]
