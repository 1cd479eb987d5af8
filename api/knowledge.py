"""The knowledge base: articles written in Markdown by agents and admins, kept as versions,
published to readers by visibility, searched with ranking and highlighted snippets, and
the deflections of customers who found their answer instead of opening a case.

Who sees an article (`sees`, and `_visible` for lists and search, which say the same in
SQL): staff (agents, release managers, auditors, admins) every article in every status
and version; everyone else only published articles, in their published version: anyone,
signed in or not, `public` ones; any signed-in user `customers` ones; a customer `plans`
ones that list their organisation's plan. Whatever a reader may not see is a 404, as if
it did not exist, like another organisation's case.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from html import escape
from itertools import combinations
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, and_, cast, func, literal, literal_column, or_
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import JSONB, REGCONFIG
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from temporalio.client import Client

from api.auth import Principal
from api.cases import read_case
from api.deps import MAX_ID
from api.errors import Conflict, Forbidden, InvalidField, NotFound
from db.knowledge import (
    MATCH_END,
    MATCH_START,
    PG_CONFIG,
    KbArticle,
    KbArticleVersion,
    KbDeflection,
    from_index,
    index_articles,
    unindex_articles,
)
from db.read_model import KB_SEARCH_TABLE, Organisation, utcnow, write_lock
from models.case import CaseStatus, Role
from policies.format import Catalog
from policies.plan_ref import PLAN_REF_PATTERN, PlanRef
from web.markdown import plain_text, render

# Who may write articles (admins always may), who reads every article, and who reads
# the deflection figures; the console's knowledge-base pages check the same.
WRITER_ROLES = (Role.agent,)
STAFF_ROLES = (Role.agent, Role.release_manager, Role.auditor, Role.admin)
REPORT_ROLES = (Role.agent, Role.auditor)
BODY_MAX = 100_000


class Visibility(StrEnum):
    public = "public"
    customers = "customers"
    staff = "staff"
    plans = "plans"


class ArticleStatus(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Match(StrEnum):
    """How many of a search's words an article must hold."""

    all = "all"
    # Two of them, or one when the query has only one or two: what suggestions for a
    # case's title use (one shared word, say `upgrade`, suggests half the articles).
    some = "some"


# --------------------------------------------------------------------------- payloads

Title = Annotated[str, Field(min_length=1, max_length=200, examples=["Exports time out"])]
Body = Annotated[str, Field(max_length=BODY_MAX, description="Markdown (CommonMark, tables)")]
Category = Annotated[
    str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["billing"])
]
Slug = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$",
        description="Lower-case words joined by hyphens, not digits only; default: from the title",
    ),
]
PlanList = Annotated[
    list[Annotated[str, Field(pattern=PLAN_REF_PATTERN)]],
    Field(max_length=50, description="`catalog:plan` values; for visibility `plans` only"),
]


class ArticleCreate(BaseModel):
    """A new article: its first version, a draft until published."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    body: Body = ""
    category: Category = "general"
    visibility: Visibility = Field(
        default=Visibility.staff, description="Staff only unless said otherwise"
    )
    plans: PlanList = Field(default_factory=list)
    slug: Slug | None = None

    @field_validator("slug")
    @classmethod
    def _not_a_number(cls, slug: str | None) -> str | None:
        if slug is not None and slug.isdigit():
            raise ValueError("a slug of digits only would read as an article id")
        return slug


class ArticleUpdate(BaseModel):
    """A new version: what is left out keeps the newest version's value."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    body: Body | None = None
    category: Category | None = None
    visibility: Visibility | None = None
    plans: PlanList | None = None
    base_version: int | None = Field(
        default=None,
        ge=1,
        le=MAX_ID,
        description="The version the edit starts from: 409 if a newer one exists",
    )


class ArticlePublish(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="The version to publish (default: newest)"
    )


class DraftFromCase(BaseModel):
    """How the draft made from a case's resolution is filed."""

    model_config = ConfigDict(extra="forbid")

    category: Category = "resolutions"
    visibility: Visibility = Visibility.staff
    plans: PlanList = Field(default_factory=list)


class ArticleSummary(BaseModel):
    id: int
    slug: str
    title: str
    category: str
    visibility: Visibility
    plans: list[str] = Field(description="Shown to staff only")
    status: ArticleStatus
    version: int = Field(description="The newest version")
    published_version: int | None
    updated_at: datetime


class ArticleRead(ArticleSummary):
    """An article in one of its versions (readers: the published one), as Markdown and
    as sanitised HTML."""

    shown_version: int = Field(description="The version whose text this is")
    author: str = Field(description="Who wrote the shown version")
    written_at: datetime
    published_at: datetime | None = Field(description="When the shown version was published")
    body: str = Field(description="Markdown")
    html: str = Field(description="The body rendered and sanitised (web/markdown.py)")
    source_case: int | None = Field(description="The case the first draft was made from")
    created_by: str
    created_at: datetime


class ArticlePage(BaseModel):
    items: list[ArticleSummary]
    total: int
    limit: int
    offset: int


class ArticleVersionRead(BaseModel):
    version: int
    title: str
    category: str
    visibility: Visibility
    plans: list[str]
    author: str
    created_at: datetime
    published_at: datetime | None
    current: bool = Field(description="The version readers are shown")
    body: str


class SearchHit(BaseModel):
    id: int
    slug: str
    title: str
    category: str
    visibility: Visibility
    score: float = Field(description="Higher is better; comparable within one answer only")
    title_html: str = Field(description="The title, HTML-escaped, matches in <mark>")
    snippet_html: str = Field(description="A passage of the text, HTML-escaped, matches in <mark>")


class SearchResults(BaseModel):
    query: str
    match: Match
    words: list[str] = Field(description="The words searched for (common words left out)")
    prefix: bool = Field(description="The last word also matched as the start of a word")
    items: list[SearchHit]


class CategoryCount(BaseModel):
    category: str
    articles: int


class DeflectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    article: int = Field(ge=1, le=MAX_ID, description="The article that solved it")
    query: str = Field(
        default="", max_length=300, description="The case title the customer had typed"
    )


class DeflectionRead(BaseModel):
    id: int
    organisation: str
    plan: str
    article_id: int
    user_id: str
    query: str
    at: datetime


class DeflectionCount(BaseModel):
    plan: str = Field(description="'<catalog>:<plan>'")
    month: str = Field(description="'YYYY-MM', in UTC")
    deflected: int


class DeflectionReport(BaseModel):
    """Cases not opened because an article answered them, per plan and month."""

    since: date | None
    until: date | None = Field(description="Exclusive")
    organisation: str | None
    month_zone: Literal["UTC"] = "UTC"
    rows: list[DeflectionCount]
    total: int


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class Reader:
    """What decides which articles someone sees."""

    staff: bool = False
    signed_in: bool = False
    plan: str | None = None  # a customer's organisation's `catalog:plan`


ANONYMOUS = Reader()


def reader_for(session: Session, user: Principal | None) -> Reader:
    if user is None:
        return ANONYMOUS
    if user.role in STAFF_ROLES:
        return Reader(staff=True, signed_in=True)
    organisation = session.get(Organisation, user.organisation) if user.organisation else None
    plan = f"{organisation.catalog}:{organisation.plan}" if organisation else None
    return Reader(signed_in=True, plan=plan)


def sees(reader: Reader, status: str, visibility: str, plans: list[str]) -> bool:
    """Whether the reader sees an article (in its published version, unless staff)."""
    if reader.staff:
        return True
    if status != ArticleStatus.published:
        return False
    match visibility:
        case Visibility.public:
            return True
        case Visibility.customers:
            return reader.signed_in
        case Visibility.plans:
            return reader.plan is not None and reader.plan in plans
        case _:
            return False


def _plans_hold(plan: str, dialect: str) -> Any:
    """The article's plans list `plan` (a `catalog:plan`: no character JSON escapes)."""
    if dialect == "postgresql":
        return cast(KbArticle.plans, JSONB).contains(cast(literal(f'["{plan}"]'), JSONB))
    listed = func.json_each(KbArticle.plans).table_valued("value")
    return select(literal(1)).select_from(listed).where(listed.c.value == plan).exists()


def _visible(reader: Reader, dialect: str) -> list[Any]:
    """`sees` as conditions on `kb_articles`."""
    if reader.staff:
        return []
    shown = [col(KbArticle.visibility) == Visibility.public.value]
    if reader.signed_in:
        shown.append(col(KbArticle.visibility) == Visibility.customers.value)
    if reader.plan is not None:
        shown.append(
            and_(
                col(KbArticle.visibility) == Visibility.plans.value,
                _plans_hold(reader.plan, dialect),
            )
        )
    return [col(KbArticle.status) == ArticleStatus.published.value, or_(*shown)]


# --------------------------------------------------------------------------- reading


def _find(session: Session, ref: str | int) -> KbArticle | None:
    if isinstance(ref, int) or (ref.isascii() and ref.isdigit()):
        number = int(ref)
        return session.get(KbArticle, number) if 1 <= number <= MAX_ID else None
    return session.exec(select(KbArticle).where(col(KbArticle.slug) == ref)).first()


def _article(session: Session, ref: str | int, reader: Reader) -> KbArticle:
    """The article by id or slug; 404 when there is none or the reader may not see it."""
    row = _find(session, ref)
    if row is None or not sees(reader, row.status, row.visibility, row.plans):
        raise NotFound(f"article {ref} does not exist")
    return row


def _version(session: Session, article_id: int, version: int) -> KbArticleVersion:
    row = session.get(KbArticleVersion, (article_id, version))
    if row is None:
        raise NotFound(f"article {article_id} has no version {version}")
    return row


def _summary(row: KbArticle, reader: Reader) -> ArticleSummary:
    assert row.id is not None
    return ArticleSummary(
        id=row.id,
        slug=row.slug,
        title=row.title,
        category=row.category,
        visibility=Visibility(row.visibility),
        plans=list(row.plans) if reader.staff else [],
        status=ArticleStatus(row.status),
        version=row.version,
        published_version=row.published_version,
        updated_at=row.updated_at,
    )


def _read(row: KbArticle, shown: KbArticleVersion, reader: Reader) -> ArticleRead:
    summary = _summary(row, reader).model_dump()
    summary.update(
        title=shown.title,
        category=shown.category,
        visibility=Visibility(shown.visibility),
        plans=list(shown.plans) if reader.staff else [],
    )
    return ArticleRead(
        **summary,
        shown_version=shown.version,
        author=shown.author,
        written_at=shown.created_at,
        published_at=shown.published_at,
        body=shown.body,
        html=str(render(shown.body)),
        source_case=row.source_case,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def read_article(
    engine: Engine, user: Principal | None, ref: str | int, version: int | None = None
) -> ArticleRead:
    """One article as the caller may read it: readers its published version (asking for
    another is a 404); staff any version, by default the published one, else the newest."""
    with Session(engine) as session:
        reader = reader_for(session, user)
        row = _article(session, ref, reader)
        assert row.id is not None
        default = row.published_version or row.version
        if version is not None and version != default and not reader.staff:
            raise NotFound(f"article {ref} has no version {version}")
        shown = _version(session, row.id, version or default)
        return _read(row, shown, reader)


def list_articles(
    engine: Engine,
    user: Principal | None,
    category: str | None,
    status: ArticleStatus | None,
    limit: int,
    offset: int,
) -> ArticlePage:
    """The articles the caller may see, by category and title."""
    with Session(engine) as session:
        reader = reader_for(session, user)
        conditions = _visible(reader, engine.dialect.name)
        if category is not None:
            conditions.append(col(KbArticle.category) == category)
        if status is not None:
            conditions.append(col(KbArticle.status) == status.value)
        total = session.exec(select(func.count()).select_from(KbArticle).where(*conditions)).one()
        rows = session.exec(
            select(KbArticle)
            .where(*conditions)
            .order_by(col(KbArticle.category), col(KbArticle.title), col(KbArticle.id))
            .limit(limit)
            .offset(offset)
        ).all()
        items = [_summary(row, reader) for row in rows]
    return ArticlePage(items=items, total=total, limit=limit, offset=offset)


def categories(engine: Engine, user: Principal | None) -> list[CategoryCount]:
    """Each category with the number of articles in it the caller may see."""
    with Session(engine) as session:
        reader = reader_for(session, user)
        rows = session.exec(
            select(col(KbArticle.category), func.count())
            .where(*_visible(reader, engine.dialect.name))
            .group_by(col(KbArticle.category))
            .order_by(col(KbArticle.category))
        ).all()
    return [CategoryCount(category=category, articles=count) for category, count in rows]


def history(engine: Engine, ref: str | int) -> list[ArticleVersionRead]:
    """Every version of an article, newest first (staff only: the route checks)."""
    with Session(engine) as session:
        row = _article(session, ref, Reader(staff=True))
        versions = session.exec(
            select(KbArticleVersion)
            .where(col(KbArticleVersion.article_id) == row.id)
            .order_by(col(KbArticleVersion.version).desc())
        ).all()
        return [
            ArticleVersionRead(
                version=version.version,
                title=version.title,
                category=version.category,
                visibility=Visibility(version.visibility),
                plans=list(version.plans),
                author=version.author,
                created_at=version.created_at,
                published_at=version.published_at,
                current=version.version == row.published_version
                and row.status == ArticleStatus.published,
                body=version.body,
            )
            for version in versions
        ]


# --------------------------------------------------------------------------- writing


def slugify(title: str) -> str:
    """`Exports time out (v2)` -> `exports-time-out-v2`; never digits only."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")[:80].strip("-")
    if not slug or slug.isdigit():
        slug = f"article-{slug}" if slug else "article"
    return slug


def _check_plans(
    catalogs: dict[str, Catalog], visibility: Visibility, plans: list[str], field: str
) -> None:
    if visibility is Visibility.plans and not plans:
        raise InvalidField(field, "visibility plans needs at least one `catalog:plan`")
    if visibility is not Visibility.plans and plans:
        raise InvalidField(field, f"only visibility plans takes plans, not {visibility.value}")
    for index, text in enumerate(plans):
        ref = PlanRef.parse(text)  # the schema checked the form
        catalog = catalogs.get(ref.catalog)
        if catalog is None or all(plan.id != ref.plan for plan in catalog.plans):
            raise InvalidField(f"{field}.{index}", f"no plan {ref} in the loaded catalogs")


def _free_slug(session: Session, base: str) -> str:
    taken = set(
        session.exec(
            select(col(KbArticle.slug)).where(
                or_(col(KbArticle.slug) == base, col(KbArticle.slug).startswith(base + "-"))
            )
        ).all()
    )
    slug, suffix = base, 1
    while slug in taken:
        suffix += 1
        slug = f"{base}-{suffix}"
    return slug


def create_article(
    engine: Engine,
    catalogs: dict[str, Catalog],
    body: ArticleCreate,
    author: Principal,
    source_case: int | None = None,
) -> ArticleRead:
    """A new article with its first version, a draft."""
    _check_plans(catalogs, body.visibility, body.plans, "body.plans")
    plans = sorted(set(body.plans))
    for _attempt in range(5):
        with write_lock(engine), Session(engine) as session:
            if body.slug is not None:
                slug = body.slug
                holder = _find(session, slug)
                if holder is not None:
                    raise Conflict(f"slug {slug} is taken by article {holder.id}")
            else:
                slug = _free_slug(session, slugify(body.title))
            now = utcnow()
            row = KbArticle(
                slug=slug,
                title=body.title,
                category=body.category,
                visibility=body.visibility.value,
                plans=plans,
                status=ArticleStatus.draft.value,
                version=1,
                source_case=source_case,
                created_by=author.id,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError:
                if body.slug is not None:
                    raise Conflict(f"slug {slug} is taken") from None
                continue  # another article took the slug at this moment: the next one
            assert row.id is not None
            first = KbArticleVersion(
                article_id=row.id,
                version=1,
                title=body.title,
                body=body.body,
                category=body.category,
                visibility=body.visibility.value,
                plans=plans,
                author=author.id,
                created_at=now,
            )
            session.add(first)
            session.commit()
            return _read(row, first, Reader(staff=True))
    raise Conflict("could not find a free slug; give one")


def edit_article(
    engine: Engine,
    catalogs: dict[str, Catalog],
    ref: str | int,
    body: ArticleUpdate,
    author: Principal,
) -> ArticleRead:
    """A new version from the newest one and the fields given; a draft until published."""
    with write_lock(engine), Session(engine) as session:
        row = _article(session, ref, Reader(staff=True))
        assert row.id is not None
        if body.base_version is not None and body.base_version != row.version:
            raise Conflict(
                f"article {row.id} is at version {row.version}, not {body.base_version}: "
                "read it again and edit from there"
            )
        newest = _version(session, row.id, row.version)
        visibility = body.visibility or Visibility(newest.visibility)
        plans = list(newest.plans) if body.plans is None else sorted(set(body.plans))
        if body.visibility is not None and body.visibility is not Visibility.plans:
            if body.plans is None:
                plans = []  # leaving visibility plans drops them
        _check_plans(catalogs, visibility, plans, "body.plans")
        now = utcnow()
        version = KbArticleVersion(
            article_id=row.id,
            version=row.version + 1,
            title=newest.title if body.title is None else body.title,
            body=newest.body if body.body is None else body.body,
            category=newest.category if body.category is None else body.category,
            visibility=visibility.value,
            plans=plans,
            author=author.id,
            created_at=now,
        )
        session.add(version)
        row.version = version.version
        row.updated_at = now
        if row.published_version is None:
            # Never published: the article is listed as its newest draft says.
            _copy_listing(row, version)
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            raise Conflict(f"article {row.id} changed meanwhile: read it again") from None
        return _read(row, version, Reader(staff=True))


def _copy_listing(row: KbArticle, version: KbArticleVersion) -> None:
    row.title = version.title
    row.category = version.category
    row.visibility = version.visibility
    row.plans = list(version.plans)


def publish_article(engine: Engine, ref: str | int, version_number: int | None) -> ArticleRead:
    """Readers are shown this version (the newest by default) from now on; publishing
    an older one rolls back, publishing the published one changes nothing."""
    with write_lock(engine), Session(engine) as session:
        row = _article(session, ref, Reader(staff=True))
        assert row.id is not None
        version = _version(session, row.id, version_number or row.version)
        if row.status == ArticleStatus.published and row.published_version == version.version:
            return _read(row, version, Reader(staff=True))
        now = utcnow()
        if version.published_at is None:
            version.published_at = now
            session.add(version)
        row.status = ArticleStatus.published.value
        row.published_version = version.version
        row.updated_at = now
        _copy_listing(row, version)
        session.add(row)
        index_articles(session.connection(), [(row.id, version.title, plain_text(version.body))])
        session.commit()
        return _read(row, version, Reader(staff=True))


def archive_article(engine: Engine, ref: str | int) -> ArticleRead:
    """Readers see the article no more, nor find it; staff still read its history, and
    publishing a version brings it back."""
    with write_lock(engine), Session(engine) as session:
        row = _article(session, ref, Reader(staff=True))
        assert row.id is not None
        if row.status != ArticleStatus.archived:
            row.status = ArticleStatus.archived.value
            row.updated_at = utcnow()
            session.add(row)
            unindex_articles(session.connection(), [row.id])
            session.commit()
        shown = _version(session, row.id, row.published_version or row.version)
        return _read(row, shown, Reader(staff=True))


async def draft_from_case(
    engine: Engine,
    client: Client,
    catalogs: dict[str, Catalog],
    number: int,
    body: DraftFromCase,
    author: Principal,
) -> ArticleRead:
    """A draft article from a resolved (or closed) case's title and resolution summary."""
    view = await read_case(engine, client, number)
    if view.status not in (CaseStatus.resolved, CaseStatus.closed):
        raise Conflict(f"case {number} is {view.status.value}: only a resolved case has a fix")
    if not view.resolution_summary:
        raise Conflict(f"case {number} has no resolution summary")
    draft = ArticleCreate(
        title=view.details.title,
        body=f"## Resolution\n\n{view.resolution_summary}\n",
        category=body.category,
        visibility=body.visibility,
        plans=body.plans,
    )
    return await asyncio.to_thread(create_article, engine, catalogs, draft, author, number)


# --------------------------------------------------------------------------- search

# PostgreSQL's English stop words (Snowball's list), left out of queries on both
# databases: PostgreSQL drops them anyway, and SQLite would otherwise demand them.
STOP_WORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before
    being below between both but by can did do does doing don down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is
    it its itself just me more most my myself no nor not now of off on once only or other our
    ours ourselves out over own same she should so some such t than that the their theirs
    them themselves then there these they this those through to too under until up very was
    we were what when where which while who whom why will with you your yours yourself
    yourselves s""".split()
)
_WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 12
# A last word shorter than this, still being typed, is left out rather than matched as
# the start of a word (`ti` would match most of the text).
PREFIX_MIN = 3
SEARCH_LIMIT_MAX = 50
# Match.some asks for any two of at most this many words (28 pairs).
SOME_MAX_WORDS = 8
# bm25 weights of title and body on SQLite; PostgreSQL weighs them by setweight A and B
# (1.0 and 0.4).
SQLITE_WEIGHTS = (5.0, 1.0)
SNIPPET_TOKENS = 24
# One passage (fragments would drop the punctuation between words).
HEADLINE_OPTIONS = f'StartSel="{MATCH_START}", StopSel="{MATCH_END}", MinWords=12, MaxWords=30'

TITLE_HEADLINE_OPTIONS = f'StartSel="{MATCH_START}", StopSel="{MATCH_END}", HighlightAll=true'


@dataclass(frozen=True)
class SearchQuery:
    words: list[str]
    prefix: bool  # the last word also matches the start of longer words


def parse_query(query: str) -> SearchQuery:
    """The words to search for: letters and digits, lower-cased, without stop words, each
    once, at most MAX_WORDS. A query that ends inside a word is still being typed: its
    last word also matches the start of longer words, or is left out if shorter than
    PREFIX_MIN (`ti` would match most of the text)."""
    found = [word.lower() for word in _WORD.findall(query)]
    typing = bool(found) and _WORD.fullmatch(query[-1]) is not None
    partial = found.pop() if typing else None
    words: list[str] = []
    for word in found:
        if word not in STOP_WORDS and word not in words:
            words.append(word)
    if partial is None or partial in STOP_WORDS or len(partial) < PREFIX_MIN:
        return SearchQuery(words[:MAX_WORDS], prefix=False)
    if partial in words:
        return SearchQuery(words[:MAX_WORDS], prefix=False)  # already wanted whole
    return SearchQuery([*words[: MAX_WORDS - 1], partial], prefix=True)


def _required(terms: list[str], match: Match, both: str, either: str) -> str:
    if match is Match.all:
        return both.join(terms)
    if len(terms) <= 2:
        return either.join(terms)
    if len(terms) > SOME_MAX_WORDS:
        terms = [*terms[: SOME_MAX_WORDS - 1], terms[-1]]  # the one being typed too
    return either.join(f"({first}{both}{second})" for first, second in combinations(terms, 2))


def fts5_match(query: SearchQuery, match: Match) -> str:
    """An FTS5 query: every word quoted (nothing in it is read as syntax)."""
    terms = ['"' + word.replace('"', '""') + '"' for word in query.words]
    if query.prefix:
        terms[-1] += "*"
    return _required(terms, match, " AND ", " OR ")


def tsquery_terms(query: SearchQuery) -> list[str]:
    """The words as to_tsquery() operands: quoted (letters and digits only, see _WORD)."""
    terms = [f"'{word}'" for word in query.words]
    if query.prefix:
        terms[-1] += ":*"
    return terms


def tsquery_text(query: SearchQuery, match: Match) -> str:
    return _required(tsquery_terms(query), match, " & ", " | ")


def marked(text: str) -> str:
    """Text from the index with its match markers: escaped as a whole, then the markers
    turned into <mark> (the indexed text never holds them: db.knowledge.indexable)."""
    html = escape(from_index(text), quote=True)
    return html.replace(MATCH_START, "<mark>").replace(MATCH_END, "</mark>")


_FTS: Any = literal_column(KB_SEARCH_TABLE)
_SQLITE_INDEX = sql_table(KB_SEARCH_TABLE, sql_column("rowid"))
_PG_INDEX = sql_table(
    KB_SEARCH_TABLE,
    sql_column("article_id"),
    sql_column("title"),
    sql_column("body"),
    sql_column("document"),
)


def _ranked_sqlite(
    session: Session, match: str, conditions: list[Any], limit: int
) -> list[tuple[int, float, str, str]]:
    rowid = _SQLITE_INDEX.c.rowid
    score = func.bm25(_FTS, *SQLITE_WEIGHTS)
    ranked = session.execute(
        select(rowid, score)
        .select_from(_SQLITE_INDEX.join(KbArticle, col(KbArticle.id) == rowid))
        .where(_FTS.op("MATCH")(match), *conditions)
        .order_by(score, rowid)
        .limit(limit)
    ).all()
    if not ranked:
        return []
    # Snippets for the page of hits only: in the ranking query they would be made for
    # every match before the sort.
    marks = (MATCH_START, MATCH_END)
    snippets = dict(
        (found, (title, snippet))
        for found, title, snippet in session.execute(
            select(
                rowid,
                func.highlight(_FTS, 0, *marks),
                func.snippet(_FTS, 1, *marks, "…", SNIPPET_TOKENS),
            ).where(_FTS.op("MATCH")(match), rowid.in_([found for found, _ in ranked]))
        ).all()
    )
    return [(found, -score, *snippets[found]) for found, score in ranked]


def _ranked_postgresql(
    session: Session, required: str, scored: str, conditions: list[Any], limit: int
) -> list[tuple[int, float, str, str]]:
    """The hits of the `required` query, ranked and marked by the words of `scored`."""
    config = cast(literal(PG_CONFIG), REGCONFIG)
    query = func.to_tsquery(config, scored)
    index = _PG_INDEX.c
    # Normalisation 1: the rank over 1 + log(length), so long articles do not win by size.
    rank = func.ts_rank(index.document, query, 1)
    top = (
        select(index.article_id, rank.label("score"))
        .select_from(_PG_INDEX.join(KbArticle, col(KbArticle.id) == index.article_id))
        .where(index.document.op("@@")(func.to_tsquery(config, required)), *conditions)
        .order_by(rank.desc(), index.article_id)
        .limit(limit)
        .subquery()
    )
    # Headlines for the page of hits only, after the limit.
    rows = session.execute(
        select(
            top.c.article_id,
            top.c.score,
            func.ts_headline(config, index.title, query, TITLE_HEADLINE_OPTIONS),
            func.ts_headline(config, index.body, query, HEADLINE_OPTIONS),
        )
        .select_from(top.join(_PG_INDEX, index.article_id == top.c.article_id))
        .order_by(top.c.score.desc(), top.c.article_id)
    ).all()
    return [(found, float(score), title, snippet) for found, score, title, snippet in rows]


def search(
    engine: Engine,
    user: Principal | None,
    text: str,
    limit: int,
    match: Match = Match.all,
) -> SearchResults:
    """Published articles the caller may see whose title or text hold the words (every
    one, or with Match.some two of them), best first, each with its title and a passage
    highlighted. Words match by stem (`exports` finds `exporting`), any case."""
    query = parse_query(text)
    results = SearchResults(
        query=text, match=match, words=query.words, prefix=query.prefix, items=[]
    )
    if not query.words:
        return results
    with Session(engine) as session:
        reader = reader_for(session, user)
        conditions = _visible(reader, engine.dialect.name)
        if engine.dialect.name == "sqlite":
            ranked = _ranked_sqlite(session, fts5_match(query, match), conditions, limit)
        else:
            # Ranked by every word it holds (bm25 over FTS5's pairs comes to the same).
            required, scored = tsquery_text(query, match), " | ".join(tsquery_terms(query))
            ranked = _ranked_postgresql(session, required, scored, conditions, limit)
        ids = [found for found, *_ in ranked]
        rows = {
            row.id: row for row in session.exec(select(KbArticle).where(col(KbArticle.id).in_(ids)))
        }
    for found, score, title, snippet in ranked:
        row = rows.get(found)
        if row is None:
            continue
        results.items.append(
            SearchHit(
                id=found,
                slug=row.slug,
                title=row.title,
                category=row.category,
                visibility=Visibility(row.visibility),
                score=round(score, 6),
                title_html=marked(title),
                snippet_html=marked(snippet),
            )
        )
    return results


# --------------------------------------------------------------------------- deflection


# One customer saying the same article solved the same problem again within this time is
# the same deflection (a page reloaded, the form sent again): it counts once.
DEFLECTION_REPEAT = timedelta(hours=24)


def _same_problem(query: str) -> str:
    return " ".join(query.casefold().split())


def record_deflection(
    engine: Engine, user: Principal, article: str | int, query: str
) -> DeflectionRead:
    """A customer read `article` while typing a case titled `query` and said it solved
    the problem: a case not opened, counted for their organisation's plan. 404 for an
    article they cannot see; 403 for anyone but a customer."""
    return record_deflection_once(engine, user, article, query)[0]


def record_deflection_once(
    engine: Engine, user: Principal, article: str | int, query: str
) -> tuple[DeflectionRead, bool]:
    """`record_deflection`, and whether it is new: the same customer, article and problem
    (its words, any case and spacing) within `DEFLECTION_REPEAT` is the one recorded."""
    if user.role is not Role.customer or user.organisation is None:
        raise Forbidden("deflections are a customer's: only customers record them")
    with write_lock(engine), Session(engine) as session:
        reader = reader_for(session, user)
        row = _article(session, article, reader)
        assert row.id is not None and reader.plan is not None
        problem = _same_problem(query[:300])
        earlier = session.exec(
            select(KbDeflection)
            .where(col(KbDeflection.user_id) == user.id)
            .where(col(KbDeflection.article_id) == row.id)
            .where(col(KbDeflection.at) > utcnow() - DEFLECTION_REPEAT)
            .order_by(col(KbDeflection.at).desc())
        ).all()
        for seen in earlier:
            if _same_problem(seen.query) == problem:
                return DeflectionRead.model_validate(seen, from_attributes=True), False
        deflection = KbDeflection(
            organisation=user.organisation,
            plan=reader.plan,
            article_id=row.id,
            user_id=user.id,
            query=query[:300],
        )
        session.add(deflection)
        session.commit()
        return DeflectionRead.model_validate(deflection, from_attributes=True), True


def _month(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.strftime("%Y-%m")


def deflection_counts(
    engine: Engine,
    since: date | None = None,
    until: date | None = None,
    organisation: str | None = None,
) -> DeflectionReport:
    """Deflected cases per plan and month (UTC), since <= at < until, for one
    organisation or all. What the attainment report shows beside each plan and month."""
    conditions: list[Any] = []
    if since is not None:
        conditions.append(col(KbDeflection.at) >= datetime.combine(since, time(), tzinfo=UTC))
    if until is not None:
        conditions.append(col(KbDeflection.at) < datetime.combine(until, time(), tzinfo=UTC))
    if organisation is not None:
        conditions.append(col(KbDeflection.organisation) == organisation)
    with Session(engine) as session:
        found = session.exec(
            select(col(KbDeflection.plan), col(KbDeflection.at)).where(*conditions)
        ).all()
    counts = Counter((plan, _month(at)) for plan, at in found)
    rows = [
        DeflectionCount(plan=plan, month=month, deflected=count)
        for (plan, month), count in sorted(counts.items())
    ]
    return DeflectionReport(
        since=since, until=until, organisation=organisation, rows=rows, total=len(found)
    )
