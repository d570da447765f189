from typing import Any

from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=` pages of `{count, next, previous, results}`; `?page_size=` up to 100."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        # Every key is always sent (next and previous are null at the ends), so all four
        # are required: a generated client then types them as present, maybe null.
        page = super().get_paginated_response_schema(schema)
        page["required"] = ["count", "next", "previous", "results"]
        for name in ("next", "previous"):
            # DRF's example is an /accounts/ URL this API does not have.
            page["properties"][name].pop("example", None)
            page["properties"][name]["description"] = f"The {name} page's URL; null if none."
        page["properties"]["count"]["description"] = "Items on all pages together."
        return page
