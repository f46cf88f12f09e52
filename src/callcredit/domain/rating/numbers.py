"""What a dialled destination is, as the numbering adapter classified it."""

from __future__ import annotations

from dataclasses import dataclass

# ``phonenumbers`` number types, lower-cased; ``invalid`` is ours.
KINDS = frozenset(
    {
        "fixed_line",
        "mobile",
        "fixed_line_or_mobile",
        "toll_free",
        "premium_rate",
        "shared_cost",
        "voip",
        "personal_number",
        "pager",
        "uan",
        "voicemail",
        "unknown",
    }
)
INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class NumberInfo:
    """A destination as dialled and as understood.

    ``e164`` is the number to rate: the E.164 form, or for a short number of
    the home country a pseudo E.164 made of the country code and the short
    number (``118218`` in France → ``+33118218``) so that a deck prefix such
    as ``+33118`` prices it. ``country`` is an ISO 3166 region, ``"001"`` for
    non-geographic codes (satellite, international freephone). An invalid
    destination has ``kind == "invalid"`` and no ``e164``.
    """

    dialled: str
    e164: str | None
    country: str | None
    kind: str
    emergency: bool = False
    short: bool = False
    premium: bool = False
    label: str = ""

    @property
    def valid(self) -> bool:
        return self.kind != INVALID and self.e164 is not None

    @classmethod
    def invalid(cls, dialled: str, why: str) -> NumberInfo:
        return cls(dialled=dialled, e164=None, country=None, kind=INVALID, label=why)
