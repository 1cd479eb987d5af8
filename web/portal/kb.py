"""The knowledge base as a customer reads it: search with ranked hits and highlighted
passages, categories, articles, the suggestions the new-case page shows while a title is
typed, and "this solved it", which records a deflected case instead of opening one.

What a customer finds and reads is api.knowledge's to decide (published articles that are
public, for customers, or for their organisation's plan); anything else is its 404. Two
kinds of markup go into these pages as they are, each made safe where it is made:
api.knowledge's titles and snippets (escaped text with <mark> around matches) and an
article's HTML from web.markdown (rendered and sanitised). Everything else is escaped.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from markupsafe import Markup
from sqlalchemy import Engine, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import knowledge
from api.auth import Principal
from api.deps import Offset
from api.errors import Conflict, InvalidField, NotFound
from api.idempotency import MAX_KEY_LENGTH
from api.knowledge import Match, SearchResults
from api.text import bad_character
from db.read_model import IdempotentRequest
from web import security
from web.portal.base import PREFIX, CustomerDep, ReaderDep, page

router = APIRouter(prefix=f"{PREFIX}/kb", include_in_schema=False)
SEARCH_LIMIT = 20
SUGGESTIONS = 5
LIST_PAGE = 50
# The suggestions' own path: an article with this slug is linked by its id.
SUGGEST = "suggest"
# Idempotency keys of "this solved it" forms are kept with the API's, under this route.
SOLVED_ROUTE = f"POST {PREFIX}/kb/solved"
# A second click waits this long for the first one's answer.
SOLVED_WAIT_SECONDS = 10.0
SOLVED_POLL_SECONDS = 0.05
QUERY_MAX = 300  # api.knowledge.DeflectionCreate.query

SearchText = Annotated[str, Query(max_length=QUERY_MAX)]
ArticleRef = Annotated[str, Path(min_length=1, max_length=200)]


def href(article_id: int, slug: str) -> str:
    """An article's page, by slug where the slug is not one of the section's own paths."""
    return f"{PREFIX}/kb/{article_id if slug == SUGGEST else slug}"


@dataclass(frozen=True)
class Hit:
    """A search hit as a page shows it."""

    id: int
    href: str
    category: str
    title: Markup
    snippet: Markup
    key: str  # the idempotency key of its "this solved it" form


def hits(results: SearchResults) -> list[Hit]:
    # api.knowledge.marked escapes the whole text before it adds the <mark> tags, so these
    # two fields are markup already; nothing else the API answers is trusted as such.
    return [
        Hit(
            hit.id,
            href(hit.id, hit.slug),
            hit.category,
            Markup(hit.title_html),
            Markup(hit.snippet_html),
            uuid.uuid4().hex,
        )
        for hit in results.items
    ]


async def _search(
    engine: Engine, user: Principal | None, q: str, limit: int, match: Match
) -> SearchResults:
    return await asyncio.to_thread(knowledge.search, engine, user, q, limit, match)


@router.get("", response_class=HTMLResponse)
async def kb_home(
    request: Request,
    who: ReaderDep,
    q: SearchText = "",
    category: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0,
) -> Response:
    """Search the articles the reader may read (signed out: the public ones); the
    categories, and one's articles."""
    engine = request.app.state.engine
    user = who.user if who is not None else None
    found = None
    if q.strip():
        found = await _search(engine, user, q, SEARCH_LIMIT, Match.all)
        if not found.items and len(found.words) > 1:
            # No article has every word: those with some of them, best first, said so.
            found = await _search(engine, user, q, SEARCH_LIMIT, Match.some)
    shelves = await asyncio.to_thread(knowledge.categories, engine, user)
    listed = None
    if category:
        listed = await asyncio.to_thread(
            knowledge.list_articles, engine, user, category, None, LIST_PAGE, offset
        )
    return page(
        request,
        who,
        "portal/kb.html",
        q=q,
        found=found,
        hits=hits(found) if found else [],
        some_words=found is not None and found.match is Match.some,
        categories=shelves,
        category=category or "",
        listed=listed,
        offset=offset,
        page_size=LIST_PAGE,
        href=href,
    )


@router.get(f"/{SUGGEST}", response_class=HTMLResponse)
async def suggest(
    request: Request,
    who: CustomerDep,
    q: SearchText = "",
    part: Annotated[str | None, Query(pattern="^list$")] = None,
) -> Response:
    """Articles that may answer a case's title, each with "this solved it"; `part=list`
    answers the list alone, for the new-case page as the title is typed."""
    found = None
    if q.strip():
        found = await _search(request.app.state.engine, who.user, q, SUGGESTIONS, Match.some)
    template = "portal/_kb_suggestions.html" if part else "portal/kb_suggest.html"
    return page(
        request,
        who,
        template,
        q=q,
        words=found.words if found else [],
        hits=hits(found) if found else [],
    )


@router.get("/{ref}", response_class=HTMLResponse)
async def article(
    request: Request, who: ReaderDep, ref: ArticleRef, q: SearchText = ""
) -> Response:
    """One article; with `q` (the title of a case about to be opened), "this solved it"
    (for a signed-in customer: a visitor reads the public ones)."""
    user = who.user if who is not None else None
    found = await asyncio.to_thread(knowledge.read_article, request.app.state.engine, user, ref)
    return page(
        request,
        who,
        "portal/kb_article.html",
        article=found,
        # web.markdown.render's output: rendered with raw HTML off, then sanitised.
        body=Markup(found.html),
        q=q if who is not None else "",
        key=uuid.uuid4().hex,
    )


@router.get("/{ref}/solved", response_class=HTMLResponse)
async def solved_page(request: Request, who: CustomerDep, ref: ArticleRef) -> Response:
    """The thanks after "this solved it": no case was opened."""
    found = await asyncio.to_thread(knowledge.read_article, request.app.state.engine, who.user, ref)
    return page(request, who, "portal/kb_solved.html", article=found)


@router.post("/{ref}/solved", response_class=HTMLResponse)
async def solved(request: Request, who: CustomerDep, ref: ArticleRef) -> Response:
    """Record that the article solved the problem: a deflected case, no case opened."""
    form = await request.form()
    security.check_form(request, form, who.web.csrf_token)
    query = form.get("query")
    query = query.strip() if isinstance(query, str) else ""
    problem = bad_character(query, single_line=True)
    if problem:
        raise InvalidField("query", problem)
    if len(query) > QUERY_MAX:
        raise InvalidField("query", f"at most {QUERY_MAX} characters")
    engine = request.app.state.engine
    found = await asyncio.to_thread(knowledge.read_article, engine, who.user, ref)  # else 404
    key = form.get("idempotency_key")
    key = key if isinstance(key, str) and 0 < len(key) <= MAX_KEY_LENGTH else None
    await deflect_once(engine, request.app.state.instance.id, who.user, found.id, query, key)
    return RedirectResponse(href(found.id, found.slug) + "/solved", status_code=303)


# --------------------------------------------------------------------------- once per form


def _digest(article_id: int, query: str) -> str:
    return hashlib.sha256(f"{article_id}\x1f{query}".encode()).hexdigest()


def _claim(
    engine: Engine, owner: str, caller: str, key: str, digest: str
) -> tuple[bool, IdempotentRequest | None]:
    """(True, None) when this request now holds the key; else (False, the holder's row),
    or (False, None) when the holder let go of it meanwhile."""
    with Session(engine) as session:
        session.add(
            IdempotentRequest(
                caller=caller, route=SOLVED_ROUTE, key=key, request_digest=digest, owner=owner
            )
        )
        try:
            session.commit()
            return True, None
        except IntegrityError:
            session.rollback()
        stored = session.get(IdempotentRequest, (caller, SOLVED_ROUTE, key))
        if stored is not None:
            session.expunge(stored)
        return False, stored


def _settle(
    engine: Engine, caller: str, key: str, recorded: knowledge.DeflectionRead | None
) -> None:
    """Keep the answer to a held key, or let the key go after a failure."""
    mine = (
        col(IdempotentRequest.caller) == caller,
        col(IdempotentRequest.route) == SOLVED_ROUTE,
        col(IdempotentRequest.key) == key,
    )
    with Session(engine) as session:
        if recorded is None:
            session.execute(delete(IdempotentRequest).where(*mine))
        else:
            session.execute(
                update(IdempotentRequest)
                .where(*mine)
                .values(
                    status_code=201,
                    content_type="application/json",
                    body=recorded.model_dump_json(),
                )
            )
        session.commit()


async def deflect_once(
    engine: Engine,
    owner: str,
    user: Principal,
    article_id: int,
    query: str,
    key: str | None,
) -> None:
    """Record the deflection through api.knowledge, once per form: a second click (the
    same key) finds the first one's record, or waits for it, and records nothing. The
    key is held as the API holds its Idempotency-Keys, in the same table."""
    if key is None:
        await asyncio.to_thread(knowledge.record_deflection, engine, user, article_id, query)
        return
    digest = _digest(article_id, query)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SOLVED_WAIT_SECONDS
    while True:
        held, stored = await asyncio.to_thread(_claim, engine, owner, user.id, key, digest)
        if held:
            break
        if stored is not None:
            if stored.request_digest != digest:
                raise InvalidField(
                    "idempotency_key", "this form was sent for another article: reload the page"
                )
            if stored.status_code is not None:
                return  # the first click recorded it
            if loop.time() > deadline:
                raise Conflict("the first click is still being recorded: reload in a moment")
        await asyncio.sleep(SOLVED_POLL_SECONDS)
    recorded = None
    try:
        recorded = await asyncio.to_thread(
            knowledge.record_deflection, engine, user, article_id, query
        )
    finally:
        await asyncio.to_thread(_settle, engine, user.id, key, recorded)


async def article_titles(engine: Engine, user: Principal, ids: set[int]) -> dict[int, str]:
    """The titles of those articles the customer may read (a case's timeline names them)."""

    def read(article_id: int) -> str | None:
        try:
            return knowledge.read_article(engine, user, article_id).title
        except NotFound:
            return None

    titles = await asyncio.gather(*(asyncio.to_thread(read, i) for i in sorted(ids)))
    return {i: title for i, title in zip(sorted(ids), titles, strict=True) if title is not None}
