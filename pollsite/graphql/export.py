"""Print the GraphQL schema, as schema.graphql holds it:

    .venv/bin/python -m pollsite.graphql.export > schema.graphql

(Not strawberry-graphql-django's export_schema command: that would make it an installed
app, and every process, workers included, would import it at startup, about 0.9 s.)
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pollsite.settings")
django.setup()  # before the schema, which names the models

from strawberry.printer import print_schema  # noqa: E402

from pollsite.graphql.schema import schema  # noqa: E402

print(print_schema(schema))
