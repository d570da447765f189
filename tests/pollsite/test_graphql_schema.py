"""The committed schema.graphql is the schema the code serves: what front-end tools
(graphql-codegen, tests/clients) generate from. Regenerate it with
`.venv/bin/python -m pollsite.graphql.export > schema.graphql`."""

from pathlib import Path

from strawberry.printer import print_schema

from pollsite.graphql import errors
from pollsite.graphql.schema import schema

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_is_the_schema_the_code_serves():
    # As pollsite/graphql/export.py prints it.
    assert print_schema(schema) + "\n" == (ROOT / "schema.graphql").read_text(), (
        "schema.graphql differs from the code: regenerate it (see this module's docstring)"
    )


def test_the_contract_lists_every_code_graphql_adds():
    contract = (ROOT / "docs" / "api-contract.md").read_text()
    graphql_section = contract[contract.index("## GraphQL") :]
    for code in (*errors.GRAPHQL_CODES, "batching_disabled", "use_stream_endpoint"):
        assert f"`{code}`" in graphql_section, code
