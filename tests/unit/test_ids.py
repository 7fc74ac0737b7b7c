"""Time-ordered record ids and version 7 UUIDs (shared/ids.py)."""

import re
import uuid
from datetime import UTC, datetime

import pytest

from services.checkout import domain
from shared import ids

MS = int(datetime(2026, 12, 7, tzinfo=UTC).timestamp() * 1000)


def _at(monkeypatch: pytest.MonkeyPatch, ms: int) -> None:
    monkeypatch.setattr(ids, "_now_ms", lambda: ms)


def test_a_payment_id_keeps_its_shape_and_says_its_millisecond(monkeypatch):
    _at(monkeypatch, MS)
    made = domain.new_payment_id()
    assert re.fullmatch(r"pay_[0-9A-Za-z]{24}", made)
    clock = 0
    for char in made[4:12]:
        clock = clock * 62 + ids.SORTED62.index(char)
    assert clock == MS


def test_ids_made_later_sort_later_in_byte_order(monkeypatch):
    made = []
    for ms in (MS, MS + 1, MS + 61, MS + 62, MS + 3_600_000, MS + 86_400_000 * 365):
        _at(monkeypatch, ms)
        made.append((ids.record_id(24), ids.uuid7()))
    assert [m[0] for m in made] == sorted(m[0] for m in made)
    assert [m[1] for m in made] == sorted(m[1] for m in made)


def test_the_random_part_differs_within_a_millisecond(monkeypatch):
    _at(monkeypatch, MS)
    many = {ids.record_id(24) for _ in range(1000)}
    assert len(many) == 1000
    assert len({m[:8] for m in many}) == 1


def test_uuid7_is_a_version_7_rfc_uuid_of_its_millisecond(monkeypatch):
    _at(monkeypatch, MS)
    made = ids.uuid7()
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert made.int >> 80 == MS
    assert len({ids.uuid7() for _ in range(1000)}) == 1000
