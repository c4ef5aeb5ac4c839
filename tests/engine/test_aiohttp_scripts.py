"""A dozen everyday aiohttp client scripts run unchanged on syncwrap's engine (issue 14).

Each script in ``tests/engine/aiohttp_scripts/`` begins with ``import syncwrap.engine as
aiohttp`` and is otherwise plain aiohttp code. It runs twice against aiohttp's own
``aiohttp.web`` server: as written, and with that first line made ``import aiohttp``,
which proves it is genuine aiohttp code. Both runs must observe the same result.
"""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest

from tests.engine.aiohttp_peer import aiohttp_peer

SCRIPTS = pathlib.Path(__file__).with_name("aiohttp_scripts")
HEADER = "import syncwrap.engine as aiohttp\n"
CLIENTS = ("syncwrap.engine", "aiohttp")

# aiohttp 3.14 deprecates BasicAuth and auth=, which everyday scripts still use.
pytestmark = pytest.mark.filterwarnings(
    "ignore:(BasicAuth is|The 'auth' parameter is) deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def peer_url():
    with aiohttp_peer() as url:
        yield url


def load(name: str, client: str) -> dict[str, Any]:
    """The script ``name`` as a namespace, importing ``client`` as ``aiohttp``."""
    path = SCRIPTS / f"{name}.py"
    source = path.read_text()
    assert HEADER in source, f"{name} does not import syncwrap.engine as aiohttp"
    if client == "aiohttp":
        source = source.replace(HEADER, "import aiohttp\n")
    namespace: dict[str, Any] = {"__name__": f"aiohttp_script_{name}"}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace


def run_script(name: str, client: str, base: str, timeout: float = 20.0) -> Any:
    main = load(name, client)["main"]

    async def bounded() -> Any:
        return await asyncio.wait_for(main(base), timeout)

    return asyncio.run(bounded())


# What each script observes, identical under both clients.
EXPECTED = {'auth_params_redirects': ((200, {'user': 'alice', 'query': [['k', '1'], ['k', '2']]}),
                           (401, 'Basic realm="x"'),
                           ([302, 302, 302],
                            ['/redirect/3', '/redirect/2', '/redirect/1'],
                            '/echo',
                            [['from', 'redirect']]),
                           (302, '/redirect/2'),
                           ('TooManyRedirects', '/redirect/5')),
 'concurrency': ([0, 1, 2, 3, 4, 5], True, 99, True),
 'cookies_morsels': ({'session': 'abc', 'theme': 'dark'},
                     [302],
                     [('session', 'abc'), ('theme', 'dark')],
                     ['session', 'theme'],
                     {'lang': 'en', 'pref': 'compact', 'session': 'abc', 'theme': 'dark'}),
 'errors': [('connector', '127.0.0.1', True),
            ('dns', 'no-such-host.invalid', True),
            ('status', 404, '/status/404'),
            ('sock_read', True),
            ('total',),
            ('raise_for_status=True', 500)],
 'module_request': ([['one', 'shot']],
                    [['via', 'base_url']],
                    'application/json',
                    ('ContentTypeError', 200)),
 'multipart_charsets': ([{'name': 'greeting',
                          'filename': None,
                          'content_type': 'text/plain; charset=koi8-r',
                          'hex': 'f0d2c9d7c5d4'},
                         {'name': 'blob',
                          'filename': 'b.bin',
                          'content_type': 'application/octet-stream',
                          'hex': '0001'}],
                        [{'name': 'world',
                          'filename': None,
                          'content_type': 'text/plain; charset=koi8-r',
                          'hex': 'cdc9d2'},
                         {'name': 'meta',
                          'filename': None,
                          'content_type': 'application/json',
                          'hex': '7b226f6b223a20747275657d'}],
                        [{'name': 'city',
                          'filename': None,
                          'content_type': 'text/plain; charset=koi8-r',
                          'hex': 'edcfd3cbd7c1'},
                         {'name': 'note',
                          'filename': 'note.bin',
                          'content_type': 'application/octet-stream',
                          'hex': '706c61696e206279746573'}]),
 'slow_upload': (200, {'received': 8000}),
 'streaming': ((20, True), 6180, b'line ', 20, b'line 01 ', True),
 'text_and_headers': ((202,
                       'Accepted',
                       True,
                       'text/plain',
                       'utf-8',
                       'status 202',
                       '/status/202',
                       'GET'),
                      ('t2', 'application/json; charset=utf-8', True)),
 'token_refresh': ((200, {'ok': True}),
                   200,
                   401,
                   1,
                   [('GET', '/protected'), ('GET', '/protected')]),
 'upload_files': ([{'name': 'file',
                    'filename': 'report.csv',
                    'content_type': 'text/csv',
                    'hex': '612c620a312c320a'}],
                  [{'name': 'title',
                    'filename': None,
                    'content_type': 'text/plain; charset=utf-8',
                    'hex': '517561727465726c79'},
                   {'name': 'report',
                    'filename': 'q3.csv',
                    'content_type': 'text/csv',
                    'hex': '612c620a312c320a'}]),
 'verbs_json': [(200, 'GET', [['page', '2'], ['q', 'aiohttp']]),
                ('POST', 'application/json', '{"name": "Ada", "tags": [1, 2]}'),
                ('PUT', 'application/octet-stream', 'raw bytes'),
                ('PATCH', 'application/x-www-form-urlencoded', 'a=1&b=two+words'),
                (200, 'DELETE'),
                (200, b''),
                (200, 'OPTIONS')],
 'zlib_backend': [('gzip', 63000, 'c130ea607a2a3340'), ('gzip', 63000, 'c130ea607a2a3340')]}


def test_every_script_has_an_expected_result():
    assert sorted(EXPECTED) == sorted(p.stem for p in SCRIPTS.glob("*.py")
                                      if p.stem != "__init__")


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_script_runs_unchanged(name: str, client: str, peer_url: str) -> None:
    assert run_script(name, client, peer_url) == EXPECTED[name]
