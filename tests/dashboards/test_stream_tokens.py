"""Stream tokens: bound to one dashboard, signed, short-lived."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from analytics_engine.dashboards.stream import StreamHub
from analytics_engine.errors import Unauthorized


def hub(ttl: int = 60, secret: str | None = "s3cret") -> StreamHub:
    instance = StreamHub.__new__(StreamHub)
    instance.settings = SimpleNamespace(stream_token_ttl_seconds=ttl)  # type: ignore[assignment]
    instance._secret = (secret or "x").encode()
    return instance


def test_round_trip_and_binding() -> None:
    tokens = hub()
    token, expires = tokens.issue_token("tn_a", "key_1", "dsh_1")
    assert expires > time.time()
    assert tokens.check_token(token, "dsh_1") == ("tn_a", "key_1")
    with pytest.raises(Unauthorized, match="another dashboard"):
        tokens.check_token(token, "dsh_2")


def test_forged_and_foreign_tokens_fail() -> None:
    token, _ = hub().issue_token("tn_a", "key_1", "dsh_1")
    body, _, signature = token.partition(".")
    forged_body, _ = hub().issue_token("tn_b", "key_1", "dsh_1")
    for bad in (forged_body.split(".")[0] + "." + signature, body + ".AAAA", "garbage", "", token + "x"):
        with pytest.raises(Unauthorized):
            hub().check_token(bad, "dsh_1")
    with pytest.raises(Unauthorized):  # another process's secret
        hub(secret="other").check_token(token, "dsh_1")


def test_expired_token_fails() -> None:
    token, _ = hub(ttl=-1).issue_token("tn_a", "key_1", "dsh_1")
    with pytest.raises(Unauthorized, match="expired"):
        hub().check_token(token, "dsh_1")
