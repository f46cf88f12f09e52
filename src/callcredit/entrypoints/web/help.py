"""The help pages: Markdown with front matter under ``callcredit/help/<lang>/``.

A page's body may use ``{{ site.office_link }}``, the address of this
deployment's office manager (``CALLCREDIT_PUBLIC_URL``), so its links lead to
the deployment's own pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import markdown
from fastapi import APIRouter
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from starlette.responses import Response

from callcredit.entrypoints.web.page import PageProblem, Visitor

HELP = Path(__file__).resolve().parents[2] / "help"
router = APIRouter()
_sandbox = SandboxedEnvironment(autoescape=False)


@dataclass(frozen=True, slots=True)
class HelpPage:
    """One help page in one language."""

    slug: str
    title: str
    summary: str
    order: int
    body: str


def parse(text: str, slug: str) -> HelpPage:
    """Split ``---`` front matter (``key: value`` lines) from the body."""
    meta: dict[str, str] = {}
    body = text
    if text.startswith("---\n"):
        head, _, body = text[4:].partition("\n---\n")
        for line in head.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip()] = value.strip().strip('"')
    return HelpPage(slug, meta.get("title", slug), meta.get("summary", ""),
                    int(meta.get("order", "99")), body)  # fmt: skip


@cache
def pages(language: str) -> tuple[HelpPage, ...]:
    """The help pages of ``language``, in their order."""
    folder = HELP / language
    found = [parse(path.read_text("utf-8"), path.stem) for path in folder.glob("*.md")]
    return tuple(sorted(found, key=lambda p: (p.order, p.slug)))


def render_body(page: HelpPage, office_link: str) -> Markup:
    """The page as HTML, its links pointing at ``office_link``."""
    source = _sandbox.from_string(page.body).render(site={"office_link": office_link.rstrip("/")})
    html = markdown.markdown(source, extensions=["toc", "tables", "attr_list"],
                             output_format="html")  # fmt: skip
    return Markup(html)  # noqa: S704 - our own Markdown files, not visitor input


@router.get("/help")
def index(page: Visitor) -> Response:
    return page.render("help_index.html", pages=pages(page.language))


@router.get("/help/{slug}")
def article(page: Visitor, slug: str) -> Response:
    for found in pages(page.language):
        if found.slug == slug:
            body = render_body(found, page.cc.settings.public_url)
            return page.render("help_page.html", article=found, body=body,
                               pages=pages(page.language))  # fmt: skip
    raise PageProblem(404, "not_found")
