"""The pure resume policy of syncwrap.engine.ranges: validators, Range/If-Range, answers."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from syncwrap.engine.ranges import (
    Action,
    Answer,
    ContentRange,
    parse_content_range,
    read_answer,
    resume_headers,
    validator_of,
)
from syncwrap.exceptions import ClientError, MalformedResponseError

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict((name.replace("_", "-"), value) for name, value in values.items())


# -- validators and request headers ------------------------------------------------------


def test_a_strong_etag_is_the_validator_over_last_modified() -> None:
    assert validator_of(headers(ETag='"v1"', Last_Modified=LAST_MODIFIED)) == '"v1"'


def test_a_weak_etag_falls_back_to_last_modified() -> None:
    assert validator_of(headers(ETag='W/"v1"', Last_Modified=LAST_MODIFIED)) == LAST_MODIFIED


def test_no_validator_without_a_strong_etag_or_a_date() -> None:
    assert validator_of(headers(ETag='W/"v1"')) is None
    assert validator_of(headers(ETag="unquoted")) is None
    assert validator_of(headers()) is None


def test_resume_headers_ask_for_the_rest_if_unchanged() -> None:
    assert resume_headers(100, '"v1"') == {"Range": "bytes=100-", "If-Range": '"v1"'}


def test_nothing_to_resume_without_bytes_or_validator() -> None:
    assert resume_headers(0, '"v1"') == {}
    assert resume_headers(100, None) == {}
    with pytest.raises(ValueError, match="offset"):
        resume_headers(-1, '"v1"')


# -- Content-Range ----------------------------------------------------------------------


@pytest.mark.parametrize(("value", "parsed"), [
    ("bytes 0-99/100", ContentRange(0, 99, 100)),
    ("bytes 10-19/*", ContentRange(10, 19, None)),
    ("bytes */100", ContentRange(None, None, 100)),
    ("Bytes  5-5/6", ContentRange(5, 5, 6)),
])
def test_content_range_parses(value: str, parsed: ContentRange) -> None:
    assert parse_content_range(value) == parsed


@pytest.mark.parametrize("value", [
    "bytes 10-5/100", "bytes 0-100/100", "bytes */*", "items 0-1/2", "bytes 0-/10", "",
    "bytes=0-1/2",
])
def test_a_bad_content_range_is_a_malformed_response(value: str) -> None:
    with pytest.raises(MalformedResponseError):
        parse_content_range(value)


# -- answers ------------------------------------------------------------------------------


def test_206_for_the_asked_range_appends() -> None:
    answer = read_answer(206, headers(Content_Range="bytes 100-999/1000"), 100)
    assert answer == Answer(Action.APPEND, 100, 1000)
    unknown = read_answer(206, headers(Content_Range="bytes 100-999/*"), 100)
    assert unknown == Answer(Action.APPEND, 100, None)


@pytest.mark.parametrize("value", ["bytes 0-999/1000", "bytes 101-999/1000",
                                   "bytes 100-500/1000"])
def test_206_for_another_range_raises(value: str) -> None:
    with pytest.raises(MalformedResponseError, match="Content-Range"):
        read_answer(206, headers(Content_Range=value), 100)


def test_206_without_content_range_or_range_raises() -> None:
    with pytest.raises(ClientError, match="single Content-Range"):
        read_answer(206, headers(Content_Type="multipart/byteranges; boundary=x"), 100)
    with pytest.raises(ClientError, match="without a Range"):
        read_answer(206, headers(Content_Range="bytes 0-9/10"), 0)


def test_200_restarts_with_its_length() -> None:
    assert read_answer(200, headers(Content_Length="1000"), 100) == Answer(Action.RESTART, 0, 1000)
    assert read_answer(200, headers(), 0) == Answer(Action.RESTART, 0, None)
    chunked = headers(Transfer_Encoding="chunked", Content_Length="5")
    assert read_answer(200, chunked, 0).total is None


def test_416_when_the_part_is_whole_completes() -> None:
    answer = read_answer(416, headers(Content_Range="bytes */1000"), 1000)
    assert answer == Answer(Action.COMPLETE, 1000, 1000)


def test_416_otherwise_asks_again_without_a_range() -> None:
    assert read_answer(416, headers(Content_Range="bytes */500"), 1000).action is Action.RETRY_FULL
    assert read_answer(416, headers(), 1000).action is Action.RETRY_FULL


def test_other_statuses_are_left_to_the_caller() -> None:
    assert read_answer(404, headers(Content_Length="9"), 100).action is Action.RESTART
    # a 416 without a Range sent is an error status, not a reason to ask again
    assert read_answer(416, headers(Content_Range="bytes */0"), 0).action is Action.RESTART
