"""Bangkok districts and volunteer zones: loading the data files and searching districts."""

from __future__ import annotations

import json
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

DATA_DIR = Path(__file__).resolve().parent
DISTRICTS_FILE = DATA_DIR / "bangkok_districts.json"
ZONES_FILE = DATA_DIR / "zones.toml"

_CODE_RE = re.compile(r"[0-9]{4}")
_ZONE_NUMBER_RE = re.compile(r"[0-9]{1,6}")
_ZONE_KEYS = frozenset({"name_th", "name_en", "districts"})
_DISTRICT_KEYS = frozenset({"code", "name_th", "name_en"})


def _is_thai(lang: str) -> bool:
    """Tell whether a language tag such as "th", "th-TH" or "th_TH" means Thai."""
    return lang.strip().lower().replace("_", "-").split("-")[0] == "th"


@dataclass(frozen=True, slots=True)
class District:
    """One of Bangkok's 50 districts (เขต), with the zone it belongs to, if any."""

    code: str
    name_th: str
    name_en: str
    zone: int | None

    def name(self, lang: str) -> str:
        """Return the name for a language tag: Thai for "th*", English otherwise."""
        return self.name_th if _is_thai(lang) else self.name_en


@dataclass(frozen=True, slots=True)
class Zone:
    """A numbered group of districts in the volunteer network."""

    number: int
    name_th: str
    name_en: str
    district_codes: tuple[str, ...]

    def name(self, lang: str) -> str:
        """Return the name for a language tag: Thai for "th*", English otherwise."""
        return self.name_th if _is_thai(lang) else self.name_en


class DataFileError(Exception):
    """A data file is unreadable or wrong; the message is one sentence saying how to fix it."""

    def __init__(self, message: str, *, path: Path) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Geography:
    """All districts and zones, with lookups by district code and zone number."""

    districts: tuple[District, ...]
    zones: tuple[Zone, ...]
    _by_code: dict[str, District] = field(init=False, repr=False, compare=False)
    _by_number: dict[int, Zone] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A frozen dataclass only lets its derived indexes be filled in this way.
        object.__setattr__(self, "_by_code", {d.code: d for d in self.districts})
        object.__setattr__(self, "_by_number", {z.number: z for z in self.zones})

    def district(self, code: str) -> District | None:
        """Return the district with this official code, or None."""
        return self._by_code.get(code)

    def zone(self, number: int) -> Zone | None:
        """Return the zone with this number, or None."""
        return self._by_number.get(number)

    def districts_in_zone(self, number: int) -> tuple[District, ...]:
        """Return the zone's districts in the order its file lists them; () for no such zone."""
        zone = self._by_number.get(number)
        if zone is None:
            return ()
        return tuple(self._by_code[code] for code in zone.district_codes if code in self._by_code)


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


class _RawDistrict(NamedTuple):
    """A district as read from the file, before zones are known."""

    code: str
    name_th: str
    name_en: str


class _Placed(NamedTuple):
    """A zone together with the file it came from, for error messages."""

    zone: Zone
    path: Path


def load_geography(*, zones_file: Path | None = None) -> Geography:
    """Load the shipped districts and zones, letting a deployment's zone file override zones."""
    raw_districts = _read_districts(DISTRICTS_FILE)
    known = frozenset(d.code for d in raw_districts)
    placed = {z.number: _Placed(z, ZONES_FILE) for z in _read_zones(ZONES_FILE, known)}
    deployment = None if zones_file is None else Path(zones_file)
    if deployment is not None:
        # A deployment's zone replaces the shipped zone with the same number as a whole.
        placed.update({z.number: _Placed(z, deployment) for z in _read_zones(deployment, known)})
    zone_of = _zone_of_each_district(placed, deployment_file=deployment)
    districts = tuple(
        District(code=d.code, name_th=d.name_th, name_en=d.name_en, zone=zone_of.get(d.code))
        for d in raw_districts
    )
    zones = tuple(placed[number].zone for number in sorted(placed))
    return Geography(districts=districts, zones=zones)


def _read_text(path: Path, *, what: str, fix_unreadable: str) -> str:
    """Read a UTF-8 data file, turning every failure into a DataFileError."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise DataFileError(
            f"{what} {path} cannot be read ({problem}); {fix_unreadable}.", path=path
        ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{what} {path} is not UTF-8 text; save it with UTF-8 encoding.", path=path
        ) from exc


def _read_districts(path: Path) -> tuple[_RawDistrict, ...]:
    """Read and check the districts JSON file."""
    text = _read_text(path, what="District file", fix_unreadable="reinstall the bot package")
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(
            f"District file {path} is not valid JSON ({exc.msg} at line {exc.lineno}); "
            "fix the syntax there.",
            path=path,
        ) from exc
    if not isinstance(data, list) or not data:
        raise DataFileError(
            f"District file {path} must hold a non-empty JSON array of districts; "
            'write it as [{"code": "1001", "name_th": "...", "name_en": "..."}, ...].',
            path=path,
        )
    districts = tuple(_parse_district(path, index, item) for index, item in enumerate(data))
    seen: set[str] = set()
    for district in districts:
        if district.code in seen:
            raise DataFileError(
                f"District file {path} lists code {district.code} twice; "
                "keep one entry per district.",
                path=path,
            )
        seen.add(district.code)
    return districts


def _parse_district(path: Path, index: int, item: Any) -> _RawDistrict:
    """Check one entry of the districts file."""
    where = f"District file {path} entry {index + 1}"
    if not isinstance(item, dict) or set(item) != _DISTRICT_KEYS:
        raise DataFileError(
            f"{where} must be an object with exactly the keys code, name_th and name_en; "
            "fix that entry.",
            path=path,
        )
    values = [item["code"], item["name_th"], item["name_en"]]
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise DataFileError(
            f"{where} has an empty or non-text value; give code, name_th and name_en as text.",
            path=path,
        )
    code, name_th, name_en = (str(v).strip() for v in values)
    if not _CODE_RE.fullmatch(code):
        raise DataFileError(
            f'{where} has code "{code}"; codes are the 4-digit official geocodes like "1033".',
            path=path,
        )
    return _RawDistrict(code, name_th, name_en)


def _read_zones(path: Path, known: frozenset[str]) -> list[Zone]:
    """Read and check one zone file (the shipped one or a deployment's)."""
    text = _read_text(
        path,
        what="Zone file",
        fix_unreadable="check the path given as [bot] zones_file in the config",
    )
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        detail = str(exc)
        detail = detail[:1].lower() + detail[1:]
        raise DataFileError(
            f"Zone file {path} is not valid TOML ({detail}); fix the syntax there.", path=path
        ) from exc
    extra = sorted(set(data) - {"zones"})
    if extra:
        raise DataFileError(
            f'Zone file {path} has an unexpected top-level entry "{extra[0]}"; '
            "put every zone in a [zones.N] table.",
            path=path,
        )
    tables = data.get("zones")
    if not isinstance(tables, dict) or not tables:
        raise DataFileError(
            f"Zone file {path} defines no zones; add at least one [zones.N] table.", path=path
        )
    zones: dict[int, Zone] = {}
    for key, body in tables.items():
        number = _zone_number(path, key)
        if number in zones:
            raise DataFileError(
                f"Zone file {path} defines zone {number} twice; keep one [zones.{number}] table.",
                path=path,
            )
        zones[number] = _parse_zone(path, number, body, known)
    return list(zones.values())


def _zone_number(path: Path, key: str) -> int:
    """Turn a [zones.N] key into a zone number."""
    if not _ZONE_NUMBER_RE.fullmatch(key) or int(key) == 0:
        raise DataFileError(
            f'Zone file {path} names a zone "{key}"; zone numbers must be whole numbers '
            "from 1 up, as in [zones.3].",
            path=path,
        )
    return int(key)


def _parse_zone(path: Path, number: int, body: Any, known: frozenset[str]) -> Zone:
    """Check one [zones.N] table."""
    where = f"Zone file {path} zone {number}"
    if not isinstance(body, dict):
        raise DataFileError(
            f"{where} is not a table; write it as [zones.{number}] with name_th, name_en "
            "and districts.",
            path=path,
        )
    missing = sorted(_ZONE_KEYS - set(body))
    if missing:
        raise DataFileError(f"{where} is missing {missing[0]}; add it.", path=path)
    extra = sorted(set(body) - _ZONE_KEYS)
    if extra:
        raise DataFileError(
            f'{where} has an unexpected key "{extra[0]}"; '
            "only name_th, name_en and districts are allowed.",
            path=path,
        )
    for key in ("name_th", "name_en"):
        if not isinstance(body[key], str) or not body[key].strip():
            raise DataFileError(f"{where} has an empty or non-text {key}; set it.", path=path)
    codes = _zone_codes(where, path, body["districts"], known)
    return Zone(number, body["name_th"].strip(), body["name_en"].strip(), codes)


def _zone_codes(where: str, path: Path, value: Any, known: frozenset[str]) -> tuple[str, ...]:
    """Check a zone's districts list."""
    if not isinstance(value, list):
        raise DataFileError(
            f'{where} has districts that are not a list; write districts = ["1033", ...].',
            path=path,
        )
    codes: list[str] = []
    for code in value:
        if not isinstance(code, str):
            raise DataFileError(
                f"{where} lists {code!r}, which is not text; "
                'write district codes in quotes like "1033".',
                path=path,
            )
        if code not in known:
            raise DataFileError(
                f'{where} lists unknown district "{code}"; use an official code '
                f"from {DISTRICTS_FILE.name}.",
                path=path,
            )
        if code in codes:
            raise DataFileError(
                f"{where} lists district {code} twice; remove the repeat.", path=path
            )
        codes.append(code)
    return tuple(codes)


def _zone_of_each_district(
    placed: dict[int, _Placed], *, deployment_file: Path | None
) -> dict[str, int]:
    """Map each district code to its zone, refusing a district that sits in two zones."""
    zone_of: dict[str, _Placed] = {}
    for number in sorted(placed):
        here = placed[number]
        for code in here.zone.district_codes:
            earlier = zone_of.get(code)
            if earlier is not None:
                raise _two_zones_error(code, earlier, here, deployment_file=deployment_file)
            zone_of[code] = here
    return {code: p.zone.number for code, p in zone_of.items()}


def _two_zones_error(
    code: str, first: _Placed, second: _Placed, *, deployment_file: Path | None
) -> DataFileError:
    """Describe a district found in two zones, naming the file that has to change."""
    a, b = first.zone.number, second.zone.number
    if first.path == second.path:
        return DataFileError(
            f"Zone file {first.path} puts district {code} in zones {a} and {b}; "
            "a district may belong to one zone only.",
            path=first.path,
        )
    # One zone is shipped and one comes from the deployment: the deployment file is what to edit.
    mine, shipped = (first, second) if first.path == deployment_file else (second, first)
    return DataFileError(
        f"Zone file {mine.path} puts district {code} in zone {mine.zone.number}, "
        f"but the shipped zones already have it in zone {shipped.zone.number}; "
        "a district may belong to one zone only, so remove it or redefine "
        f"[zones.{shipped.zone.number}] in {mine.path.name}.",
        path=mine.path,
    )


# ---------------------------------------------------------------------------------------------
# Searching
# ---------------------------------------------------------------------------------------------

# Longer than any district name with its prefix; anything longer is not a district name.
_MAX_QUERY_CHARS = 60
_MIN_QUERY_CHARS = 2
_THAI_DIGITS = str.maketrans("๐๑๒๓๔๕๖๗๘๙", "0123456789")
_THAI_PREFIX = "เขต"
# Thai letters, vowels and marks; excludes the baht sign, Thai digits and Thai punctuation.
_THAI_TEXT_RE = re.compile(r"[\u0e01-\u0e3a\u0e40-\u0e4e]")
# People often skip tone marks, mai taikhu and the silencer (thanthakhat) when typing fast.
_THAI_SKIPPABLE_MARKS = str.maketrans("", "", "\u0e47\u0e48\u0e49\u0e4a\u0e4b\u0e4c")
_THAI_LEADING_VOWELS = frozenset("เแโใไ")
_NON_LATIN_LETTER_RE = re.compile(r"[^a-z]")
# Common spelling variants of the same Thai sounds, applied in this order to both sides.
_LATIN_FOLDS = (
    ("kh", "k"),
    ("ph", "p"),
    ("th", "t"),
    ("ch", "c"),
    ("j", "c"),  # Jatujak / Chatuchak
    ("v", "w"),  # Pravet / Prawet
    ("y", "i"),  # Toey / Toei, Huay / Huai
    ("d", "t"),  # Lad Prao / Lat Phrao
    ("ee", "i"),  # Thawee / Thawi
    ("ue", "u"),  # Muang / Mueang, Bung / Bueng
    ("eu", "u"),  # Beung / Bueng
    ("ae", "a"),  # Din Dang / Din Daeng
    ("ie", "ia"),  # Thien / Thian
    ("ng", "n"),
)
# An "r" after a vowel and before a consonant is not pronounced: Sathorn / Sathon.
_SILENT_R_RE = re.compile(r"(?<=[aeiou])r(?![aeiou])")
_DOUBLED_RE = re.compile(r"(.)\1+")


class _Keys(NamedTuple):
    """Precomputed forms of a district's names used for matching and ordering."""

    th: str
    th_folded: str
    th_order: str
    en: str
    en_folded: str
    en_order: str


def search_districts(geo: Geography, query: str, *, limit: int = 8) -> list[District]:
    """Find districts by Thai or English name or by code, best matches first; [] if none."""
    text = query.strip()
    if limit <= 0 or not text or len(text) > _MAX_QUERY_CHARS:
        return []
    text = unicodedata.normalize("NFC", text).translate(_THAI_DIGITS)
    compact = "".join(text.split())
    if _CODE_RE.fullmatch(compact):
        found = geo.district(compact)
        return [found] if found is not None else []
    if _THAI_TEXT_RE.search(text):
        return _search_thai(geo.districts, text)[:limit]
    return _search_latin(geo.districts, text)[:limit]


def _search_thai(districts: tuple[District, ...], text: str) -> list[District]:
    """Rank districts against a Thai query."""
    plain = _thai_key(text)
    if plain.startswith(_THAI_PREFIX):
        plain = plain[len(_THAI_PREFIX) :]
    if len(plain) < _MIN_QUERY_CHARS:
        return []
    folded = plain.translate(_THAI_SKIPPABLE_MARKS)
    ranked: list[tuple[tuple[int, str, str], District]] = []
    for district in districts:
        keys = _keys(district)
        tier = _tier(keys.th, plain, keys.th_folded, folded)
        if tier is not None:
            ranked.append(((tier, keys.th_order, district.code), district))
    return _in_order(ranked)


def _search_latin(districts: tuple[District, ...], text: str) -> list[District]:
    """Rank districts against a query in Latin letters."""
    plain = _latin_key(text)
    if len(plain) < _MIN_QUERY_CHARS:
        return []
    folded = _fold_latin(plain)
    ranked: list[tuple[tuple[int, str, str], District]] = []
    for district in districts:
        keys = _keys(district)
        tier = _tier(keys.en, plain, keys.en_folded, folded)
        if tier is not None:
            ranked.append(((tier, keys.en_order, district.code), district))
    return _in_order(ranked)


def _in_order(ranked: list[tuple[tuple[int, str, str], District]]) -> list[District]:
    """Sort by tier, then by name, then by code, so equal names still come out the same way."""
    return [district for _, district in sorted(ranked, key=lambda item: item[0])]


def _tier(name: str, query: str, folded_name: str, folded_query: str) -> int | None:
    """Rank a match: 0-2 exact/prefix/substring as typed, 3-5 the same after folding."""
    tier = _plain_tier(name, query)
    if tier is not None:
        return tier
    if len(folded_query) < _MIN_QUERY_CHARS:
        # Folding can shrink a query ("or" -> "o") into something that matches everything.
        return None
    tier = _plain_tier(folded_name, folded_query)
    return None if tier is None else tier + 3


def _plain_tier(name: str, query: str) -> int | None:
    """Return 0 for an exact match, 1 for a prefix, 2 for a substring, None for no match."""
    if name == query:
        return 0
    if name.startswith(query):
        return 1
    if query in name:
        return 2
    return None


@lru_cache(maxsize=256)
def _keys(district: District) -> _Keys:
    """Compute (once per district) the forms its names are matched and ordered by."""
    th = _thai_key(district.name_th)
    en = _latin_key(district.name_en)
    return _Keys(
        th=th,
        th_folded=th.translate(_THAI_SKIPPABLE_MARKS),
        th_order=_thai_order(district.name_th),
        en=en,
        en_folded=_fold_latin(en),
        en_order=district.name_en.casefold(),
    )


def _thai_key(text: str) -> str:
    """Keep only Thai letters, vowels and marks, so spaces and stray symbols do not matter."""
    return "".join(_THAI_TEXT_RE.findall(unicodedata.normalize("NFC", text)))


def _thai_order(text: str) -> str:
    """Approximate Thai dictionary order, which sorts by the consonant after a leading vowel."""
    chars = list(text)
    i = 0
    while i < len(chars) - 1:
        if chars[i] in _THAI_LEADING_VOWELS:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            i += 2
        else:
            i += 1
    return "".join(chars)


def _latin_key(text: str) -> str:
    """Lower-case, drop accents, and keep only a-z so spaces, hyphens and case do not matter."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return _NON_LATIN_LETTER_RE.sub("", decomposed)


def _fold_latin(key: str) -> str:
    """Fold common romanisation variants of Thai together (kh/k, ph/p, th/t, aa/a, ...)."""
    for variant, canonical in _LATIN_FOLDS:
        key = key.replace(variant, canonical)
    key = _SILENT_R_RE.sub("", key)
    return _DOUBLED_RE.sub(r"\1", key)
