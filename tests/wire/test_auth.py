"""The control token's helpers and the browser checks (``m3e.wire.auth``)."""

import os
import threading
from pathlib import Path

from m3e.wire import auth

TOKEN = "t0ken"
JSON = {"Content-Type": "application/json; charset=utf-8", auth.HEADER: TOKEN}


def test_a_page_may_post_only_same_origin_json_with_the_token() -> None:
    ok = auth.browser_post_refusal
    assert ok(JSON, "127.0.0.1:8080", TOKEN) is None  # no Origin: not a browser's cross-site POST
    assert ok({**JSON, "Origin": "http://127.0.0.1:8080"}, "127.0.0.1:8080", TOKEN) is None
    assert ok({**JSON, "Origin": "http://evil.example"}, "127.0.0.1:8080", TOKEN)[0] == 403  # type: ignore[index]
    assert ok({**JSON, "Origin": "null"}, "127.0.0.1:8080", TOKEN)[0] == 403  # type: ignore[index]
    assert ok({**JSON, "Origin": "http://127.0.0.1:9999"}, "127.0.0.1:8080", TOKEN)[0] == 403  # type: ignore[index]
    plain = {"Content-Type": "text/plain", auth.HEADER: TOKEN}
    assert ok(plain, "127.0.0.1:8080", TOKEN)[0] == 415  # type: ignore[index]
    assert ok({**JSON, auth.HEADER: "nope"}, "127.0.0.1:8080", TOKEN)[0] == 401  # type: ignore[index]
    assert ok({"Content-Type": "application/json"}, "h", TOKEN)[0] == 401  # type: ignore[index]
    assert ok(JSON, "h", None)[0] == 401  # type: ignore[index]  # no token set: nobody, not anybody


def test_token_sources(tmp_path: Path) -> None:
    assert auth.resolve_token(" given ", tmp_path / "f") == "given"
    assert auth.resolve_token(None, None, create=False) is None
    assert len(auth.resolve_token(None, None) or "") >= 32
    path = tmp_path / "run" / "token"
    made: list[str] = []
    threads = [
        threading.Thread(target=lambda: made.append(auth.read_or_create_token_file(path))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 1 and path.read_text().strip() == made[0]  # one writer, the others read
    assert os.stat(path).st_mode & 0o077 == 0  # only its owner reads it
    assert auth.with_token("http://h:1/", "abc") == "http://h:1/?token=abc"
