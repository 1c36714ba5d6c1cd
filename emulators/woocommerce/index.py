"""Sorted (timestamp, id) keys so date filters and date ordering bisect instead of scanning."""
from __future__ import annotations

from bisect import bisect_left, bisect_right, insort


class SortedIndex:
    __slots__ = ("keys",)

    def __init__(self) -> None:
        self.keys: list[tuple[int, int]] = []

    def add(self, ts: int, rec_id: int) -> None:
        insort(self.keys, (ts, rec_id))

    def remove(self, ts: int, rec_id: int) -> None:
        i = bisect_left(self.keys, (ts, rec_id))
        if i < len(self.keys) and self.keys[i] == (ts, rec_id):
            del self.keys[i]

    def move(self, old_ts: int, new_ts: int, rec_id: int) -> None:
        if old_ts != new_ts:
            self.remove(old_ts, rec_id)
            self.add(new_ts, rec_id)

    def bulk_load(self, pairs: list[tuple[int, int]]) -> None:
        self.keys.extend(pairs)
        self.keys.sort()

    def range_ids(self, after: int | None, before: int | None) -> list[int]:
        """Ids with after < ts < before (strict, None = unbounded), ascending by (ts, id)."""
        lo = 0 if after is None else bisect_right(self.keys, (after, 1 << 62))
        hi = len(self.keys) if before is None else bisect_left(self.keys, (before, -1))
        return [k[1] for k in self.keys[lo:hi]]

    def clear(self) -> None:
        self.keys.clear()
