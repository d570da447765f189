"""Pages of a list, as REST pages it (pollsite/pagination.py): `page` from 1, `pageSize`
1 to 100 (API_PAGE_SIZE when not given; pollsite/graphql/limits.py refuses the rest
before any work), a page past the last is not_found."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.core.paginator import InvalidPage, Paginator
from rest_framework.exceptions import NotFound

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total_count: int
    page: int
    page_size: int
    has_next_page: bool


def page_of(items: "Sequence[T] | Any", *, page: int, page_size: int | None) -> Page[T]:
    """The page of `items` (a QuerySet or a list): one count and one slice."""
    size = page_size or int(settings.REST_FRAMEWORK["PAGE_SIZE"])
    paginator = Paginator(items, size)
    try:
        found = paginator.page(page)
    except InvalidPage:
        raise NotFound("Invalid page.") from None
    return Page(
        items=list(found.object_list),
        total_count=paginator.count,
        page=page,
        page_size=size,
        has_next_page=found.has_next(),
    )
