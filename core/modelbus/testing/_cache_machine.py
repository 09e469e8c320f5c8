"""The state machine of :class:`~modelbus.testing.contracts_cache.CacheContract`: random
sequences of get/set/delete/invalidate_tags/clear/advance/stats checked against
:class:`CacheModel`, a plain dict with its own clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

__all__ = ["KEYS", "TAGS", "CacheMachine", "CacheModel"]

KEYS = ("k0", "k1", "k2")
TAGS = ("t0", "t1", "t2")
_ttls = st.one_of(st.none(), st.integers(0, 3).map(lambda n: n + 0.5), st.sampled_from((0, -1.0)))


class CacheModel:
    """The reference a cache is checked against: a dict of key → (value, expires_at,
    tags), with time as seconds since the model started."""

    def __init__(self) -> None:
        self.now = 0.0
        self.entries: dict[str, tuple[bytes, float | None, frozenset[str]]] = {}

    def live(self, key: str) -> bytes | None:
        e = self.entries.get(key)
        if e is None or (e[1] is not None and e[1] <= self.now):
            return None
        return e[0]

    def live_keys(self) -> list[str]:
        return [k for k in self.entries if self.live(k) is not None]

    def set(self, key: str, value: bytes, ttl_s: float | None, tags: frozenset[str]) -> bool:
        self.entries.pop(key, None)
        if ttl_s is not None and ttl_s <= 0:
            return False
        self.entries[key] = (value, None if ttl_s is None else self.now + ttl_s, tags)
        return True


class CacheMachine(RuleBasedStateMachine):
    """Subclassed per test with ``cache`` (set in ``__init__`` before ``super().__init__``),
    ``advance_fn`` and ``stats_exact`` (see ``CacheContract.test_state_machine``)."""

    cache: Any
    advance_fn: Callable[[float], None]
    stats_exact: bool

    def __init__(self) -> None:
        super().__init__()
        self.model = CacheModel()
        self.cache.clear()
        base = self.cache.stats()
        self.expect = {"hits": base.hits, "misses": base.misses, "sets": base.sets}
        # clear and stats wipe state (stats may purge expired entries): they wait for a
        # few changes, so that expired entries are often still there for the other rules.
        self.changes = self.cleared_at = self.stats_at = 0

    @rule(
        key=st.sampled_from(KEYS),
        value=st.binary(max_size=40),
        ttl_s=_ttls,
        tags=st.frozensets(st.sampled_from(TAGS), max_size=2),
    )
    def set(self, key: str, value: bytes, ttl_s: float | None, tags: frozenset[str]) -> None:
        self.cache.set(key, value, ttl_s, sorted(tags))
        self.expect["sets"] += self.model.set(key, value, ttl_s, tags)
        self.changes += 1

    @rule(key=st.sampled_from(KEYS))
    def get(self, key: str) -> None:
        expected = self.model.live(key)
        assert self.cache.get(key) == expected, f"get({key!r}) at t={self.model.now}"
        self.expect["hits" if expected is not None else "misses"] += 1

    @rule(key=st.sampled_from(KEYS))
    def delete(self, key: str) -> None:
        expected = self.model.live(key) is not None
        self.model.entries.pop(key, None)
        assert self.cache.delete(key) is expected, f"delete({key!r})"
        self.changes += 1

    @rule(tags=st.lists(st.sampled_from(TAGS), max_size=2, unique=True))
    def invalidate_tags(self, tags: list[str]) -> None:
        hit = [k for k, e in self.model.entries.items() if e[2] & set(tags)]
        live = sum(self.model.live(k) is not None for k in hit)
        for k in hit:
            del self.model.entries[k]
        assert self.cache.invalidate_tags(tags) == live, f"invalidate_tags({tags!r})"
        self.changes += 1

    @precondition(lambda self: self.changes - self.cleared_at >= 5)
    @rule()
    def clear(self) -> None:
        live = len(self.model.live_keys())
        self.model.entries.clear()
        assert self.cache.clear() == live
        self.cleared_at = self.changes

    @rule(seconds=st.integers(1, 3), look=st.lists(st.sampled_from(KEYS), max_size=1))
    def advance(self, seconds: int, look: list[str]) -> None:
        self.advance_fn(seconds)
        self.model.now += seconds
        self.changes += 1
        for key in look:  # expiry is what moving time can break: read a key at once
            self.get(key)

    @precondition(lambda self: self.changes - self.stats_at >= 3)
    @rule()
    def stats(self) -> None:
        self.stats_at = self.changes
        s = self.cache.stats()
        assert (s.hits, s.misses, s.sets) == (
            self.expect["hits"],
            self.expect["misses"],
            self.expect["sets"],
        )
        live = self.model.live_keys()
        live_bytes = sum(len(self.model.entries[k][0]) for k in live)
        if self.stats_exact:
            assert (s.entries, s.bytes) == (len(live), live_bytes)
        else:
            assert len(live) <= s.entries <= len(self.model.entries)

    def teardown(self) -> None:
        close = getattr(self.cache, "close", None)
        if close is not None:
            close()
