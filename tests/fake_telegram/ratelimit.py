"""Token buckets imitating Telegram's flood control for message-sending methods."""

from __future__ import annotations

import math
from collections.abc import Callable


class TokenBucket:
    """Refills `rate` tokens per second up to `capacity`; one request takes one token."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        """Add the tokens earned since the last look."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill(now)
        if self.tokens >= 1:
            return 0.0
        return (1 - self.tokens) / self.rate if self.rate > 0 else math.inf

    def take(self) -> None:
        """Consume one token; call only after wait_time() returned 0."""
        self.tokens -= 1


class RateLimiter:
    """An overall bucket plus one bucket per chat; rejected requests consume nothing."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        overall_per_second: float,
        per_chat_per_second: float,
        per_chat_burst: int,
    ) -> None:
        self._clock = clock
        self.overall_per_second = overall_per_second
        self.per_chat_per_second = per_chat_per_second
        self.per_chat_burst = per_chat_burst
        self.reset()

    def reset(self) -> None:
        """Forget all history (buckets refill lazily from full)."""
        self._overall: TokenBucket | None = None
        self._chats: dict[int, TokenBucket] = {}

    def check(self, chat_id: int | None) -> int | None:
        """Take a token for a request to `chat_id`; returns retry_after seconds when limited."""
        now = self._clock()
        buckets = [self._overall_bucket(now)]
        if chat_id is not None:
            buckets.append(self._chat_bucket(chat_id, now))
        wait = max(bucket.wait_time(now) for bucket in buckets)
        if wait > 0:
            # Telegram only ever says whole seconds, and never "retry after 0".
            return max(1, math.ceil(min(wait, 3600)))
        for bucket in buckets:
            bucket.take()
        return None

    def _overall_bucket(self, now: float) -> TokenBucket:
        """The bot-wide bucket; its burst is one second's worth of requests."""
        if self._overall is None:
            capacity = max(1.0, self.overall_per_second)
            self._overall = TokenBucket(self.overall_per_second, capacity, now)
        return self._overall

    def _chat_bucket(self, chat_id: int, now: float) -> TokenBucket:
        """The bucket of one chat."""
        bucket = self._chats.get(chat_id)
        if bucket is None:
            capacity = float(max(1, self.per_chat_burst))
            bucket = self._chats[chat_id] = TokenBucket(self.per_chat_per_second, capacity, now)
        return bucket
