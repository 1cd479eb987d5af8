"""The knowledge base in the console: search and list articles, read one with its
versions, and (writers) write, publish and archive them, or draft one from a resolved
case. What an article is, who may write it and what is refused are api.knowledge's; the
pages show its answers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from api import knowledge
from api.auth import check_role
from api.deps import MAX_ID, CaseNumber, Offset
from api.errors import Conflict, InvalidField, NotFound
from api.knowledge import (
    ArticleCreate,
    ArticlePublish,
    ArticleRead,
    ArticleStatus,
    ArticleUpdate,
    DraftFromCase,
    SearchResults,
    Visibility,
)
from api.text import bad_character
from policies.format import Catalog
from web import security
from web.console.base import PREFIX, WebUser, allow, may_open, page
from web.markdown import render
from web.render import ENV, reasons
from web.sessions import WebPrincipal

router = APIRouter(prefix=PREFIX, include_in_schema=False)
READERS = knowledge.STAFF_ROLES
WRITERS = knowledge.WRITER_ROLES
PAGE_SIZE = 50
# The status filter's "any" sends `status=` (empty), which an enum parameter refuses.
ANY_STATUS = "^(|" + "|".join(status.value for status in ArticleStatus) + ")$"
SEARCH_LIMIT = 20
ArticleRef = Annotated[str, Path(min_length=1, max_length=200)]
VISIBILITIES = (
    (Visibility.staff, "Staff only", "Agents, release managers, auditors and admins."),
    (Visibility.customers, "Customers", "Every signed-in customer, and staff."),
    (Visibility.plans, "Customers on certain plans", "Those on the plans ticked below."),
    (Visibility.public, "Public", "Anyone, without signing in."),
)


def writes(me: WebPrincipal) -> bool:
    return may_open(me.user.role, WRITERS)


# The case page offers "Draft an article from this resolution" to the same writers.
ENV.globals["may_write_articles"] = writes


def marked(html: str) -> Markup:
    """A title or snippet from the search: api.knowledge.marked escaped the indexed text
    as a whole before putting <mark> around the matches, so it is markup as it is."""
    return Markup(html)


@dataclass(frozen=True)
class Draft:
    """What the article form shows: the newest version's values, or what was typed."""

    title: str = ""
    category: str = "general"
    visibility: str = Visibility.staff.value
    plans: tuple[str, ...] = ()
    body: str = ""
    slug: str = ""
    base_version: str = ""

    @classmethod
    def of(cls, article: ArticleRead) -> Draft:
        return cls(
            title=article.title,
            category=article.category,
            visibility=article.visibility.value,
            plans=tuple(article.plans),
            body=article.body,
            base_version=str(article.shown_version),
        )

    @classmethod
    def sent(cls, form: FormData) -> Draft:
        def text(name: str) -> str:
            value = form.get(name)
            return value if isinstance(value, str) else ""

        return cls(
            title=text("title").strip(),
            category=text("category").strip(),
            visibility=text("visibility"),
            plans=tuple(value for value in form.getlist("plans") if isinstance(value, str)),
            # Browsers send a textarea's lines with CRLF; the versions keep LF.
            body=text("body").replace("\r\n", "\n"),
            slug=text("slug").strip(),
            base_version=text("base_version"),
        )

    def check_characters(self) -> None:
        """InvalidField for a control character, as the API refuses one in JSON."""
        for name in ("title", "category", "visibility", "slug", "base_version", "body"):
            problem = bad_character(getattr(self, name), single_line=name != "body")
            if problem:
                raise InvalidField(name, problem)
        for index, plan in enumerate(self.plans):
            if problem := bad_character(plan, single_line=True):
                raise InvalidField(f"plans.{index}", problem)

    def payload(self) -> dict[str, Any]:
        """The fields as a JSON client would send them (an empty slug left out)."""
        sent: dict[str, Any] = {
            "title": self.title,
            "body": self.body,
            "category": self.category,
            "visibility": self.visibility,
            "plans": list(self.plans),
        }
        if self.slug:
            sent["slug"] = self.slug
        return sent


@dataclass(frozen=True)
class PlanChoice:
    value: str  # `catalog:plan`
    label: str
    known: bool = True  # in the loaded catalogs


@dataclass(frozen=True)
class Refusal:
    """Why a form was refused, shown beside it."""

    form: str  # save, publish, archive
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


def _plan_choices(catalogs: dict[str, Catalog], chosen: tuple[str, ...]) -> list[PlanChoice]:
    choices = [
        PlanChoice(f"{catalog.id}:{plan.id}", f"{plan.name} ({catalog.name})")
        for catalog in sorted(catalogs.values(), key=lambda c: c.id)
        for plan in catalog.plans
    ]
    known = {choice.value for choice in choices}
    # A plan of a catalog no longer loaded stays on screen, ticked, to be unticked.
    lost = [PlanChoice(plan, f"{plan} (not in the loaded catalogs)", False) for plan in chosen]
    return [*choices, *(choice for choice in lost if choice.value not in known)]


def _reasons(err: ValidationError) -> str:
    return reasons(err.errors())


def _article_path(article_id: int, suffix: str = "") -> str:
    return f"{PREFIX}/kb/{article_id}{suffix}"


async def _csrf_then_writer(request: Request, me: WebPrincipal) -> FormData:
    """The form, once it is known to come from this site and from a writer (403 else)."""
    allow(me, READERS)
    form = await request.form()
    security.check_form(request, form, me.csrf_token)
    check_role(me.user, WRITERS)
    return form


# --------------------------------------------------------------------------- reading


@router.get("/kb", response_class=HTMLResponse)
async def kb_home(
    request: Request,
    me: WebUser,
    q: Annotated[str, Query(max_length=300)] = "",
    category: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(pattern=ANY_STATUS)] = "",
    offset: Offset = 0,
) -> Response:
    """Search the published articles; list every article by category and status."""
    allow(me, READERS)
    engine = request.app.state.engine
    results: SearchResults | None = None
    if q.strip():
        results = await asyncio.to_thread(knowledge.search, engine, me.user, q, SEARCH_LIMIT)
    chosen = ArticleStatus(status) if status else None
    listing = await asyncio.to_thread(
        knowledge.list_articles, engine, me.user, category or None, chosen, PAGE_SIZE, offset
    )
    categories = await asyncio.to_thread(knowledge.categories, engine, me.user)
    hits = [
        (hit, marked(hit.title_html), marked(hit.snippet_html))
        for hit in (results.items if results else [])
    ]
    return page(
        request,
        me,
        "console/kb.html",
        q=q,
        results=results,
        hits=hits,
        listing=listing,
        categories=categories,
        category=category,
        status=status,
        statuses=list(ArticleStatus),
        offset=offset,
        page_size=PAGE_SIZE,
        writes=writes(me),
    )


async def _article_page(
    request: Request,
    me: WebPrincipal,
    ref: str,
    version: int | None = None,
    status_code: int = 200,
    refusal: Refusal | None = None,
) -> HTMLResponse:
    engine = request.app.state.engine
    article = await asyncio.to_thread(knowledge.read_article, engine, me.user, ref, version)
    versions = await asyncio.to_thread(knowledge.history, engine, article.id)
    return page(
        request,
        me,
        "console/kb_article.html",
        status_code,
        article=article,
        # Rendered and sanitised here (web/markdown.py) rather than trusting a string.
        body_html=render(article.body),
        versions=versions,
        writes=writes(me),
        refusal=refusal,
    )


@router.get("/kb/new", response_class=HTMLResponse)
async def new_article(request: Request, me: WebUser) -> Response:
    """The form for a new article (writers)."""
    allow(me, READERS)
    check_role(me.user, WRITERS)
    return await _edit_page(request, me, None, Draft())


@router.get("/kb/{ref}", response_class=HTMLResponse)
async def article_page(
    request: Request,
    me: WebUser,
    ref: ArticleRef,
    version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """An article (by id or slug) as readers see it, or any version, with its history."""
    allow(me, READERS)
    return await _article_page(request, me, ref, version)


# --------------------------------------------------------------------------- writing


async def _edit_page(
    request: Request,
    me: WebPrincipal,
    article: ArticleRead | None,
    draft: Draft,
    status_code: int = 200,
    refusal: Refusal | None = None,
) -> HTMLResponse:
    engine = request.app.state.engine
    catalogs: dict[str, Catalog] = request.app.state.catalogs
    categories = await asyncio.to_thread(knowledge.categories, engine, me.user)
    versions = await asyncio.to_thread(knowledge.history, engine, article.id) if article else []
    return page(
        request,
        me,
        "console/kb_edit.html",
        status_code,
        article=article,
        draft=draft,
        categories=categories,
        versions=versions,
        visibilities=VISIBILITIES,
        plan_choices=_plan_choices(catalogs, draft.plans),
        refusal=refusal,
        writes=writes(me),
    )


async def _newest(request: Request, me: WebPrincipal, ref: str) -> ArticleRead:
    """The article in its newest version, the one an edit starts from."""
    engine = request.app.state.engine
    article = await asyncio.to_thread(knowledge.read_article, engine, me.user, ref)
    if article.shown_version != article.version:
        article = await asyncio.to_thread(
            knowledge.read_article, engine, me.user, ref, article.version
        )
    return article


@router.post("/kb/new", response_class=HTMLResponse)
async def create_article(request: Request, me: WebUser) -> Response:
    """Write a new article: version 1, a draft."""
    form = await _csrf_then_writer(request, me)
    draft = Draft.sent(form)
    state = request.app.state
    try:
        draft.check_characters()
        body = ArticleCreate.model_validate(draft.payload())
        made = await asyncio.to_thread(
            knowledge.create_article, state.engine, state.catalogs, body, me.user
        )
    except ValidationError as err:
        return await _edit_page(request, me, None, draft, 422, Refusal("save", _reasons(err)))
    except (Conflict, InvalidField) as err:
        return await _edit_page(request, me, None, draft, err.status, Refusal("save", err.detail))
    return RedirectResponse(_article_path(made.id), status_code=303)


@router.get("/kb/{ref}/edit", response_class=HTMLResponse)
async def edit_form(request: Request, me: WebUser, ref: ArticleRef) -> Response:
    """The newest version in the form, to be saved as the next one (writers)."""
    allow(me, READERS)
    check_role(me.user, WRITERS)
    article = await _newest(request, me, ref)
    return await _edit_page(request, me, article, Draft.of(article))


@router.post("/kb/{ref}/edit", response_class=HTMLResponse)
async def save_version(request: Request, me: WebUser, ref: ArticleRef) -> Response:
    """Save what was typed as a new version; 409 beside the form if another was saved
    since the form was read."""
    form = await _csrf_then_writer(request, me)
    draft = Draft.sent(form)
    state = request.app.state
    try:
        draft.check_characters()
        values = draft.payload()
        values.pop("slug", None)  # a slug is for the article's life
        body = ArticleUpdate.model_validate({**values, "base_version": draft.base_version})
        saved = await asyncio.to_thread(
            knowledge.edit_article, state.engine, state.catalogs, ref, body, me.user
        )
    except ValidationError as err:
        article = await _newest(request, me, ref)
        return await _edit_page(request, me, article, draft, 422, Refusal("save", _reasons(err)))
    except InvalidField as err:
        article = await _newest(request, me, ref)
        refusal = Refusal("save", err.detail)
        return await _edit_page(request, me, article, draft, err.status, refusal)
    except Conflict as err:
        # Someone saved a version meanwhile. What was typed stays, now based on theirs:
        # saving again is a choice made after reading it.
        article = await _newest(request, me, ref)
        based = replace(draft, base_version=str(article.version))
        refusal = Refusal("save", err.detail, {"newest": article})
        return await _edit_page(request, me, article, based, err.status, refusal)
    return RedirectResponse(_article_path(saved.id, f"?version={saved.shown_version}"), 303)


@router.post("/kb/{ref}/publish", response_class=HTMLResponse)
async def publish(request: Request, me: WebUser, ref: ArticleRef) -> Response:
    """Show readers a version (an older one rolls back)."""
    form = await _csrf_then_writer(request, me)
    version = form.get("version")
    try:
        body = ArticlePublish.model_validate({"version": version or None})
        published = await asyncio.to_thread(
            knowledge.publish_article, request.app.state.engine, ref, body.version
        )
    except ValidationError as err:
        return await _article_page(request, me, ref, None, 422, Refusal("publish", _reasons(err)))
    except (Conflict, NotFound) as err:
        # An article that does not exist makes the page itself a 404 here.
        refusal = Refusal("publish", err.detail)
        return await _article_page(request, me, ref, None, err.status, refusal)
    return RedirectResponse(_article_path(published.id), status_code=303)


@router.post("/kb/{ref}/archive", response_class=HTMLResponse)
async def archive(request: Request, me: WebUser, ref: ArticleRef) -> Response:
    """Take the article away from readers and search."""
    await _csrf_then_writer(request, me)
    archived = await asyncio.to_thread(knowledge.archive_article, request.app.state.engine, ref)
    return RedirectResponse(_article_path(archived.id), status_code=303)


@router.post("/kb/from-case/{number}", response_class=HTMLResponse)
async def draft_from_case(request: Request, me: WebUser, number: CaseNumber) -> Response:
    """A draft from a resolved case's title and resolution summary, opened for editing.
    A refusal (the case was reopened meanwhile) is the error page with its reason."""
    await _csrf_then_writer(request, me)
    state = request.app.state
    made = await knowledge.draft_from_case(
        state.engine, state.temporal, state.catalogs, number, DraftFromCase(), me.user
    )
    return RedirectResponse(_article_path(made.id, "/edit"), status_code=303)
