"""Knowledge-base routes: articles written by agents and admins, read by whoever each
article's visibility lets in (public ones without a token), searched, and the cases
they deflect."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Response, status

from api import knowledge
from api.auth import CurrentUser, Principal, authenticate, require
from api.deps import CaseNumber, CatalogsDep, EngineDep, Offset, TemporalDep
from api.errors import InvalidField
from api.idempotency import IDEMPOTENT
from api.knowledge import (
    ArticleCreate,
    ArticlePage,
    ArticlePublish,
    ArticleRead,
    ArticleStatus,
    ArticleUpdate,
    ArticleVersionRead,
    CategoryCount,
    DeflectionCreate,
    DeflectionRead,
    DeflectionReport,
    DraftFromCase,
    Match,
    SearchResults,
)
from api.schemas import Day

router = APIRouter(prefix="/kb", tags=["knowledge base"])
WRITERS = require(*knowledge.WRITER_ROLES)
WRITERS_POST = [WRITERS, IDEMPOTENT]
STAFF = require(*knowledge.STAFF_ROLES)
ArticleRef = Annotated[
    str, Path(min_length=1, max_length=200, description="The article's id or slug")
]


def optional_user(
    engine: EngineDep, authorization: Annotated[str | None, Header()] = None
) -> Principal | None:
    """The caller, or None without an Authorization header: anonymous readers see public
    articles. A header with a bad token is still a 401."""
    if authorization is None:
        return None
    return authenticate(engine, authorization)


Reader = Annotated[Principal | None, Depends(optional_user)]


@router.post(
    "/articles",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticleRead,
    dependencies=WRITERS_POST,
)
async def create_article(
    body: ArticleCreate, user: CurrentUser, engine: EngineDep, catalogs: CatalogsDep
) -> ArticleRead:
    """Write a new article: version 1, a draft until published."""
    return await asyncio.to_thread(knowledge.create_article, engine, catalogs, body, user)


@router.get("/articles", response_model=ArticlePage)
async def list_articles(
    user: Reader,
    engine: EngineDep,
    category: Annotated[str | None, Query(max_length=100)] = None,
    status_: Annotated[ArticleStatus | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> ArticlePage:
    """List the articles the caller may see, by category and title (no token: public)."""
    return await asyncio.to_thread(
        knowledge.list_articles, engine, user, category, status_, limit, offset
    )


@router.get("/categories", response_model=list[CategoryCount])
async def list_categories(user: Reader, engine: EngineDep) -> list[CategoryCount]:
    """Each category with how many articles in it the caller may see."""
    return await asyncio.to_thread(knowledge.categories, engine, user)


@router.get("/search", response_model=SearchResults)
async def search(
    user: Reader,
    engine: EngineDep,
    q: Annotated[str, Query(max_length=300, description="Words in title or text")],
    limit: Annotated[int, Query(ge=1, le=knowledge.SEARCH_LIMIT_MAX)] = 10,
    match: Annotated[
        Match,
        Query(description="all: every word; some: two of them (one for a query of one or two)"),
    ] = Match.all,
) -> SearchResults:
    """Search the published articles the caller may see: best first, matches marked."""
    return await asyncio.to_thread(knowledge.search, engine, user, q, limit, match)


@router.get("/articles/{article}", response_model=ArticleRead)
async def get_article(
    article: ArticleRef,
    user: Reader,
    engine: EngineDep,
    version: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="Staff: any version")
    ] = None,
) -> ArticleRead:
    """Read an article as Markdown and as sanitised HTML (readers: its published version)."""
    return await asyncio.to_thread(knowledge.read_article, engine, user, article, version)


@router.get(
    "/articles/{article}/versions",
    response_model=list[ArticleVersionRead],
    dependencies=[STAFF],
)
async def list_versions(article: ArticleRef, engine: EngineDep) -> list[ArticleVersionRead]:
    """Every version of an article, newest first, with who wrote and published it."""
    return await asyncio.to_thread(knowledge.history, engine, article)


@router.put("/articles/{article}", response_model=ArticleRead, dependencies=[WRITERS])
async def edit_article(
    article: ArticleRef,
    body: ArticleUpdate,
    user: CurrentUser,
    engine: EngineDep,
    catalogs: CatalogsDep,
) -> ArticleRead:
    """Write a new version (a draft): fields left out keep the newest version's value."""
    return await asyncio.to_thread(knowledge.edit_article, engine, catalogs, article, body, user)


@router.post("/articles/{article}/publish", response_model=ArticleRead, dependencies=WRITERS_POST)
async def publish_article(
    article: ArticleRef,
    engine: EngineDep,
    body: Annotated[ArticlePublish | None, Body()] = None,
) -> ArticleRead:
    """Show readers a version (default: the newest); an older one rolls back."""
    version = body.version if body is not None else None
    return await asyncio.to_thread(knowledge.publish_article, engine, article, version)


@router.post("/articles/{article}/archive", response_model=ArticleRead, dependencies=WRITERS_POST)
async def archive_article(article: ArticleRef, engine: EngineDep) -> ArticleRead:
    """Take an article away from readers and search; publishing brings it back."""
    return await asyncio.to_thread(knowledge.archive_article, engine, article)


@router.post(
    "/articles/from-case/{number}",
    status_code=status.HTTP_201_CREATED,
    response_model=ArticleRead,
    dependencies=WRITERS_POST,
)
async def draft_from_case(
    number: CaseNumber,
    user: CurrentUser,
    engine: EngineDep,
    client: TemporalDep,
    catalogs: CatalogsDep,
    body: Annotated[DraftFromCase | None, Body()] = None,
) -> ArticleRead:
    """Draft an article from a resolved case's title and resolution summary."""
    filed = body or DraftFromCase()
    return await knowledge.draft_from_case(engine, client, catalogs, number, filed, user)


@router.post(
    "/deflections",
    status_code=status.HTTP_201_CREATED,
    response_model=DeflectionRead,
    responses={200: {"model": DeflectionRead, "description": "Recorded already"}},
    dependencies=[IDEMPOTENT],
)
async def record_deflection(
    body: DeflectionCreate, user: CurrentUser, engine: EngineDep, response: Response
) -> DeflectionRead:
    """A customer's "this solved it": a case not opened, counted for their plan. The same
    customer, article and problem again within 24 hours is the one recorded (200)."""
    recorded, new = await asyncio.to_thread(
        knowledge.record_deflection_once, engine, user, body.article, body.query
    )
    if not new:
        response.status_code = status.HTTP_200_OK
    return recorded


@router.get(
    "/deflections",
    response_model=DeflectionReport,
    dependencies=[require(*knowledge.REPORT_ROLES)],
)
async def deflections(
    engine: EngineDep,
    since: Day | None = None,
    until: Annotated[Day | None, Query(description="Exclusive")] = None,
    organisation: Annotated[str | None, Query(max_length=100)] = None,
) -> DeflectionReport:
    """Deflected cases per plan and month (UTC)."""
    if since and until and until <= since:
        raise InvalidField("query.until", "must come after since")
    return await asyncio.to_thread(knowledge.deflection_counts, engine, since, until, organisation)
