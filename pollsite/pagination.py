from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework import pagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


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


def page_response(
    view: APIView,
    request: Request,
    items: "QuerySet[Any] | Sequence[Any]",
    serialize: Callable[[list[Any]], Any],
) -> Response:
    """The requested page of `items` (the view's pagination_class, which also tells the
    schema the answer is a page), its results written by `serialize(page)`: given the
    whole page, so it can read what the page needs in one query, not one per item."""
    paginator: PageNumberPagination = getattr(view, "pagination_class")()  # noqa: B009
    # Never None: a page size is always set (settings' PAGE_SIZE).
    page: list[Any] = paginator.paginate_queryset(items, request, view=view) or []
    response: Response = paginator.get_paginated_response(serialize(page))
    return response
