"""The SSRF guard: every spelling of a loopback, private, link-local or cloud-metadata address, and names that
resolve there, are refused before any connection, each with an error naming the address and how to allow it; an
allowed host goes through; a public host is reached at the address that was checked, under its own name. The
Standard Webhooks signature against the reference implementation's published vector."""

from __future__ import annotations

import base64
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from helpers.builders import flow_document
from signoff import net
from signoff.audit.webhooks import new_secret, secret_key, signature
from signoff.config.flows import parse_project
from signoff.errors import ConfigError


class Inner(httpx.BaseTransport):
    """Where the guard hands a request it let through (no network: it records the request and answers 204)."""

    def __init__(self) -> None:
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        return httpx.Response(204)


def _guarded(allow: tuple[str, ...] = (), resolver: net.Resolver = net.resolve) -> tuple[httpx.Client, Inner]:
    inner = Inner()
    return httpx.Client(transport=net.Guard(allow, inner, resolver)), inner


CORPUS = [
    ("http://127.0.0.1/", "127.0.0.1", "loopback"),
    ("http://0x7f000001/", "127.0.0.1", "loopback"),
    ("http://2130706433/", "127.0.0.1", "loopback"),
    ("http://0177.0.0.1/", "127.0.0.1", "loopback"),
    ("http://127.1/", "127.0.0.1", "loopback"),
    ("http://[::1]/", "::1", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", "loopback"),
    ("http://[64:ff9b::7f00:1]/", "64:ff9b::7f00:1", "loopback"),
    ("http://[2002:7f00:1::]/", "2002:7f00:1::", "loopback"),
    ("http://[::127.0.0.1]/", "::127.0.0.1", "loopback"),
    ("http://[2002:a9fe:a9fe::]/", "2002:a9fe:a9fe::", "cloud metadata"),
    ("http://[fec0::1]/", "fec0::1", "private"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254", "cloud metadata"),
    ("http://0xa9fea9fe/", "169.254.169.254", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "fd00:ec2::254", "cloud metadata"),
    ("http://100.100.100.200/", "100.100.100.200", "cloud metadata"),
    ("http://169.254.1.1/", "169.254.1.1", "link-local"),
    ("http://[fe80::1]/", "fe80::1", "link-local"),
    ("http://10.0.0.1/", "10.0.0.1", "private"),
    ("http://172.16.0.1/", "172.16.0.1", "private"),
    ("http://192.168.1.1:8080/", "192.168.1.1", "private"),
    ("http://[fc00::1]/", "fc00::1", "private"),
    ("http://0.0.0.0/", "0.0.0.0", "unspecified"),  # noqa: S104  # a URL refused, no server bound
    ("http://100.64.0.1/", "100.64.0.1", "reserved"),
    ("http://224.0.0.1/", "224.0.0.1", "multicast"),
    ("https://localhost/", "127.0.0.1|::1", "loopback"),  # a name that resolves inside (from /etc/hosts)
]


@pytest.mark.parametrize(("url", "address", "kind"), CORPUS, ids=[c[0] for c in CORPUS])
def test_the_corpus_is_refused_before_any_connection(url: str, address: str, kind: str) -> None:
    with pytest.raises(net.AddressRefused) as refused:
        net.checked(url)
    said = str(refused.value)
    assert any(f"refused to connect to {a}, a {kind} address" in said for a in address.split("|"))  # named
    assert f'network: allow: ["{urlsplit(url).hostname}"]' in said  # and how to allow it
    client, inner = _guarded()
    try:
        httpx.URL(url)
    except httpx.InvalidURL:
        return  # httpx itself refuses this spelling (a leading zero): no request can be made of it
    with pytest.raises(net.AddressRefused, match=re.escape(said.split(" for ")[0])):
        client.get(url)  # the transport refuses it too, at connect time
    assert inner.sent == []


def test_a_name_that_resolves_inside_is_refused_even_with_a_public_answer_beside_it() -> None:
    client, inner = _guarded(resolver=lambda host, port: ["93.184.215.14", "10.1.2.3"])
    with pytest.raises(net.AddressRefused, match=r"10\.1\.2\.3, a private address \(hooks\.example resolves to it\)"):
        client.post("https://hooks.example/in")
    assert inner.sent == []


def test_a_public_host_is_reached_at_the_checked_address_under_its_own_name() -> None:
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])  # a rebinding resolver: a second lookup would go inside
    client, inner = _guarded(resolver=lambda host, port: next(answers))
    assert client.post("https://hooks.example:8443/in?x=1", content=b"{}").status_code == 204
    (sent,) = inner.sent
    assert str(sent.url) == "https://93.184.215.14:8443/in?x=1"
    assert sent.headers["host"] == "hooks.example:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example"  # the certificate is checked against the name


def test_an_ipv6_address_is_reached_in_brackets() -> None:
    client, inner = _guarded(resolver=lambda host, port: ["2606:4700::1111"])
    client.get("https://one.example/")
    assert str(inner.sent[0].url) == "https://[2606:4700::1111]/"
    assert inner.sent[0].headers["host"] == "one.example"


@pytest.mark.parametrize(
    ("allow", "url"),
    [
        (("127.0.0.1",), "http://127.0.0.1:9/x"),
        (("[::1]",), "http://[::1]:9/"),
        (("Hooks.Internal",), "http://hooks.internal/"),
    ],
)
def test_an_allowed_host_goes_through_unchanged(allow: tuple[str, ...], url: str) -> None:
    client, inner = _guarded(allow, resolver=lambda host, port: ["10.0.0.9"])
    assert client.get(url).status_code == 204
    assert str(inner.sent[0].url) == url


def test_allowing_a_host_by_one_spelling_does_not_allow_another() -> None:
    client, inner = _guarded(("127.0.0.1",))
    for url in ("http://0x7f000001/", "http://localhost/", "http://[::ffff:127.0.0.1]/"):
        with pytest.raises(net.AddressRefused):
            client.get(url)
    assert inner.sent == []


def test_the_signature_matches_the_reference_implementations_vector() -> None:
    """The vector of standard-webhooks' Python library tests (tests/test_webhooks.py, test_sign_function)."""
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    got = signature([key], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_several_secrets_give_several_signatures_in_order() -> None:
    first, second = secret_key(new_secret()), secret_key(new_secret())
    both = signature([first, second], "msg_1", 1, b"{}").split(" ")
    assert both == [signature([first], "msg_1", 1, b"{}"), signature([second], "msg_1", 1, b"{}")]


@pytest.mark.parametrize(
    ("secret", "said"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "does not start with whsec_"),
        ("whsec_not base64!", "is not base64"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "holds 23 bytes"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "holds 65 bytes"),
    ],
)
def test_a_malformed_secret_is_refused_saying_why(secret: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        secret_key(secret)


@pytest.mark.parametrize("entry", ["http://127.0.0.1/", "", "user@host"])
def test_an_allow_entry_that_is_not_a_host_is_refused_where_it_stands(tmp_path: Path, entry: str) -> None:
    document = {"flows": {"test-flow": flow_document()}, "network": {"allow": ["127.0.0.1", entry]}}
    with pytest.raises(ConfigError, match=r"network\.allow: .* is not a host: write it as its URLs do"):
        parse_project(document, tmp_path / "signoff.yaml")
