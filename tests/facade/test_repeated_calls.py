"""A call that repeats plain arguments (``s.get(url, timeout=5, verify=CA)``) reuses the
translation the first such call got (syncwrap._bridge.calls.request_call): it must do what
the full translation does, every time, whatever changed on the session in between."""

from __future__ import annotations

import pytest

import syncwrap
from syncwrap._bridge import calls
from tests.facade._util import WAIT


@pytest.fixture
def translations(monkeypatch):
    """Counts the calls that went through the full translation (_translate)."""
    seen: list[dict] = []
    full = calls._translate

    def counting(engine, kwargs, default_auth):
        seen.append(dict(kwargs))
        return full(engine, kwargs, default_auth)

    monkeypatch.setattr(calls, "_translate", counting)
    calls._REPEATED.clear()
    return seen


def test_repeated_arguments_are_translated_once(httpbin_tls_url, ca_pem_path, translations):
    with syncwrap.Session() as s:
        for _ in range(3):
            r = s.get(httpbin_tls_url + "/get", timeout=WAIT, verify=ca_pem_path)
            assert r.status_code == 200 and r.json()["url"].endswith("/get")
        with s.get(httpbin_tls_url + "/bytes/4096?seed=1", timeout=WAIT, verify=ca_pem_path,
                   stream=True) as r:
            assert len(b"".join(r.iter_content(1024))) == 4096
        with s.get(httpbin_tls_url + "/bytes/4096?seed=1", timeout=WAIT, verify=ca_pem_path,
                   stream=True) as r:
            assert len(b"".join(r.iter_content(1024))) == 4096
    assert translations == [{"timeout": WAIT, "verify": ca_pem_path},
                            {"timeout": WAIT, "verify": ca_pem_path, "stream": True}]


def test_a_remembered_timeout_still_applies(httpbin_url, translations):
    with syncwrap.Session(timeout=WAIT) as s:
        assert s.get(httpbin_url + "/get", timeout=0.5).status_code == 200
        with pytest.raises(syncwrap.Timeout):
            s.get(httpbin_url + "/delay/3", timeout=0.5)  # the session's 10 s would pass
    assert len(translations) == 1


def test_remembered_redirect_setting(httpbin_url, translations):
    with syncwrap.Session(timeout=WAIT) as s:
        for _ in range(2):
            r = s.get(httpbin_url + "/redirect-to?url=/get", allow_redirects=False)
            assert r.status_code == 302 and not r.history
    assert len(translations) == 1


def test_the_sessions_settings_at_each_call_apply(httpbin_tls_url, ca_pem_path, translations):
    url = httpbin_tls_url + "/basic-auth/u/p"
    with syncwrap.Session() as s:
        assert s.get(url, timeout=WAIT, verify=ca_pem_path).status_code == 401
        s.auth = ("u", "p")
        assert s.get(url, timeout=WAIT, verify=ca_pem_path).status_code == 200
        s.auth = None
        assert s.get(url, timeout=WAIT, verify=ca_pem_path).status_code == 401
        s.verify = False  # the session's TLS setting is the base verify= applies to
        assert s.get(url, timeout=WAIT, verify=ca_pem_path).status_code == 401
    with syncwrap.Session() as s:  # another session, the same settings: the same result
        assert s.get(url, timeout=WAIT, verify=ca_pem_path).status_code == 401
    assert len(translations) == 3  # no auth, auth, the other TLS base


@pytest.mark.parametrize(("good", "bad", "match"), [
    ({"timeout": 1}, {"timeout": True}, "timeout="),
    ({"timeout": (1, 2)}, {"timeout": (True, 2)}, r"timeout=\(True, 2\).*connect="),
    ({"verify": True}, {"verify": 1}, "verify="),
])
def test_equal_values_of_another_type_are_checked_again(httpbin_url, good, bad, match,
                                                        translations):
    with syncwrap.Session(timeout=WAIT) as s:
        assert s.get(httpbin_url + "/get", **good).status_code == 200
        for _ in range(2):
            with pytest.raises(TypeError, match=match):
                s.get(httpbin_url + "/get", **bad)
    assert translations == [good, bad, bad]


@pytest.mark.parametrize(("timeout", "match"), [
    ((1, 2, 3), "timeout=: a tuple must be"),
    (-1, "timeout=-1: .*must not be negative"),
    ((1, -2), r"timeout=\(1, -2\): .*sock_read.*must not be negative"),
])
def test_a_refused_value_is_never_remembered(httpbin_url, timeout, match, translations):
    with syncwrap.Session(timeout=WAIT) as s:
        for _ in range(2):
            with pytest.raises(ValueError, match=match):
                s.get(httpbin_url + "/get", timeout=timeout)
    assert len(translations) == 2


def test_tls_arguments_of_another_type_are_checked_again(httpbin_url, translations):
    """The TLS translation's own cache (verify= on calls with other arguments too)."""
    with syncwrap.Session(timeout=WAIT) as s:
        assert s.get(httpbin_url + "/get", verify=True, headers={"X": "1"}).status_code == 200
        with pytest.raises(TypeError, match="verify"):
            s.get(httpbin_url + "/get", verify=1, headers={"X": "1"})


def test_sessions_with_user_code_translate_every_call(httpbin_url, translations):
    trail: list[int] = []
    with syncwrap.Session(timeout=WAIT) as s:
        s.hooks["response"].append(lambda r, **kwargs: trail.append(r.status_code))
        for _ in range(2):
            assert s.get(httpbin_url + "/status/201", timeout=WAIT).status_code == 201
    assert trail == [201, 201]
    assert len(translations) == 2
