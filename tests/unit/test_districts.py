"""Tests for the Bangkok district data, the zone files and district search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.data import districts as districts_module
from bot.data.districts import (
    DISTRICTS_FILE,
    DataFileError,
    District,
    Geography,
    Zone,
    load_geography,
    search_districts,
)

ZONE_3 = ("1033", "1047", "1032", "1009", "1039", "1034")
ZONE_4 = ("1043", "1006", "1038", "1027", "1045")


@pytest.fixture(scope="module")
def geo() -> Geography:
    """The shipped geography, loaded once for the whole module."""
    return load_geography()


def codes(districts: list[District] | tuple[District, ...]) -> list[str]:
    """Return the codes of districts, in order."""
    return [d.code for d in districts]


def write(tmp_path: Path, text: str, name: str = "zones.toml") -> Path:
    """Write a deployment zone file and return its path."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped districts file --------------------------------------------------------------


def test_districts_file_has_all_50_codes_in_order() -> None:
    rows = json.loads(DISTRICTS_FILE.read_text(encoding="utf-8"))
    assert [row["code"] for row in rows] == [str(code) for code in range(1001, 1051)]


def test_districts_file_rows_are_clean() -> None:
    rows = json.loads(DISTRICTS_FILE.read_text(encoding="utf-8"))
    assert all(set(row) == {"code", "name_th", "name_en"} for row in rows)
    assert not [row for row in rows if row["name_th"].startswith("เขต")]
    assert len({row["name_th"] for row in rows}) == 50
    assert len({row["name_en"] for row in rows}) == 50


@pytest.mark.parametrize(
    ("code", "name_th", "name_en"),
    [
        ("1001", "พระนคร", "Phra Nakhon"),
        ("1008", "ป้อมปราบศัตรูพ่าย", "Pom Prap Sattru Phai"),
        ("1024", "ราษฎร์บูรณะ", "Rat Burana"),
        ("1030", "จตุจักร", "Chatuchak"),
        ("1033", "คลองเตย", "Khlong Toei"),
        ("1045", "วังทองหลาง", "Wang Thonglang"),
        ("1050", "บางบอน", "Bang Bon"),
    ],
)
def test_known_districts(geo: Geography, code: str, name_th: str, name_en: str) -> None:
    district = geo.district(code)
    assert district is not None
    assert (district.name_th, district.name_en) == (name_th, name_en)


# --- the shipped zones -----------------------------------------------------------------------


def test_shipped_zones(geo: Geography) -> None:
    assert [z.number for z in geo.zones] == [3, 4]
    assert codes(geo.districts_in_zone(3)) == list(ZONE_3)
    assert codes(geo.districts_in_zone(4)) == list(ZONE_4)


@pytest.mark.parametrize(
    ("code", "zone"),
    [("1033", 3), ("1034", 3), ("1043", 4), ("1045", 4), ("1001", None), ("1050", None)],
)
def test_district_zone(geo: Geography, code: str, zone: int | None) -> None:
    district = geo.district(code)
    assert district is not None
    assert district.zone == zone


def test_unknown_lookups_return_nothing(geo: Geography) -> None:
    assert geo.district("9999") is None
    assert geo.zone(99) is None
    assert geo.districts_in_zone(99) == ()


@pytest.mark.parametrize(
    ("lang", "district_name", "zone_name"),
    [
        ("th", "คลองเตย", "โซน 3"),
        ("th-TH", "คลองเตย", "โซน 3"),
        ("th_TH", "คลองเตย", "โซน 3"),
        ("en", "Khlong Toei", "Zone 3"),
        ("my", "Khlong Toei", "Zone 3"),
        ("", "Khlong Toei", "Zone 3"),
    ],
)
def test_names_by_language(geo: Geography, lang: str, district_name: str, zone_name: str) -> None:
    district, zone = geo.district("1033"), geo.zone(3)
    assert district is not None
    assert zone is not None
    assert district.name(lang) == district_name
    assert zone.name(lang) == zone_name


# --- deployment zone files -------------------------------------------------------------------


def test_deployment_file_replaces_and_adds_zones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [zones.3]
        name_th = "โซน 3 ใหม่"
        name_en = "Zone 3 (new)"
        districts = ["1033", "1047"]

        [zones.7]
        name_th = "โซน 7"
        name_en = "Zone 7"
        districts = ["1032", "1001"]
        """,
    )
    geo = load_geography(zones_file=path)
    assert [z.number for z in geo.zones] == [3, 4, 7]
    assert geo.zone(3) == Zone(3, "โซน 3 ใหม่", "Zone 3 (new)", ("1033", "1047"))
    assert codes(geo.districts_in_zone(4)) == list(ZONE_4)
    zones_by_code = {d.code: d.zone for d in geo.districts}
    assert (zones_by_code["1032"], zones_by_code["1001"]) == (7, 7)
    assert zones_by_code["1039"] is None  # dropped from zone 3 by the new definition


def test_deployment_file_can_empty_a_shipped_zone(tmp_path: Path) -> None:
    geo = load_geography(
        zones_file=write(tmp_path, '[zones.4]\nname_th="4"\nname_en="4"\ndistricts=[]')
    )
    assert geo.districts_in_zone(4) == ()
    assert [d.zone for d in geo.districts if d.code in ZONE_4] == [None] * len(ZONE_4)
    assert codes(geo.districts_in_zone(3)) == list(ZONE_3)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[", "is not valid JSON"),
        ("{}", "must hold a non-empty JSON array"),
        ('[{"code": "1001", "name_th": "x"}]', "entry 1 must be an object with exactly"),
        ('[{"code": "101", "name_th": "x", "name_en": "x"}]', 'has code "101"'),
        ('[{"code": "1001", "name_th": "", "name_en": "x"}]', "empty or non-text value"),
        (
            '[{"code": "1001", "name_th": "x", "name_en": "x"},'
            ' {"code": "1001", "name_th": "y", "name_en": "y"}]',
            "lists code 1001 twice",
        ),
    ],
)
def test_bad_districts_file_is_refused_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, expected: str
) -> None:
    path = write(tmp_path, text, name="districts.json")
    monkeypatch.setattr(districts_module, "DISTRICTS_FILE", path)
    with pytest.raises(DataFileError) as caught:
        load_geography()
    message = str(caught.value)
    assert message.startswith(f"District file {path} ")
    assert expected in message
    assert message.endswith(".")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[zones.5\nname_th = 1", "is not valid TOML"),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistricts=["9999"]', 'unknown district "9999"'),
        (
            '[zones.5]\nname_th="5"\nname_en="5"\ndistricts=["1001"]\n'
            '[zones.6]\nname_th="6"\nname_en="6"\ndistricts=["1001"]',
            "puts district 1001 in zones 5 and 6; a district may belong to one zone only.",
        ),
        (
            '[zones.5]\nname_th="5"\nname_en="5"\ndistricts=["1033"]',
            "puts district 1033 in zone 5, but the shipped zones already have it in zone 3",
        ),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistricts=["1001", "1001"]', "1001 twice"),
        ('[zones.5]\nname_th="5"\ndistricts=["1001"]', "is missing name_en"),
        ('[zones.5]\nname_th="5"\nname_en=""\ndistricts=[]', "empty or non-text name_en"),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistrict=[]', "is missing districts"),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistricts=[]\ncolour="red"', '"colour"'),
        ('[zones.north]\nname_th="n"\nname_en="n"\ndistricts=[]', 'names a zone "north"'),
        ('[zones.0]\nname_th="n"\nname_en="n"\ndistricts=[]', 'names a zone "0"'),
        (
            '[zones.5]\nname_th="5"\nname_en="5"\ndistricts=[]\n'
            '[zones.05]\nname_th="5"\nname_en="5"\ndistricts=[]',
            "defines zone 5 twice",
        ),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistricts=[1033]', "1033, which is not text"),
        ('[zones.5]\nname_th="5"\nname_en="5"\ndistricts="1033"', "not a list"),
        ("[zones]\n5 = 1", "zone 5 is not a table"),
        ('[zone.5]\nname_th="5"', 'unexpected top-level entry "zone"'),
        ("", "defines no zones"),
    ],
)
def test_bad_zone_files_are_refused_in_one_sentence(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(DataFileError) as caught:
        load_geography(zones_file=path)
    message = str(caught.value)
    assert message.startswith(f"Zone file {path} ")
    assert expected in message
    assert message.endswith(".")
    assert "\n" not in message
    assert caught.value.path == path


def test_missing_zone_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(DataFileError, match="cannot be read") as caught:
        load_geography(zones_file=path)
    assert str(path) in str(caught.value)


def test_zone_file_that_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="cannot be read") as caught:
        load_geography(zones_file=tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_zone_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "zones.toml"
    path.write_bytes('[zones.5]\nname_th = "สาม"\n'.encode("tis-620"))  # an old Thai encoding
    with pytest.raises(DataFileError, match="is not UTF-8 text") as caught:
        load_geography(zones_file=path)
    assert str(path) in str(caught.value)


# --- search ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "คลองเตย",
        "เขตคลองเตย",
        "คลอง เตย",
        " เขต คลองเตย ",
        "คลองเตย\u200b",
        "khlong toei",
        "KHLONG TOEI",
        "Khlong-Toei",
        "Klong Toei",
        "klong toey",
        "toei",
        "1033",
        " 1033 ",
        "๑๐๓๓",
    ],
)
def test_search_finds_khlong_toei_first(geo: Geography, query: str) -> None:
    assert codes(search_districts(geo, query))[:1] == ["1033"]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("ห้วยขวาง", "1017"),
        ("หวยขวาง", "1017"),  # typed without the tone mark
        ("ดอนเมือง", "1036"),
        ("Sathorn", "1028"),
        ("Ladprao", "1038"),
        ("Jatujak", "1030"),
        ("Don Muang", "1036"),
        ("Wattana", "1039"),
        ("Pravet", "1032"),
        ("Din Dang", "1026"),
        ("Beung Kum", "1027"),
        ("Huay Kwang", "1017"),
        ("Phayathai", "1014"),
        ("Thonburi", "1015"),
        ("Bangkhuntien", "1021"),
        ("Taweewattana", "1048"),
        ("Bang Na", "1047"),
        ("bangbon", "1050"),
    ],
)
def test_search_spelling_variants(geo: Geography, query: str, code: str) -> None:
    assert codes(search_districts(geo, query))[:1] == [code]


def test_search_khlong_prefix_finds_all_three_khlong_districts(geo: Geography) -> None:
    assert codes(search_districts(geo, "khlong")) == ["1046", "1018", "1033"]
    assert codes(search_districts(geo, "klong")) == ["1046", "1018", "1033"]


def test_search_bang_returns_several_bang_districts_in_name_order(geo: Geography) -> None:
    found = search_districts(geo, "bang")
    assert len(found) == 8
    assert all(d.name_en.startswith("Bang") for d in found)
    assert [d.name_en for d in found] == sorted(d.name_en for d in found)


def test_search_thai_prefix_returns_several(geo: Geography) -> None:
    found = search_districts(geo, "บาง", limit=20)
    expected = {d.code for d in geo.districts if d.name_th.startswith("บาง")}
    assert len(expected) == 12
    assert set(codes(found)) == expected


def test_search_exact_match_comes_before_longer_names(geo: Geography) -> None:
    assert codes(search_districts(geo, "watthana")) == ["1039", "1048"]
    assert codes(search_districts(geo, "วัฒนา")) == ["1039", "1048"]


def test_search_prefix_comes_before_substring(geo: Geography) -> None:
    found = search_districts(geo, "lat")
    assert codes(found)[:2] == ["1011", "1038"]  # Lat Krabang, Lat Phrao start with "lat"


@pytest.mark.parametrize("limit", [0, 1, 3])
def test_search_respects_limit(geo: Geography, limit: int) -> None:
    assert len(search_districts(geo, "bang", limit=limit)) == limit


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "b",
        "B ",
        "ก",
        "เขต",
        "😀",
        "🏳️‍🌈🏳️‍🌈",
        "'; DROP TABLE person;--",
        "%' OR '1'='1",
        "<script>alert(1)</script>",
        "a" * 5000,
        "คลองเตย" * 1000,
        "1" * 5000,
        "9999",
        "12345",
        "\x00\x01",
        "\ud800",
        "xyzzy",
        "Бангкок",
    ],
)
def test_search_garbage_returns_nothing(geo: Geography, query: str) -> None:
    assert search_districts(geo, query) == []


@settings(max_examples=300, database=None, deadline=None)
@given(query=st.text(max_size=200))
def test_search_never_raises(geo: Geography, query: str) -> None:
    found = search_districts(geo, query, limit=5)
    assert len(found) <= 5
    assert all(isinstance(d, District) for d in found)
