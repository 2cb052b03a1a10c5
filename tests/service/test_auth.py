"""API keys: hashed at rest, verified by id and digest, revocable; token buckets and stream counts."""

from __future__ import annotations

import re

import pytest

from service.auth import AuthError, KeyStore, Principal, RateLimiter, TokenBucket, hash_key
from service.db import Database


@pytest.fixture()
def store(tmp_path) -> KeyStore:
    return KeyStore(Database(tmp_path / "m.sqlite3"))


def test_created_key_verifies_and_only_its_hash_is_stored(store, tmp_path) -> None:
    key, row = store.create("acme", "bridge-1")
    assert re.fullmatch(r"bsk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    who = store.verify(key)
    assert (who.tenant, who.name, who.key_id) == ("acme", "bridge-1", row.key_id)
    assert row.hash == hash_key(key) and key not in row.hash
    assert key.encode() not in (tmp_path / "m.sqlite3").read_bytes()


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (None, "missing API key"),
        ("", "missing API key"),
        ("hunter2", "malformed API key"),
        ("bsk_000000000000_" + "A" * 43, r"unknown API key \(id 000000000000\)"),
    ],
)
def test_bad_keys_are_refused_with_the_reason(store, key, message) -> None:
    with pytest.raises(AuthError, match=message):
        store.verify(key)


def test_a_key_with_a_valid_id_but_wrong_secret_is_unknown(store) -> None:
    key, row = store.create("acme")
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(AuthError, match=f"unknown API key \\(id {row.key_id}\\)") as info:
        store.verify(forged)
    assert forged not in str(info.value)


def test_revoked_keys_are_refused(store) -> None:
    key, row = store.create("acme")
    assert store.revoke(row.key_id) and not store.revoke(row.key_id)
    with pytest.raises(AuthError, match=f"API key {row.key_id} was revoked"):
        store.verify(key)


def test_tenant_names_are_checked(store) -> None:
    with pytest.raises(ValueError, match="tenant must be 1-64 characters of a-z"):
        store.create("../etc")


def test_token_bucket_allows_a_burst_then_says_how_long_to_wait() -> None:
    bucket = TokenBucket(rate=10.0, burst=3)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = bucket.take()
    assert 0.05 < wait <= 0.1


def test_rate_limiter_counts_live_streams_per_key() -> None:
    limiter = RateLimiter(rps=5, burst=1, connects_per_min=60, samples_per_s=100, max_streams_per_key=2)
    who = Principal("k1", "acme", "x")
    assert limiter.open_stream(who) and limiter.open_stream(who) and not limiter.open_stream(who)
    limiter.close_stream(who)
    assert limiter.open_stream(who)
    assert limiter.request(who) == 0.0 and limiter.request(who) > 0
    assert limiter.samples(who, 100) == 0.0 and limiter.samples(who, 50) == pytest.approx(0.5, abs=0.05)
