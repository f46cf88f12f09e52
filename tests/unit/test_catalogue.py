"""The gettext catalogue: up to date with the code and complete in French."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "callcredit" / "locale"
POT = LOCALE / "messages.pot"
FRENCH = LOCALE / "fr" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


def _read(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def _ids(catalog: Catalog) -> set[str]:
    return {str(m.id) if isinstance(m.id, str) else str(m.id[0]) for m in catalog if m.id}


def test_committed_template_matches_the_code(tmp_path: Path) -> None:
    """Extracting the strings again gives exactly the committed messages.pot."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", "extract", "-F", "babel.cfg",
         "--no-location", "-o", str(fresh), "src/callcredit"],
        cwd=ROOT, check=True,
    )  # fmt: skip
    extracted, committed = _ids(_read(fresh)), _ids(_read(POT))
    assert extracted - committed == set(), "strings missing from messages.pot: run pybabel extract"
    assert committed - extracted == set(), "stale strings in messages.pot: run pybabel extract"


def test_french_catalogue_follows_the_template() -> None:
    """The French catalogue has exactly the template's messages (pybabel update was run)."""
    assert _ids(_read(FRENCH, "fr")) == _ids(_read(POT))


def test_every_french_string_is_translated_and_not_fuzzy() -> None:
    """No French message is empty or marked fuzzy."""
    untranslated = []
    for message in _read(FRENCH, "fr"):
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            untranslated.append(message.id)
    assert untranslated == []


def test_french_strings_keep_the_placeholders() -> None:
    """Each translation uses the same %(name)s placeholders as its English original."""
    wrong = []
    for message in _read(FRENCH, "fr"):
        if not message.id or not isinstance(message.id, str):
            continue
        if sorted(PLACEHOLDER.findall(message.id)) != sorted(PLACEHOLDER.findall(message.string)):
            wrong.append(message.id)
    assert wrong == []
