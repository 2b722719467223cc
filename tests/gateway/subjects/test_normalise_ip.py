"""normalise_ip's IPv4 fast path (inet_pton/inet_ntop) answers every text as ipaddress alone does."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.subjects.normalise import normalise_ip


def by_ipaddress(raw: str) -> str | None:
    """The verdict before the fast path: ipaddress's compressed text, no zone index; None when refused."""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        return None
    return str(address)


def verdict(raw: str) -> str | None:
    try:
        return normalise_ip(raw)
    except ValueError:
        return None


@pytest.mark.parametrize("raw", [
    "192.0.2.1", "0.0.0.0", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3.04", "1.2.3.0", "1.2.3", "1.2.3.4.5",
    "1.2.3.4 ", " 1.2.3.4", "1.2.3.4\n", "1.2.3.4\x00", "1.2.3.", ".1.2.3", "1..2.3", "0x1.2.3.4", "1.2.3.4/32",
    "١.2.3.4", "1.2.3.٤", "１.2.3.4", "+1.2.3.4", "-1.2.3.4", "1.2.3.4%eth0", "4294967295", "",
    "::ffff:192.0.2.1", "::1", "fe80::1%eth0", "2001:DB8::1", "1.2.3.4:80",
])
def test_an_address_is_judged_and_written_as_ipaddress_does(raw: str) -> None:
    assert verdict(raw) == by_ipaddress(raw)


OCTET = st.integers(0, 300).map(str) | st.sampled_from(["00", "01", "007", "0", "", "a", " 1", "1 ", "٣"])


@settings(max_examples=500, deadline=None)
@given(octets=st.lists(OCTET, min_size=1, max_size=6), separator=st.sampled_from([".", ".", ".", ",", ":"]))
def test_any_dotted_text_is_judged_as_ipaddress_does(octets: list[str], separator: str) -> None:
    raw = separator.join(octets)
    assert verdict(raw) == by_ipaddress(raw)
