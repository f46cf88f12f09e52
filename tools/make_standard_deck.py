"""Write ``src/callcredit/data/decks/standard.csv``, the sample deck shipped
with callcredit: one prefix for every country calling code ``phonenumbers``
knows, mobile prefixes where a prefix identifies mobiles, and the French
special ranges. Prices are realistic samples in EUR per minute, not a tariff.

    python tools/make_standard_deck.py
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import phonenumbers
from babel import Locale

OUT = Path(__file__).resolve().parents[1] / "src/callcredit/data/decks/standard.csv"

# Per-minute price of a landline by world numbering zone (first digit).
ZONE = {"1": "0.0200", "2": "0.3500", "3": "0.0600", "4": "0.0600", "5": "0.1500",
        "6": "0.2500", "7": "0.1500", "8": "0.1000", "9": "0.2500"}  # fmt: skip

# region: (landline, mobile, mobile prefixes after the country code)
COUNTRIES: dict[str, tuple[str, str, str]] = {
    "FR": ("0.0200", "0.0500", "6 7"),
    "GB": ("0.0450", "0.1500", "7"),
    "DE": ("0.0300", "0.1200", "15 16 17"),
    "ES": ("0.0300", "0.0900", "6 71 72 73 74"),
    "IT": ("0.0300", "0.1100", "3"),
    "BE": ("0.0350", "0.1400", "45 46 47 48 49"),
    "NL": ("0.0350", "0.1300", "6"),
    "PT": ("0.0350", "0.0900", "9"),
    "CH": ("0.0400", "0.2500", "75 76 77 78 79"),
    "AT": ("0.0350", "0.1500", "650 660 664 676 677 678 680 681 688 699"),
    "IE": ("0.0350", "0.1200", "8"),
    "LU": ("0.0350", "0.1000", "6"),
    "DK": ("0.0350", "0.0900", "2 30 31 40 41 42 50 51 52 53 60 61 71 81 91 92 93"),
    "PL": ("0.0400", "0.0800", "45 50 51 53 57 60 66 69 72 73 78 79 88"),
    "SE": ("0.0300", "0.0800", "70 72 73 76 79"),
    "NO": ("0.0350", "0.0900", "4 9"),
    "FI": ("0.0600", "0.1800", "4 50"),
    "IS": ("0.0800", "0.1600", "6 7"),
    "GR": ("0.0400", "0.1000", "69"),
    "CZ": ("0.0400", "0.1000", "60 72 73 77 79"),
    "SK": ("0.0400", "0.1200", "90 91 94 95"),
    "HU": ("0.0400", "0.1200", "20 30 50 70"),
    "RO": ("0.0500", "0.1000", "7"),
    "BG": ("0.0600", "0.1600", "87 88 89"),
    "HR": ("0.0600", "0.1800", "9"),
    "SI": ("0.0600", "0.2200", "30 31 40 41 51 64 68 69 70 71"),
    "RS": ("0.1200", "0.2800", "6"),
    "LT": ("0.0800", "0.1500", "6"),
    "LV": ("0.0800", "0.1500", "2"),
    "EE": ("0.0800", "0.1500", "5"),
    "CY": ("0.0500", "0.0800", "9"),
    "UA": ("0.1500", "0.2500", "50 63 66 67 68 73 91 92 93 94 95 96 97 98 99"),
    "TR": ("0.1200", "0.2200", "5"),
    "RU": ("0.1500", "0.2500", "9"),
    "IL": ("0.0400", "0.1000", "5"),
    "AE": ("0.2000", "0.2600", "5"),
    "SA": ("0.1800", "0.2200", "5"),
    "MA": ("0.3000", "0.6000", "6 7"),
    "DZ": ("0.1500", "0.6000", "5 6 7"),
    "EG": ("0.1500", "0.2000", "10 11 12 15"),
    "ZA": ("0.1000", "0.2200", "6 7 81 82 83 84"),
    "NG": ("0.1800", "0.2000", "70 80 81 90 91"),
    "KE": ("0.1500", "0.1800", "7"),
    "IN": ("0.0800", "0.0800", "9"),
    "PK": ("0.1200", "0.1200", "3"),
    "CN": ("0.0400", "0.0400", "13 14 15 16 17 18 19"),
    "HK": ("0.0400", "0.0400", "5 6 9"),
    "JP": ("0.0700", "0.1800", "70 80 90"),
    "KR": ("0.0500", "0.0900", "10"),
    "SG": ("0.0400", "0.0400", "8 9"),
    "MY": ("0.0500", "0.0700", "1"),
    "TH": ("0.0600", "0.0600", "8 9"),
    "VN": ("0.1000", "0.1100", "3 5 7 8 9"),
    "PH": ("0.1800", "0.2200", "9"),
    "ID": ("0.0900", "0.1200", "8"),
    "AU": ("0.0500", "0.1500", "4"),
    "NZ": ("0.0600", "0.2000", "2"),
    "US": ("0.0200", "0.0200", ""),
    "KZ": ("0.1200", "0.1200", ""),
    "CU": ("0.9000", "0.9000", ""),
    "SO": ("1.2000", "1.2000", ""),
    "KP": ("1.2000", "1.2000", ""),
    "FK": ("1.0000", "1.0000", ""),
    "SH": ("1.5000", "1.5000", ""),
    "AC": ("2.0000", "2.0000", ""),
    "IO": ("2.0000", "2.0000", ""),
    "TK": ("1.5000", "1.5000", ""),
    "NU": ("1.5000", "1.5000", ""),
    "CK": ("1.5000", "1.5000", ""),
    "NF": ("1.5000", "1.5000", ""),
}
# Non-geographic codes (region "001"): description, per minute, connect fee.
NON_GEOGRAPHIC = {
    800: ("International Freephone", "0.5000", "0"),
    808: ("International Shared Cost", "0.5000", "0"),
    870: ("Inmarsat", "6.5000", "0.5000"),
    878: ("Universal Personal Telecommunications", "1.0000", "0"),
    881: ("Global Mobile Satellite System", "5.0000", "0.5000"),
    882: ("International Networks", "3.5000", "0.2500"),
    883: ("International Networks", "1.5000", "0"),
    888: ("United Nations OCHA", "0.5000", "0"),
    979: ("International Premium Rate", "2.5000", "0.5000"),
}
NANP_TERRITORY = {"PR": "0.0300", "VI": "0.0300", "GU": "0.0300", "MP": "0.0500", "AS": "0.1500"}
NANP_CARIBBEAN = "0.2500"
# Country-code numbers that need a rate of their own: (prefix, description,
# per minute, connect fee, increment).
SPECIAL = [
    ("+3380", "France toll-free 080", "0.0000", "0", "60/60"),
    ("+3381", "France shared-cost 081", "0.0600", "0", "60/60"),
    ("+3382", "France shared-cost 082", "0.1200", "0", "60/60"),
    ("+3389", "France premium-rate 089", "0.8000", "0.1500", "1/1"),
    ("+33118", "France directory enquiries 118", "0.9900", "2.9900", "60/60"),
    ("+449", "United Kingdom premium-rate 09", "1.5000", "0", "60/60"),
    ("+77", "Kazakhstan", "0.1200", "0", "60/60"),
]


def rows() -> list[tuple[str, str, str, str, str]]:
    names = Locale.parse("en").territories
    out: list[tuple[str, str, str, str, str]] = []
    for code, regions in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()):
        main = regions[0]
        if main == "001":
            description, per_minute, connect = NON_GEOGRAPHIC[code]
            out.append((f"+{code}", description, per_minute, connect, "60/60"))
            continue
        fixed, mobile, mobile_prefixes = COUNTRIES.get(main, (ZONE[str(code)[0]], "", ""))
        description = {1: "United States and Canada", 7: "Russia"}.get(code, names[main])
        increment = "30/6" if code == 1 else "60/60"
        out.append((f"+{code}", description, fixed, "0", increment))
        for digits in mobile_prefixes.split():
            out.append((f"+{code}{digits}", f"{description} mobile", mobile, "0", increment))
        if code == 1:
            out.extend(nanp(regions[1:], names))
    out.extend(SPECIAL)
    return sorted(out, key=lambda row: row[0])


def nanp(regions: tuple[str, ...], names: dict[str, str]) -> list[tuple[str, str, str, str, str]]:
    """The other NANP members, by the area codes phonenumbers gives them."""
    out = []
    for region in regions:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None or metadata.leading_digits is None:
            continue
        price = NANP_TERRITORY.get(region, NANP_CARIBBEAN)
        for area in expand(metadata.leading_digits):
            out.append((f"+1{area}", names[region], price, "0", "60/60"))
    return out


def expand(pattern: str) -> list[str]:
    """Expand ``"787|939"`` or ``"8[024]9"`` into area codes; a four-digit
    alternative (a service range such as ``8001``) is left out."""
    areas: list[str] = []
    for alternative in pattern.split("|"):
        prefixes = [""]
        rest = alternative
        while rest:
            if rest[0] == "[":
                chars, rest = rest[1 : rest.index("]")], rest[rest.index("]") + 1 :]
            else:
                chars, rest = rest[0], rest[1:]
            prefixes = [p + c for p in prefixes for c in chars]
        areas.extend(p for p in prefixes if len(p) == 3)
    return areas


def main() -> None:
    table = rows()
    prefixes = [row[0] for row in table]
    if len(set(prefixes)) != len(prefixes):
        sys.exit("duplicate prefixes")
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["prefix", "description", "per_minute", "connect_fee", "increment"])
        writer.writerows(table)
    print(f"{OUT}: {len(table)} rates")


if __name__ == "__main__":
    main()
