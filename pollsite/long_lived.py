"""The objects a server process keeps for its whole life, out of the garbage collector's
way.

A full collection walks every object the collector tracks, and stops every thread of
the process while it does. After import, the app holds about 135,000 of them (modules,
classes, settings, URL patterns, the schema): a full collection took 109 ms; the first
requests add about 37,000 more (lazy imports, resolver and serializer caches): 38 ms
still with the import's frozen. Under wrk a worker ran one to three of them in a couple
of minutes, each a 160-190 ms stall of every request in flight (gc.callbacks, timed).
gc.freeze() moves every object tracked now to a permanent generation the collector never
scans: done at import and again once the process has served its first WARM_REQUESTS,
a full collection walks what requests leave behind, a dozen objects: 0.7 ms (measured in
one process, the same requests, 6,000 after each freeze). freeze() is a list splice, not
a collection: the request that calls it pays nothing, and garbage that happens to be
alive at that moment (a few objects of the requests in flight) is kept for good.
"""

import gc
import itertools

WARM_REQUESTS = 1000


def frozen_once_warm(application):
    """`application` (WSGI), with what this process has built so far frozen now, and
    again after its first WARM_REQUESTS requests."""
    gc.freeze()
    served = itertools.count(1)

    def freezing(environ, start_response):
        if next(served) == WARM_REQUESTS:
            gc.freeze()
        return application(environ, start_response)

    return freezing


def frozen_once_warm_asgi(application):
    """The same for an ASGI application (the stream server)."""
    gc.freeze()
    served = itertools.count(1)

    async def freezing(scope, receive, send):
        if next(served) == WARM_REQUESTS:
            gc.freeze()
        await application(scope, receive, send)

    return freezing
