"""A per-student rate limit for the class poll: a token bucket per (room, student), in this process's memory.

Each replica of the lab keeps its own buckets, so behind N replicas a student could send up to N times the rate;
that still bounds what one browser can do, and needs no shared state. Ids are anonymous and free to make, so the
store also caps the number of students per room (`core.poll.store.MAX_STUDENTS_PER_ROOM`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

from core.poll.rules import TooFast


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets: each key may act `burst` times at once, then once every `1 / per_second` seconds.

    Thread-safe. `clock` (seconds, monotonic) is injectable for tests. Buckets idle long enough to be full again
    are forgotten when more than `max_keys` are held, so memory stays bounded.
    """

    def __init__(self, burst: int = 5, per_second: float = 0.5, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if burst < 1 or per_second <= 0:
            raise ValueError("A rate limit needs burst >= 1 and per_second > 0.")
        self.burst = float(burst)
        self.per_second = float(per_second)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: dict[Hashable, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: Hashable) -> None:
        """Spend one token of `key`'s bucket, or raise TooFast (with the wait in its message) when it is empty."""
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_idle(now)
                bucket = self._buckets[key] = _Bucket(self.burst, now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
            bucket.updated = now
            if bucket.tokens < 1:
                wait = (1 - bucket.tokens) / self.per_second
                raise TooFast(f"You are sending answers too fast: wait {wait:.0f} s and send again.")
            bucket.tokens -= 1

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.per_second
        self._buckets = {key: bucket for key, bucket in self._buckets.items() if now - bucket.updated < full_after}
