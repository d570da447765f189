"""pollsite/long_lived.py: a server process's long-lived objects leave the collector's
work, at import and again once warm, so a full collection never walks the app."""

import gc
import io

import pytest

from pollsite.long_lived import WARM_REQUESTS, frozen_once_warm


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_it_freezes_what_import_built_and_again_once_warm(unfrozen):
    built_late = []

    def app(environ, start_response):
        if len(built_late) < 50:  # what first requests build: caches, lazy imports
            built_late.append({"cached": [object()]})
        start_response("200 OK", [])
        return [b""]

    wrapped = frozen_once_warm(app)
    at_import = gc.get_freeze_count()
    assert at_import > 1000  # this process's modules, classes, functions
    environ = {"REQUEST_METHOD": "GET", "wsgi.input": io.BytesIO()}
    for _ in range(WARM_REQUESTS - 1):
        wrapped(environ, lambda status, headers: None)
    # Not frozen again yet. A frozen object that dies still leaves the permanent generation
    # (the pytest process's own threads free a few), so the count may drop, never grow.
    assert gc.get_freeze_count() <= at_import
    wrapped(environ, lambda status, headers: None)
    assert gc.get_freeze_count() > at_import + 50  # the late caches are frozen too
