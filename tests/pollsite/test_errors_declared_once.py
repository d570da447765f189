"""Each error of the contract is declared once (a Problem subclass in its app's errors
module, or in pollsite for the generic ones) and the schema documents it with the same
code and message the API answers."""

from drf_spectacular.generators import SchemaGenerator

import identity.errors
import polls.errors
import pollsite.ratelimit
from pollsite.problems import Problem

DECLARING_MODULES = (polls.errors, identity.errors, pollsite.ratelimit)
# Declared for the database's refusal, answered by no operation: no endpoint changes a vote.
ANSWERED_BY_NO_OPERATION = {"vote_immutable"}


def declared_problems():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    return list(subclasses(Problem))


def documented_problems():
    """(code, detail) of every problem example in the OpenAPI schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path in schema["paths"].values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {}).get("application/problem+json", {})
                for example in content.get("examples", {}).values():
                    yield example["value"]["code"], example["value"]["detail"]


def test_every_code_is_declared_by_one_class():
    codes = [kind.default_code for kind in declared_problems()]
    assert len(codes) == len(set(codes)), sorted(codes)
    assert {kind.__module__ for kind in declared_problems()} >= {
        m.__name__ for m in DECLARING_MODULES
    }


def test_the_schema_documents_each_code_with_one_message():
    messages = {}
    for code, detail in documented_problems():
        messages.setdefault(code, set()).add(detail)
    assert messages, "the schema documents no problem at all"
    assert {code: details for code, details in messages.items() if len(details) > 1} == {}


def test_the_schema_documents_declared_problems_as_declared():
    declared = {kind.default_code: str(kind.default_detail) for kind in declared_problems()}
    documented = dict(documented_problems())
    for code, detail in documented.items():
        if code in declared:
            assert detail == declared[code], code
    # Every domain problem an app declares is documented on some operation.
    app_modules = {polls.errors.__name__, identity.errors.__name__}
    for kind in declared_problems():
        if kind.__module__ in app_modules and kind.default_code not in ANSWERED_BY_NO_OPERATION:
            assert kind.default_code in documented, kind.__name__
