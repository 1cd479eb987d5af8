"""`tierline kb`: the knowledge base through the API: write, publish, read and search
articles, and count the cases they deflected."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markdown import Markdown
from rich.table import Table
from rich.text import Text

from cli import http
from cli.cases import IdempotencyKey, Limit, Offset
from cli.http import JsonFlag

app = typer.Typer(
    help="Knowledge-base articles (--api/--token before the command, or "
    "TIERLINE_API/TIERLINE_TOKEN).",
    callback=http.configure,
    no_args_is_help=True,
)
Article = Annotated[str, typer.Argument(help="The article's id or slug.", show_default=False)]
Title = Annotated[str | None, typer.Option(show_default=False)]
BodyText = Annotated[
    str | None, typer.Option("--body", help="Markdown; '-' reads stdin.", show_default=False)
]
BodyFile = Annotated[
    Path | None,
    typer.Option("--body-file", help="Markdown from a file.", exists=True, dir_okay=False),
]
Category = Annotated[str | None, typer.Option(help="e.g. billing", show_default=False)]
Visibility = Annotated[
    str | None,
    typer.Option(help="public, customers, staff or plans", show_default=False),
]
Plans = Annotated[
    list[str] | None,
    typer.Option("--plan", help="catalog:plan, for --visibility plans; repeat for several"),
]
MARK = re.compile(r"<mark>(.*?)</mark>", re.DOTALL)


def _body(text: str | None, path: Path | None) -> str | None:
    if text is not None and path is not None:
        raise typer.BadParameter("give --body or --body-file, not both")
    if path is not None:
        return path.read_text()
    if text == "-":
        return typer.get_text_stream("stdin").read()
    return text


def _print(article: dict[str, Any], as_json: bool, raw: bool = False) -> None:
    if as_json:
        http.print_json(article)
        return
    console = http.out()
    console.print(
        f"Article {article['id']} ({article['slug']}): {article['title']} [{article['status']}]"
    )
    published = article["published_version"]
    console.print(
        f"Category {article['category']}, visibility {article['visibility']}"
        + (f" ({', '.join(article['plans'])})" if article["plans"] else "")
        + f"; version {article['shown_version']} of {article['version']}"
        + (f", published: {published}" if published else ", never published")
    )
    console.print(
        f"Written by {article['author']} at {http.utc(article['written_at'])}"
        + (f"; from case {article['source_case']}" if article.get("source_case") else ""),
        style="dim",
    )
    console.print()
    console.print(article["body"] if raw else Markdown(article["body"]))


def _marked(snippet: str) -> Text:
    """A snippet's HTML (escaped text, matches in <mark>) as terminal text, matches bold."""
    text = Text()
    position = 0
    for match in MARK.finditer(snippet):
        text.append(html.unescape(snippet[position : match.start()]))
        text.append(html.unescape(match[1]), style="bold")
        position = match.end()
    text.append(html.unescape(snippet[position:]))
    return text


@app.command("list")
def list_articles(
    ctx: typer.Context,
    category: Category = None,
    status: Annotated[str | None, typer.Option(help="draft, published or archived")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
    as_json: JsonFlag = False,
) -> None:
    """The articles you may see, by category and title."""
    params = {"category": category, "status": status, "limit": limit, "offset": offset}
    page = http.call(ctx, "GET", "/kb/articles", params=params)
    if as_json:
        http.print_json(page)
        return
    table = Table("id", "slug", "title", "category", "visibility", "status", "version")
    for item in page["items"]:
        version = str(item["version"])
        if item["published_version"] and item["published_version"] != item["version"]:
            version += f" (published {item['published_version']})"
        table.add_row(
            str(item["id"]),
            item["slug"],
            item["title"],
            item["category"],
            item["visibility"],
            item["status"],
            version,
        )
    console = http.out()
    console.print(table)
    shown = len(page["items"])
    first = page["offset"] + 1 if shown else page["offset"]
    console.print(f"{first}-{page['offset'] + shown} of {page['total']}", style="dim")


@app.command()
def show(
    ctx: typer.Context,
    article: Article,
    version: Annotated[int | None, typer.Option(min=1, help="Staff: any version.")] = None,
    raw: Annotated[bool, typer.Option("--raw", help="The Markdown as written.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """An article (readers: its published version), its Markdown laid out for a terminal."""
    params = {"version": version}
    _print(http.call(ctx, "GET", f"/kb/articles/{article}", params=params), as_json, raw)


@app.command()
def create(
    ctx: typer.Context,
    title: Annotated[str, typer.Option(show_default=False)],
    body: BodyText = None,
    body_file: BodyFile = None,
    category: Category = None,
    visibility: Visibility = None,
    plan: Plans = None,
    slug: Annotated[str | None, typer.Option(help="Default: from the title.")] = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a new article: version 1, a draft (staff only unless --visibility says)."""
    payload: dict[str, Any] = {"title": title, "body": _body(body, body_file) or ""}
    for name, value in (("category", category), ("visibility", visibility), ("slug", slug)):
        if value is not None:
            payload[name] = value
    if plan:
        payload["plans"] = plan
    created = http.call(ctx, "POST", "/kb/articles", body=payload, idempotency_key=idempotency_key)
    _print(created, as_json, raw=True)


@app.command()
def edit(
    ctx: typer.Context,
    article: Article,
    title: Title = None,
    body: BodyText = None,
    body_file: BodyFile = None,
    category: Category = None,
    visibility: Visibility = None,
    plan: Plans = None,
    base_version: Annotated[
        int | None, typer.Option(min=1, help="Refuse if a newer version exists.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Write a new version (a draft); what you leave out stays as it was."""
    payload: dict[str, Any] = {
        "title": title,
        "body": _body(body, body_file),
        "category": category,
        "visibility": visibility,
        "plans": plan,
        "base_version": base_version,
    }
    payload = {name: value for name, value in payload.items() if value is not None}
    _print(http.call(ctx, "PUT", f"/kb/articles/{article}", body=payload), as_json, raw=True)


@app.command()
def publish(
    ctx: typer.Context,
    article: Article,
    version: Annotated[int | None, typer.Option(min=1, help="Default: the newest.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show readers a version: the newest, or an older one to roll back."""
    payload = {"version": version} if version else None
    _print(http.call(ctx, "POST", f"/kb/articles/{article}/publish", body=payload), as_json, True)


@app.command()
def archive(ctx: typer.Context, article: Article, as_json: JsonFlag = False) -> None:
    """Take an article away from readers and search (publish brings it back)."""
    _print(http.call(ctx, "POST", f"/kb/articles/{article}/archive"), as_json, raw=True)


@app.command()
def versions(ctx: typer.Context, article: Article, as_json: JsonFlag = False) -> None:
    """Every version of an article, newest first (staff)."""
    found = http.call(ctx, "GET", f"/kb/articles/{article}/versions")
    if as_json:
        http.print_json(found)
        return
    table = Table("version", "title", "visibility", "author", "written (UTC)", "published (UTC)")
    for version in found:
        table.add_row(
            str(version["version"]) + (" *" if version["current"] else ""),
            version["title"],
            version["visibility"],
            version["author"],
            http.utc(version["created_at"]),
            http.utc(version["published_at"]),
        )
    http.out().print(table)


@app.command()
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Words, e.g. 'exports time out'.")],
    limit: Annotated[int, typer.Option(min=1, max=50)] = 10,
    some: Annotated[
        bool, typer.Option("--some", help="Two of the words (one of one or two), not all.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Published articles you may see, best first, with the matching passage."""
    params = {"q": query, "limit": limit, "match": "some" if some else None}
    found = http.call(ctx, "GET", "/kb/search", params=params)
    if as_json:
        http.print_json(found)
        return
    console = http.out()
    if not found["items"]:
        console.print(f"No article matches {' '.join(found['words']) or query!r}.")
        return
    for hit in found["items"]:
        heading = Text(f"{hit['id']} ", style="dim")
        heading.append_text(_marked(hit["title_html"]))
        heading.append(f"  [{hit['category']}, {hit['slug']}]", style="dim")
        console.print(heading)
        snippet = _marked(hit["snippet_html"].replace("\n", " "))
        console.print(Text("    ").append_text(snippet))


@app.command("from-case")
def from_case(
    ctx: typer.Context,
    number: Annotated[int, typer.Argument(min=1, help="A resolved case's number.")],
    category: Category = None,
    visibility: Visibility = None,
    plan: Plans = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Draft an article from a resolved case's title and resolution summary."""
    payload: dict[str, Any] = {}
    for name, value in (("category", category), ("visibility", visibility), ("plans", plan)):
        if value:
            payload[name] = value
    drafted = http.call(
        ctx,
        "POST",
        f"/kb/articles/from-case/{number}",
        body=payload,
        idempotency_key=idempotency_key,
    )
    _print(drafted, as_json, raw=True)


@app.command()
def deflections(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="YYYY-MM-DD, exclusive")] = None,
    org: Annotated[str | None, typer.Option(help="One organisation")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Cases not opened because an article answered them, per plan and month (UTC)."""
    params = {"since": since, "until": until, "organisation": org}
    report = http.call(ctx, "GET", "/kb/deflections", params=params)
    if as_json:
        http.print_json(report)
        return
    table = Table("plan", "month", "deflected")
    for row in report["rows"]:
        table.add_row(row["plan"], row["month"], str(row["deflected"]))
    console = http.out()
    console.print(table)
    console.print(f"{report['total']} in all", style="dim")
