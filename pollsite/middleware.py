"""One log line per request: request id, method, path, status, duration. Nothing else:
no query string, no headers, no body, so no token and no national ID can reach a log.

Behind nginx (REQUEST_LOG=front) nginx writes that line and passes its request id; the
app then only returns the id."""

import logging
import re
import time
import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils.deprecation import MiddlewareMixin

from pollsite.problems import problem_response_for

logger = logging.getLogger("pollsite.request")

# A caller's X-Request-ID is kept only if it is short and plain; anything else could
# smuggle data (or a line break) into the log.
CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _request_id(request):
    given = request.headers.get("X-Request-ID", "")
    return given if CLIENT_REQUEST_ID.match(given) else uuid.uuid4().hex


class RequestLogMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.log = settings.REQUEST_LOG == "app"
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        started = self._start(request)
        response = self.get_response(request)
        return self._finish(request, response, started)

    async def __acall__(self, request):
        started = self._start(request)
        response = await self.get_response(request)
        return self._finish(request, response, started)

    def _start(self, request):
        request.request_id = _request_id(request)
        return time.perf_counter()

    def _finish(self, request, response, started):
        duration_ms = (time.perf_counter() - started) * 1000
        response["X-Request-ID"] = request.request_id
        if not self.log:
            return response
        logger.info(
            "request id=%s method=%s path=%s status=%s duration_ms=%.1f",
            request.request_id,
            request.method,
            request.path,
            response.status_code,
            duration_ms,
        )
        return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """Views outside DRF (the live page, the results stream, the admin) answer an
    unreachable database as the API does: 503 database_unavailable with Retry-After."""

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return problem_response_for(exception, request)
        return None
