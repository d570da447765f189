"""Pages of a list, as REST pages it (pollsite/pagination.py): `page` from 1, `pageSize`
1 to 100 (API_PAGE_SIZE when not given; pollsite/graphql/limits.py refuses the rest
before any work), a page past the last is not_found."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.core.paginator import InvalidPage, Paginator
from rest_framework.exceptions import NotFound
from rest_framework.settings import api_settings

T = TypeVar("T")


def default_page_size() -> int:
    """API_PAGE_SIZE, as REST's pages take it."""
    return int(api_settings.PAGE_SIZE or 20)  # settings.py always sets it (API_PAGE_SIZE)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total_count: int
    page: int
    page_size: int
    has_next_page: bool


def page_of(items: "Sequence[T] | Any", *, page: int, page_size: int | None) -> Page[T]:
    """The page of `items` (a QuerySet or a list): one count and one slice."""
    size = page_size or default_page_size()
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
