"""Article search on SQLite (FTS5, bm25) and PostgreSQL (tsvector, ts_rank): ranked by
where the words are, stemmed, the last word typed matched as a prefix, and snippets that
are escaped text with <mark> around the matches."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.knowledge import parse_query
from tests.api.conftest import Api
from tests.knowledge.test_articles_api import published, write

MARK = re.compile(r"<mark>(.*?)</mark>")


async def search(api: Api, q: str, **params: Any) -> list[dict[str, Any]]:
    found = await api.anonymous.get("/kb/search", params={"q": q, **params})
    assert found.status_code == 200, found.text
    hits: list[dict[str, Any]] = found.json()["items"]
    return hits


async def articles(api: Api) -> dict[str, int]:
    bodies = {
        "exports": (
            "Exports time out",
            "Large exports time out after 30 seconds.\n\nSplit the export into parts of "
            "1,000 rows, then join the parts.",
        ),
        "billing": (
            "Billing questions",
            "Every invoice lists the services you paid for. A data export of your "
            "invoices is on the billing page.",
        ),
        "sign-in": ("Sign-in problems", "Reset your password from the sign-in page."),
        "markup": ("Exporting <reports> & more", "Use **export** <b>now</b> & later."),
    }
    ids = {}
    for name, (title, body) in bodies.items():
        ids[name] = (await published(api, title=title, body=body, visibility="public"))["id"]
    return ids


async def test_ranked_by_where_the_words_are_with_marked_snippets(api: Api) -> None:
    ids = await articles(api)
    hits = await search(api, "export")
    order = [hit["id"] for hit in hits]
    # Both titles that say it rank above the article that mentions it once in passing.
    assert set(order[:2]) == {ids["exports"], ids["markup"]}
    assert order[2:] == [ids["billing"]]
    scores = [hit["score"] for hit in hits]
    assert scores == sorted(scores, reverse=True)

    first = next(hit for hit in hits if hit["id"] == ids["exports"])
    assert first["title_html"] == "<mark>Exports</mark> time out"
    assert [word.lower() for word in MARK.findall(first["snippet_html"])] == [
        "exports",
        "export",
    ]
    billing = next(hit for hit in hits if hit["id"] == ids["billing"])
    assert billing["title_html"] == "Billing questions"
    assert "data <mark>export</mark> of your" in billing["snippet_html"]


async def test_snippets_are_escaped_text_with_marks(api: Api) -> None:
    ids = await articles(api)
    hit = next(hit for hit in await search(api, "export") if hit["id"] == ids["markup"])
    assert hit["title"] == "Exporting <reports> & more"
    assert hit["title_html"] == "<mark>Exporting</mark> &lt;reports&gt; &amp; more"
    # The snippet quotes the text a reader sees (no Markdown), escaped as a whole.
    assert hit["snippet_html"] == "Use <mark>export</mark> &lt;b&gt;now&lt;/b&gt; &amp; later."
    # Markers smuggled into an article are not markers.
    await published(
        api,
        title="Smuggled",
        body="export \ue000<script>alert(1)</script>\ue001",
        visibility="public",
    )
    smuggled = next(hit for hit in await search(api, "smuggled export"))
    assert "<script" not in smuggled["snippet_html"]
    assert MARK.findall(smuggled["snippet_html"]) == ["export"]


async def test_stems_prefixes_and_some_words(api: Api) -> None:
    ids = await articles(api)
    every_export = {ids["exports"], ids["billing"], ids["markup"]}
    assert {hit["id"] for hit in await search(api, "exporting")} == every_export
    # Still typing: the last word matches the start of a word, a short one is left out.
    assert {hit["id"] for hit in await search(api, "Expo")} == every_export
    assert await search(api, "expo ") == []
    typing = await api.anonymous.get("/kb/search", params={"q": "password ti"})
    assert typing.json()["words"] == ["password"]
    assert [hit["id"] for hit in typing.json()["items"]] == [ids["sign-in"]]
    # Every word by default; two of them (or one of two) on request.
    assert await search(api, "password invoices ") == []
    either = await search(api, "password invoices ", match="some")
    assert {hit["id"] for hit in either} == {ids["sign-in"], ids["billing"]}
    two = await search(api, "billing page password ", match="some")
    assert [hit["id"] for hit in two] == [ids["billing"], ids["sign-in"]]
    assert all("<mark>" in hit["snippet_html"] for hit in two)
    assert await search(api, "password invoices refund", match="some") == []
    # Common words alone search for nothing; query syntax is taken as words.
    assert await search(api, "how to ") == []
    assert await search(api, 'export" OR "password') == []
    assert await search(api, "NEAR(export password) * : & | !") == []
    assert len(await search(api, "export", limit=1)) == 1


async def test_only_the_published_text_is_found(api: Api) -> None:
    article = (await published(api, title="Proxy settings", visibility="public"))["id"]
    assert [hit["id"] for hit in await search(api, "proxy")] == [article]
    # A new draft changes nothing readers find until it is published.
    await api.bob.put(f"/kb/articles/{article}", json={"title": "Gateway settings"})
    assert [hit["id"] for hit in await search(api, "proxy")] == [article]
    assert await search(api, "gateway") == []
    await api.bob.post(f"/kb/articles/{article}/publish")
    assert await search(api, "proxy") == []
    assert [hit["id"] for hit in await search(api, "gateway")] == [article]
    await api.bob.post(f"/kb/articles/{article}/archive")
    assert await search(api, "gateway") == []
    staff = await api.bob.get("/kb/search", params={"q": "gateway"})
    assert staff.json()["items"] == []  # search covers published articles, for staff too
    await write(api, title="Gateway draft", visibility="public")
    assert await search(api, "gateway") == []


@pytest.mark.parametrize(
    ("query", "words", "prefix"),
    [
        ("Exports time", ["exports", "time"], True),
        ("Exports time out", ["exports", "time"], False),  # `out` is a stop word
        ("How do I export?", ["export"], False),
        ("export expo", ["export", "expo"], True),
        ("export ex", ["export"], False),
        ("export export", ["export"], False),
        ("naïve_user's café", ["naïve", "user", "café"], True),
        ("", [], False),
        ("?!", [], False),
    ],
)
def test_query_words(query: str, words: list[str], prefix: bool) -> None:
    parsed = parse_query(query)
    assert (parsed.words, parsed.prefix) == (words, prefix)
