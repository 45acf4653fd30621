"""Haversine distances for location check-in."""

from __future__ import annotations

import math

import pytest

from bot.services.geo import distance_m, valid_point


def test_a_point_is_zero_metres_from_itself() -> None:
    assert distance_m(13.7563, 100.5018, 13.7563, 100.5018) == 0


def test_known_distances() -> None:
    # One degree of latitude is about 111.2 km everywhere.
    assert distance_m(13.0, 100.0, 14.0, 100.0) == pytest.approx(111_195, rel=1e-3)
    # Democracy Monument to the Grand Palace: about 1.3 km.
    assert distance_m(13.7567, 100.5018, 13.7500, 100.4913) == pytest.approx(1_360, rel=0.05)
    # Bangkok to Chiang Mai: about 585 km as the crow flies.
    assert distance_m(13.7563, 100.5018, 18.7883, 98.9853) == pytest.approx(585_000, rel=0.02)


def test_antipodes_do_not_overflow() -> None:
    assert distance_m(0, 0, 0, 180) == pytest.approx(math.pi * 6_371_008.8)


def test_valid_points() -> None:
    assert valid_point(13.75, 100.5)
    assert not valid_point(91, 0)
    assert not valid_point(0, 181)
    assert not valid_point(math.nan, 0)
