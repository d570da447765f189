"""The committed schema.graphql is the schema the code serves: what front-end tools
(graphql-codegen, tests/clients) generate from. Regenerate it with
`.venv/bin/python manage.py export_schema pollsite.graphql.schema --path schema.graphql`."""

from io import StringIO
from pathlib import Path

from django.core.management import call_command

from pollsite.graphql import errors

ROOT = Path(__file__).resolve().parents[2]


def test_schema_graphql_is_the_schema_the_code_serves():
    out = StringIO()
    call_command("export_schema", "pollsite.graphql.schema", stdout=out)
    committed = (ROOT / "schema.graphql").read_text()
    assert out.getvalue().strip() == committed.strip(), (
        "schema.graphql differs from the code: regenerate it (see this module's docstring)"
    )


def test_the_contract_lists_every_code_graphql_adds():
    contract = (ROOT / "docs" / "api-contract.md").read_text()
    graphql_section = contract[contract.index("## GraphQL") :]
    for code in (*errors.GRAPHQL_CODES, "batching_disabled", "use_stream_endpoint"):
        assert f"`{code}`" in graphql_section, code
