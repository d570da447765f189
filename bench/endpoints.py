"""No-op endpoints that benchmarks measure the real ones against, on the same server.

Routed only when BENCH_ENDPOINTS is on (never by default). Each does exactly the
framework work of its real counterpart and nothing else: the POST authenticates the
bearer token and parses a JSON body like a vote; the GET is anonymous like a results read.
"""

from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView


class NoopVoteApi(APIView):
    permission_classes = [IsAuthenticated]

    def post(self, request):
        return Response({"ok": bool(request.data)}, status=201)


class NoopResultsApi(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"ok": True})
