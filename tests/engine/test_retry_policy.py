"""The Retry policy on its own: decisions, counts, backoff and Retry-After (no sockets)."""

from __future__ import annotations

import email.utils

import pytest

from syncwrap import Retry
from syncwrap.engine.retry import parse_retry_after, to_retry
from syncwrap.exceptions import (
    ClientConnectorError,
    ConnectTimeout,
    InvalidURL,
    ReadTimeout,
    ServerDisconnectedError,
    SSLError,
)

REFUSED = ClientConnectorError("h", 1, ConnectionRefusedError(111, "refused"))
RESET = ServerDisconnectedError()


def test_connect_error_is_retried_for_any_method() -> None:
    d = Retry(total=2).decide("POST", error=REFUSED, replayable=False)
    assert d.action == "retry" and d.left is not None
    assert d.left.total == 1 and d.left.retries_done == 1
    assert Retry(total=2).decide("GET", error=ConnectTimeout()).action == "retry"


def test_read_error_only_for_allowed_methods_and_replayable_bodies() -> None:
    policy = Retry(total=2)
    assert policy.decide("GET", error=RESET).action == "retry"
    assert policy.decide("GET", error=ReadTimeout()).action == "retry"
    assert policy.decide("POST", error=RESET).action == "done"
    assert policy.decide("PUT", error=RESET, replayable=False).action == "done"
    assert Retry(allowed_methods={"post"}).decide("POST", error=RESET).action == "retry"
    assert Retry(allowed_methods=None).decide("PATCH", error=RESET).action == "retry"


def test_other_errors_are_not_retried() -> None:
    assert Retry().decide("GET", error=InvalidURL("x")).action == "done"
    assert Retry().decide("GET", error=SSLError("h", 1, "bad cert")).action == "done"
    assert Retry(read=False).decide("GET", error=RESET).action == "done"


def test_counts_run_out() -> None:
    policy = Retry(total=5, connect=1)
    d = policy.decide("GET", error=REFUSED)
    assert d.action == "retry" and d.left.connect == 0
    assert d.left.decide("GET", error=REFUSED).action == "exhausted"
    assert d.left.decide("GET", error=RESET).action == "retry"  # read is not limited
    assert Retry(total=0).decide("GET", error=RESET).action == "exhausted"


def test_status_forcelist() -> None:
    policy = Retry(total=3, status=1, status_forcelist={503})
    d = policy.decide("GET", status=503, headers={})
    assert d.action == "retry"
    assert d.left.decide("GET", status=503, headers={}).action == "exhausted"
    assert policy.decide("GET", status=500, headers={}).action == "done"
    assert policy.decide("GET", status=200, headers={}).action == "done"
    assert policy.decide("POST", status=503, headers={}).action == "done"


def test_backoff_is_exponential_with_jitter_and_capped() -> None:
    policy = Retry(total=10, connect=None, backoff_factor=0.5, backoff_jitter=0.25,
                   backoff_max=3.0)
    delays = []
    for _ in range(5):
        d = policy.decide("GET", error=REFUSED, rand=lambda: 0.0)
        delays.append(d.delay)
        policy = d.left
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]
    d = Retry(backoff_factor=0.5, backoff_jitter=0.25).decide("GET", error=REFUSED,
                                                              rand=lambda: 0.999)
    assert 0.5 <= d.delay < 0.75
    assert Retry().decide("GET", error=REFUSED).delay == 0.0


def test_retry_after_seconds_and_date_are_honoured_and_capped() -> None:
    policy = Retry(total=3, backoff_factor=0.1, backoff_max=10.0)
    d = policy.decide("GET", status=503, headers={"Retry-After": "4"})
    assert d.action == "retry" and d.delay == 4.0  # a 503 with Retry-After: retried
    assert policy.decide("GET", status=429, headers={"Retry-After": "3600"}).delay == 10.0
    now = 1_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    d = policy.decide("GET", status=429, headers={"Retry-After": date}, now=lambda: now)
    assert d.delay == pytest.approx(7.0)
    assert policy.decide("GET", status=500, headers={"Retry-After": "1"}).action == "done"
    ignoring = Retry(respect_retry_after=False, status_forcelist={503}, backoff_factor=0.1)
    assert ignoring.decide("GET", status=503, headers={"Retry-After": "5"}).delay == 0.1
    assert ignoring.decide("GET", status=429, headers={"Retry-After": "5"}).action == "done"


def test_parse_retry_after() -> None:
    assert parse_retry_after(" 12 ", 0.0) == 12.0
    assert parse_retry_after("soon", 0.0) is None
    assert parse_retry_after("-3", 0.0) is None
    past = email.utils.formatdate(100.0, usegmt=True)
    assert parse_retry_after(past, 200.0) == 0.0


def test_bad_arguments_name_the_argument() -> None:
    with pytest.raises(ValueError, match="total="):
        Retry(total=-1)
    with pytest.raises(ValueError, match="backoff_factor="):
        Retry(backoff_factor=-0.1)
    with pytest.raises(TypeError, match="allowed_methods="):
        Retry(allowed_methods="GET")
    with pytest.raises(TypeError, match="status_forcelist="):
        Retry(status_forcelist={"503"})
    with pytest.raises(TypeError, match="retries="):
        to_retry("3")


def test_to_retry_int_is_requests_max_retries() -> None:
    assert to_retry(0) is None and to_retry(None) is None
    policy = to_retry(2)
    assert policy.total == 2 and policy.read is False
    assert policy.decide("GET", error=RESET).action == "done"
    assert policy.decide("GET", error=REFUSED).action == "retry"
