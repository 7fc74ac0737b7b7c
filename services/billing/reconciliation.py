"""Three-way reconciliation: a file's lines (reconciliation_formats) against the ledger's
balance movements. No I/O; dicts, not nested loops (100,000 lines in well under a second).

What is compared (the caller chooses the movements in scope):
- a processor file (`source: processor`): the merchant's balance movements of the file's
  rail and mode, created in the file's date range: payments (+), refunds, fees, payouts
  and payout fees (-), signed as the file shows them (a credit is +). Tolerance 0 days.
- a bank statement (`source: bank`): the merchant's payouts paid to its account in the
  range (a credit each), and the paid ones that came back (a debit each). Tolerance 3 days.

Each line gets one outcome:
    matched              a movement with one of its references and its type class, the
                         same signed amount and currency, on the same day (± tolerance)
    amount_mismatch      found, but the amount, direction or currency differs (this
                         wins when the day differs too; the exception shows both)
    date_mismatch        found, same amount, booked on another day than the movement's
                         (created_at for the processor, paid_at for the bank)
    missing_from_ledger  no movement has any of its references
and each movement in scope that no line took is `missing_from_file`. Payments match by
trace, rail reference (or payment id), refunds and fees by their payment's and their type,
payouts (and payout fees) by payout id or the rail's payout reference. A movement is
taken by one line at most: a line repeated in a file is missing from the ledger the
second time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal, get_args

from services.billing.reconciliation_formats import FileLine

Source = Literal["processor", "bank"]
SOURCES: tuple[str, ...] = get_args(Source)
MovementType = Literal["payment", "fee", "refund", "payout", "payout_fee", "payout_return"]
Outcome = Literal["matched", "missing_from_ledger", "amount_mismatch", "date_mismatch",
                  "missing_from_file"]
OUTCOMES: tuple[str, ...] = ("matched", "missing_from_ledger", "missing_from_file",
                             "amount_mismatch", "date_mismatch")
EXCEPTION_KINDS: tuple[str, ...] = OUTCOMES[1:]
TOLERANCE_DAYS: dict[str, int] = {"processor": 0, "bank": 3}

# Which movements a line of each kind may be: a type class per movement type.
_CLASS_OF: dict[str, str] = {"payment": "payment", "refund": "refund", "fee": "fee",
                             "payout_fee": "fee", "payout": "payout",
                             "payout_return": "payout"}
_CLASSES_OF_KIND: dict[str, tuple[str, ...]] = {
    "payment": ("payment",), "refund": ("refund",), "fee": ("fee",),
    "payout": ("payout",), "other": ("payment", "refund", "fee", "payout")}


@dataclass(frozen=True, slots=True)
class Movement:
    """A movement the file should show: a balance transaction (processor) or a payout
    reaching or leaving the bank account (bank). `amount` is signed as the file shows it:
    positive is a credit to the merchant (processor) or to its account (bank)."""
    movement_id: str  # btx_... (processor) or po_... (bank)
    type: MovementType
    source_id: str  # pay_... or po_...
    amount: int
    currency: str
    day: date  # UTC day of created_at (processor) or paid_at / failed_at (bank)
    trace: str | None = None
    rail_reference: str | None = None
    rail: str | None = None
    description: str = ""

    @property
    def references(self) -> tuple[str, ...]:
        return tuple(r for r in (self.source_id, self.trace, self.rail_reference) if r)

    @property
    def key(self) -> tuple[str, str]:
        return self.movement_id, self.type


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One exception of an import: a line without its movement, or a movement without
    its line. Amounts are signed as in Movement."""
    kind: Outcome
    line_number: int | None
    references: tuple[str, ...]
    currency: str
    file_amount: int | None
    ledger_amount: int | None
    file_date: date | None
    ledger_date: date | None
    movement_id: str | None
    movement_type: str | None
    description: str


@dataclass(frozen=True)
class Totals:
    credits: int = 0
    debits: int = 0


@dataclass(frozen=True)
class Result:
    line_count: int
    period_start: date
    period_end: date
    counts: dict[str, int]
    discrepancies: list[Discrepancy]
    # Per currency, what the file moved (minor units): credits and debits.
    totals: dict[str, Totals] = field(default_factory=dict)


def period(lines: Sequence[FileLine]) -> tuple[date, date]:
    """The days the file covers: its first and last line's."""
    if not lines:
        raise ValueError("a file without lines has no period")
    days = [line.date for line in lines]
    return min(days), max(days)


class _Index:
    """Movements by type class and reference, each taken once. One dict per class,
    holding a movement's position (or a list, for a reference several share): 100,000
    movements of three references each are 300,000 entries, not 300,000 keys and lists."""

    def __init__(self, movements: Iterable[Movement]):
        self.movements: list[Movement] = list(movements)
        self.taken = bytearray(len(self.movements))
        self.by_class: dict[str, dict[str, int | list[int]]] = {}
        for i, m in enumerate(self.movements):
            refs = self.by_class.setdefault(_CLASS_OF[m.type], {})
            for ref in m.references:
                seen = refs.get(ref)
                if seen is None:
                    refs[ref] = i
                elif isinstance(seen, list):
                    seen.append(i)
                else:
                    refs[ref] = [seen, i]

    def _at(self, cls: str, ref: str) -> tuple[int, ...] | list[int]:
        found = self.by_class.get(cls, {}).get(ref)
        if found is None:
            return ()
        return found if isinstance(found, list) else (found,)

    def knows(self, line: FileLine) -> bool:
        return any(self._at(cls, ref) for cls in _CLASSES_OF_KIND[line.kind]
                   for ref in line.references)

    def take(self, line: FileLine, tolerance: int) -> tuple[int, int] | None:
        """The best free movement for `line` and its score (2: amount agrees, +1: the
        day does), marked taken; None when no free movement has its references."""
        best, best_score = -1, -1
        signed = line.signed
        for cls in _CLASSES_OF_KIND[line.kind]:
            for ref in line.references:
                for i in self._at(cls, ref):
                    if self.taken[i]:
                        continue
                    m = self.movements[i]
                    score = (2 if m.amount == signed and m.currency == line.currency else 0) \
                        + (1 if abs((line.date - m.day).days) <= tolerance else 0)
                    if score > best_score:
                        best, best_score = i, score
                        if score == 3:
                            self.taken[i] = 1
                            return i, score
        if best < 0:
            return None
        self.taken[best] = 1
        return best, best_score


def unknown_references(lines: Sequence[FileLine], movements: Iterable[Movement]) -> set[str]:
    """The references of the lines that no movement in scope has: what to look for out
    of scope (a movement booked on a day outside the file's range)."""
    index = _Index(movements)
    return {ref for line in lines if not index.knows(line) for ref in line.references}


def reconcile(lines: Sequence[FileLine], movements: Iterable[Movement], *,
              source: str, nearby: Iterable[Movement] = ()) -> Result:
    """Match `lines` to `movements` (in scope: unmatched ones are missing from the file)
    and to `nearby` ones (the same merchant's, outside the file's range: a line may find
    its movement there, as a date mismatch, but they are never missing from the file)."""
    start, end = period(lines)
    tolerance = TOLERANCE_DAYS[source]
    in_scope = list(movements)
    seen = {m.key for m in in_scope}
    index = _Index(in_scope + [m for m in nearby if m.key not in seen])
    counts: Counter[str] = Counter({o: 0 for o in OUTCOMES})
    found: list[Discrepancy] = []
    credits: Counter[str] = Counter()
    debits: Counter[str] = Counter()
    for line in lines:
        (credits if line.direction == "credit" else debits)[line.currency] += line.amount
        hit = index.take(line, tolerance)
        if hit is not None and hit[1] == 3:
            counts["matched"] += 1
            continue
        if hit is None:
            kind: Outcome = "missing_from_ledger"
            m = None
        else:
            m = index.movements[hit[0]]
            kind = "date_mismatch" if hit[1] == 2 else "amount_mismatch"
        counts[kind] += 1
        found.append(Discrepancy(
            kind, line.line_number, line.references, line.currency, line.signed,
            m.amount if m else None, line.date, m.day if m else None,
            m.movement_id if m else None, m.type if m else None,
            line.description or (m.description if m else "")))
    for i in range(len(in_scope)):
        if not index.taken[i]:
            m = in_scope[i]
            counts["missing_from_file"] += 1
            found.append(Discrepancy(
                "missing_from_file", None, m.references, m.currency, None, m.amount, None,
                m.day, m.movement_id, m.type, m.description))
    totals = {c: Totals(credits[c], debits[c]) for c in sorted(credits.keys() | debits.keys())}
    return Result(len(lines), start, end, dict(counts), found, totals)
