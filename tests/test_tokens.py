"""Confirm and unsubscribe tokens: one purpose each, confirm expires in 7 days, unsubscribe lasts a year."""

from datetime import datetime, timedelta, timezone

import pytest
import time_machine

from aggregator.mail.tokens import CONFIRM, UNSUBSCRIBE, TokenError, Tokens, secret_for
from aggregator.store.database import Store
from tests.smtp_server import migrated_db  # noqa: F401 (autouse)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_token_round_trips_to_the_address():
    tokens = Tokens("s3cret")
    assert tokens.read(UNSUBSCRIBE, tokens.make(UNSUBSCRIBE, "ann@example.org")) == "ann@example.org"


def test_confirm_token_is_refused_as_unsubscribe_token_and_back():
    tokens = Tokens("s3cret")
    with pytest.raises(TokenError) as err:
        tokens.read(UNSUBSCRIBE, tokens.make(CONFIRM, "ann@example.org"))
    assert err.value.reason == "invalid"
    with pytest.raises(TokenError):
        tokens.read(CONFIRM, tokens.make(UNSUBSCRIBE, "ann@example.org"))


def test_token_signed_with_another_secret_is_refused():
    forged = Tokens("attacker").make(UNSUBSCRIBE, "ann@example.org")
    with pytest.raises(TokenError) as err:
        Tokens("s3cret").read(UNSUBSCRIBE, forged)
    assert "not valid" in str(err.value)


def test_tampered_and_garbage_tokens_are_refused_with_a_sentence():
    tokens = Tokens("s3cret")
    good = tokens.make(UNSUBSCRIBE, "ann@example.org")
    for bad in (good[:-2] + "xx", "", "....", "%00", "a" * 500):
        with pytest.raises(TokenError) as err:
            tokens.read(UNSUBSCRIBE, bad)
        assert str(err.value).endswith(".")


def test_confirm_expires_after_seven_days():
    tokens = Tokens("s3cret")
    with time_machine.travel(T0, tick=False):
        token = tokens.make(CONFIRM, "ann@example.org")
    with time_machine.travel(T0 + timedelta(days=6, hours=23), tick=False):
        assert tokens.read(CONFIRM, token) == "ann@example.org"
    with time_machine.travel(T0 + timedelta(days=7, minutes=1), tick=False):
        with pytest.raises(TokenError) as err:
            tokens.read(CONFIRM, token)
    assert err.value.reason == "expired"
    assert "7 days" in str(err.value)


def test_unsubscribe_still_works_after_a_year():
    tokens = Tokens("s3cret")
    with time_machine.travel(T0, tick=False):
        token = tokens.make(UNSUBSCRIBE, "ann@example.org")
    with time_machine.travel(T0 + timedelta(days=400), tick=False):
        assert tokens.read(UNSUBSCRIBE, token) == "ann@example.org"


def test_secret_is_generated_once_and_kept_in_the_database(tmp_path, monkeypatch):
    monkeypatch.delenv("MASSAGE_EVENTS_SECRET", raising=False)
    with Store(tmp_path / "db.sqlite") as store:
        first = secret_for(store.db)
    with Store(tmp_path / "db.sqlite") as store:
        assert secret_for(store.db) == first
    assert len(first) >= 32


def test_secret_from_the_named_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_SECRET", "from-env")
    with Store(tmp_path / "db.sqlite") as store:
        assert secret_for(store.db, "MY_SECRET") == "from-env"
