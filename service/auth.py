"""API keys (stored hashed, never logged), tenants, and per-key rate limits.

A key looks like ``bsk_<id>_<secret>``: ``id`` (12 hex digits) names the key in listings and logs, ``secret``
(32 random bytes, URL-safe base64) is what makes it a credential. The database holds the SHA-256 of the whole
key, never the key; lookups go by ``id`` and compare digests with :func:`hmac.compare_digest`. A slow
password hash is unnecessary here: keys are 256-bit random strings, not guessable passwords.

Rate limits are token buckets kept in memory per key (they reset when the service restarts).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

from service.db import Database, KeyRow

__all__ = ["KEY_PREFIX", "TENANT_PATTERN", "AuthError", "KeyStore", "Principal", "RateLimiter", "TokenBucket"]

KEY_PREFIX = "bsk"
_KEY = re.compile(r"^bsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
#: Tenant names double as folder names under recordings/.
TENANT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class AuthError(Exception):
    """Missing, malformed, unknown or revoked key; the message never contains the key."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and name, and the tenant everything they touch belongs to."""

    key_id: str
    tenant: str
    name: str
    rate_rps: float | None = None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def check_tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise ValueError(
            f"tenant must be 1-64 characters of a-z, 0-9, _ and - starting with a letter or digit, got {tenant!r}"
        )
    return tenant


class KeyStore:
    """Creates, verifies, lists and revokes API keys in the metadata database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, tenant: str, name: str = "default", rate_rps: float | None = None) -> tuple[str, KeyRow]:
        """A new key for ``tenant``; returns the key (shown once, never stored) and its database row."""
        check_tenant(tenant)
        if not name or len(name) > 64:
            raise ValueError(f"key name must be 1-64 characters, got {name!r}")
        if rate_rps is not None and not rate_rps > 0:
            raise ValueError(f"rate_rps must be a positive number of requests per second, got {rate_rps!r}")
        key_id = secrets.token_hex(6)
        key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
        return key, self.db.add_key(key_id, tenant, name, hash_key(key), rate_rps)

    def verify(self, key: str | None) -> Principal:
        """The principal of a valid key, or :class:`AuthError` saying what was wrong (without the key)."""
        if not key:
            raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
        match = _KEY.match(key)
        if match is None:
            raise AuthError("malformed API key: expected 'bsk_<12 hex>_<43 characters>' as `biosig keys create` prints")
        row = self.db.get_key(match.group(1))
        if row is None or not hmac.compare_digest(row.hash, hash_key(key)):
            raise AuthError(f"unknown API key (id {match.group(1)})")
        if row.revoked is not None:
            raise AuthError(f"API key {row.key_id} was revoked")
        return Principal(row.key_id, row.tenant, row.name, row.rate_rps)

    def revoke(self, key_id: str) -> bool:
        return self.db.revoke_key(key_id)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``take`` is non-blocking, ``delay`` says how long."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._tokens = float(burst)
        self._t = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._t) * self.rate)
        self._t = now

    def take(self, n: float = 1.0) -> float:
        """Take ``n`` tokens; 0.0 when they were there, else the seconds until they will be (nothing taken)."""
        self._refill()
        if self._tokens >= n:
            self._tokens -= n
            return 0.0
        return (n - self._tokens) / self.rate

    def consume(self, n: float) -> float:
        """Take ``n`` tokens even if that overdraws the bucket; returns the seconds the caller should wait."""
        self._refill()
        self._tokens -= n
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate


class RateLimiter:
    """Per-key buckets: REST requests, WebSocket connection attempts, streamed samples; and live stream counts."""

    def __init__(
        self,
        rps: float,
        burst: int,
        connects_per_min: float,
        samples_per_s: float,
        max_streams_per_key: int,
    ) -> None:
        self.rps, self.burst = rps, burst
        self.connects_per_min = connects_per_min
        self.samples_per_s = samples_per_s
        self.max_streams_per_key = max_streams_per_key
        self._lock = threading.Lock()
        self._requests: dict[str, TokenBucket] = {}
        self._connects: dict[str, TokenBucket] = {}
        self._samples: dict[str, TokenBucket] = {}
        self._live: dict[str, int] = {}

    def _bucket(self, table: dict[str, TokenBucket], key: str, rate: float, burst: float) -> TokenBucket:
        bucket = table.get(key)
        if bucket is None:
            bucket = table[key] = TokenBucket(rate, burst)
        return bucket

    def request(self, who: Principal) -> float:
        """0.0 if a REST request may go ahead, else the seconds to wait (for ``Retry-After``)."""
        rate = who.rate_rps or self.rps
        with self._lock:
            return self._bucket(self._requests, who.key_id, rate, self.burst).take()

    def connect(self, who: Principal) -> float:
        with self._lock:
            per_s = self.connects_per_min / 60.0
            return self._bucket(self._connects, who.key_id, per_s, max(1.0, self.connects_per_min / 6)).take()

    def samples(self, who: Principal, n: int) -> float:
        """Account ``n`` streamed values; the seconds the reader should pause to stay within the key's rate."""
        with self._lock:
            bucket = self._bucket(self._samples, who.key_id, self.samples_per_s, self.samples_per_s)
            return bucket.consume(n)

    def open_stream(self, who: Principal) -> bool:
        with self._lock:
            n = self._live.get(who.key_id, 0)
            if n >= self.max_streams_per_key:
                return False
            self._live[who.key_id] = n + 1
            return True

    def close_stream(self, who: Principal) -> None:
        with self._lock:
            self._live[who.key_id] = max(0, self._live.get(who.key_id, 0) - 1)
