"""Accept-Encoding, read as RFC 9110 §12.5.3 says: gzip when the client takes it at least as gladly
as the body as it is."""

from __future__ import annotations

import pytest

from gateway.api.http.content_coding import accepts_gzip


@pytest.mark.parametrize(("header", "gzip"), [
    ("gzip", True),
    ("gzip, deflate, br, zstd", True),  # httpx's and browsers' default
    ("GZip;Q=0.5", True),
    ("x-gzip", True),
    ("*", True),
    ("identity;q=0.5, *", True),
    ("*;q=0, gzip;q=0.001", True),
    ("gzip;q=1.000, identity;q=1", True),
    (None, False),  # no header: the body as it is
    ("", False),
    ("identity", False),
    ("deflate, br", False),
    ("gzip;q=0", False),
    ("gzip;q=0.000, *", False),
    ("*;q=0", False),
    ("identity;q=1, gzip;q=0.5", False),
    ("gzip;q=2", False),  # malformed weights accept nothing
    ("gzip;q=high", False),
    ("gzip;q=0.5555", False),
    (" , ;q=1, ,", False),
])
def test_gzip_is_taken_only_when_the_client_prefers_it_at_least_as_much_as_identity(header: str | None,
                                                                                   gzip: bool) -> None:
    assert accepts_gzip(header) is gzip
