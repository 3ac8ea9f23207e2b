"""The Origin allow-list check (gateway.http.origins)."""

from __future__ import annotations

import pytest

from gateway.http.origins import origin_allowed


@pytest.mark.parametrize(
    "origin",
    [
        None,
        "http://localhost",
        "http://localhost:3000",
        "https://127.0.0.1:8443",
        "http://[::1]:5173",
        "HTTP://LOCALHOST:1/",
    ],
)
def test_local_pages_and_non_browsers_are_allowed_by_default(
    origin: str | None,
) -> None:
    assert origin_allowed(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:4000",
        "null",
        "file://",
        "http://localhost:notaport",
    ],
)
def test_other_origins_are_refused_by_default(origin: str) -> None:
    assert not origin_allowed(origin)


def test_an_allow_list_replaces_the_default() -> None:
    allowed = ("https://app.example", "https://*.preview.example", "null")
    assert origin_allowed("https://app.example/", allowed)
    assert origin_allowed("https://pr-7.preview.example", allowed)
    assert origin_allowed("null", allowed)
    assert not origin_allowed("http://localhost:3000", allowed)
    assert not origin_allowed("https://evil.test/.preview.example", allowed)
    assert origin_allowed("https://anything.example", ("*",))
