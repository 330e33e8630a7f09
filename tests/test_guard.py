"""The address guard: every refused spelling never reaches a real server; TLS still checks names."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from collections.abc import Iterator

import pytest

from searchduel.bench.fetch import LocalWeb, Route
from searchduel.config import Settings
from searchduel.errors import AddressRefused, FetchError
from searchduel.types import Hit
from searchduel.web.cache import PageCache
from searchduel.web.fetch import fetch_one, fetch_pages
from searchduel.web.guard import (
    AddressPolicy,
    GuardedTransport,
    InvalidHost,
    check_url,
    parse_ip_literal,
    refusal,
)

HTML = (
    b"<!doctype html><html><head><title>Public page</title></head><body><article>"
    + b"<p>The public test page has a paragraph with enough words to be main text.</p>" * 8
    + b"</article></body></html>"
)
PAGE = Route(200, HTML, {"Content-Type": "text/html; charset=utf-8"})
ALLOW = ("127.0.0.2/32",)


@pytest.fixture(scope="module")
def loopback() -> Iterator[LocalWeb]:
    """The server that must never be reached: it sits on 127.0.0.1."""
    with LocalWeb("127.0.0.1") as web:
        web.add("/", PAGE)
        yield web


@pytest.fixture
def public() -> Iterator[LocalWeb]:
    """A server on 127.0.0.2, which the tests' settings treat as public."""
    with LocalWeb("127.0.0.2") as web:
        web.add("/", PAGE)
        yield web


@pytest.fixture
def settings() -> Settings:
    return Settings(allow_address=ALLOW, page_deadline=2.0, phase_deadline=3.0)


# --- the policy ----------------------------------------------------------------------------

SPELLINGS = {
    "2130706433": "127.0.0.1",
    "0x7f000001": "127.0.0.1",
    "0X7F000001": "127.0.0.1",
    "127.1": "127.0.0.1",
    "127.0.1": "127.0.0.1",
    "0177.0.0.1": "127.0.0.1",
    "0x7f.0.0.1": "127.0.0.1",
    "017700000001": "127.0.0.1",
    "127.0.0.1.": "127.0.0.1",
    "0": "0.0.0.0",
    "[::ffff:127.0.0.1]": "::ffff:127.0.0.1",
    "::1": "::1",
    "8.8.8.8": "8.8.8.8",
}


@pytest.mark.parametrize(("host", "address"), SPELLINGS.items())
def test_every_spelling_of_an_address_is_parsed(host: str, address: str) -> None:
    assert parse_ip_literal(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "localhost", "1x.example", "a.b.c.d", "0x1g"])
def test_host_names_are_not_literals(host: str) -> None:
    assert parse_ip_literal(host) is None


@pytest.mark.parametrize(
    "host", ["1.2.3.256", "1.2.3.4.5", "0x100.1.1.1", "1.2.3.09", "08", "example.1", "[::g]"]
)
def test_numeric_hosts_that_are_no_address_are_invalid(host: str) -> None:
    with pytest.raises(InvalidHost):
        parse_ip_literal(host)


REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "100.64.0.1",
    "192.0.0.9",
    "192.0.0.170",
    "198.18.0.1",
    "198.19.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",
    "::",
    "::1",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1",
    "ff02::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",
    "::ffff:0:7f00:1",  # SIIT-translated loopback
    "64:ff9b::a9fe:a9fe",  # NAT64 of the metadata address
    "64:ff9b::7f00:1",  # NAT64 of loopback
    "64:ff9b:1::1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4 of loopback
    "2002:a9fe:a9fe::1",  # 6to4 of the metadata address
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # Teredo, client 8.8.8.8: refused all the same
    "2001:db8::1",
    "100::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


def test_refusal_names_what_was_wrapped() -> None:
    why = refusal(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))
    assert why is not None and "169.254.169.254" in why and "NAT64" in why


def test_python_flags_alone_would_let_these_through() -> None:
    # the reason the guard keeps its own tables and unwraps first
    for address in ("224.0.0.1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::", "192.0.0.9"):
        assert ipaddress.ip_address(address).is_global
        assert refusal(ipaddress.ip_address(address))


def test_allow_list_makes_a_range_public_but_not_its_wrappings() -> None:
    allow = AddressPolicy(["127.0.0.2/32"]).allow
    assert refusal(ipaddress.ip_address("127.0.0.2"), allow) is None
    assert refusal(ipaddress.ip_address("::ffff:127.0.0.2"), allow) is None  # the same host
    assert refusal(ipaddress.ip_address("127.0.0.1"), allow)
    assert refusal(ipaddress.ip_address("2002:7f00:2::"), allow)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("file:///etc/passwd", "scheme"),
        ("gopher://example.com/", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("http://user:pw@example.com/", "user-info"),
        ("http://user@example.com/", "user-info"),
        ("http:///nohost", "no host"),
        ("http://exa mple.com/", "invalid"),
        ("http://example.com:99999/", "invalid URL"),
    ],
)
def test_check_url_refuses_bad_urls(url: str, words: str) -> None:
    with pytest.raises(FetchError, match=words) as info:
        check_url(url)
    assert not isinstance(info.value, AddressRefused)


def test_check_url_refuses_literal_addresses_without_a_lookup() -> None:
    with pytest.raises(AddressRefused, match="loopback"):
        check_url("http://0x7f000001/")
    assert check_url("http://Example.COM/path") == "example.com"


# --- against real servers: zero requests for every refused case ------------------------------

REFUSED_HOSTS = [
    "127.0.0.1",
    "2130706433",
    "0x7f000001",
    "127.1",
    "0177.0.0.1",
    "0x7f.1",
    "127.0.0.1.",
    "017700000001",
    "localhost",
    "0",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::ffff:0:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",
    "169.254.169.254",
    "[64:ff9b::a9fe:a9fe]",
    "10.0.0.1",
    "192.168.0.1",
    "172.16.0.1",
    "100.64.0.1",
    "224.0.0.1",
    "[fe80::1]",
    "[fd00::1]",
    "[::]",
    "1.2.3.256",
]


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_refused_hosts_never_reach_the_server(
    host: str, loopback: LocalWeb, settings: Settings
) -> None:
    page = fetch_one(f"http://{host}:{loopback.port}/", settings, cache=None)
    assert page.status == "blocked-address", page
    assert page.reason
    assert loopback.connections == 0 and loopback.requests == 0


def test_allowed_public_server_is_fetched(public: LocalWeb, settings: Settings) -> None:
    page = fetch_one(public.url("/"), settings, cache=None)
    assert page.status == "ok", page
    assert public.requests == 1


def test_redirect_to_loopback_is_refused(
    public: LocalWeb, loopback: LocalWeb, settings: Settings
) -> None:
    targets = [
        loopback.url("/"),
        f"http://localhost:{loopback.port}/",
        f"http://2130706433:{loopback.port}/",
        f"http://[::ffff:127.0.0.1]:{loopback.port}/",
    ]
    hits = []
    for i, target in enumerate(targets):
        url = public.add(f"/go{i}", Route(302, b"", {"Location": target}))
        hits.append(Hit(title="", url=url))
    pages = fetch_pages(hits, settings.replace(enough_pages=8), cache=None)
    assert [p.status for p in pages] == ["blocked-address"] * len(targets), pages
    assert all(p.http_status == 302 for p in pages)
    assert public.requests == len(targets)
    assert loopback.connections == 0 and loopback.requests == 0


def test_user_info_is_refused_before_any_request(public: LocalWeb, settings: Settings) -> None:
    page = fetch_one(f"http://user:secret@127.0.0.2:{public.port}/", settings, cache=None)
    assert page.status == "error" and "user-info" in page.reason
    assert public.connections == 0


def test_proxy_variables_are_ignored(
    public: LocalWeb, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalWeb("127.0.0.3") as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url("/"))
        page = fetch_one(public.url("/"), settings, cache=None)
        assert page.status == "ok"
        assert proxy.connections == 0


# --- resolution: once, every answer checked, connect to the checked address -----------------


def test_one_lookup_and_the_connection_goes_to_the_checked_address(
    public: LocalWeb, settings: Settings
) -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        # a rebinding resolver: the first answer is the allowed server, later ones loopback
        return ["127.0.0.2"] if len(calls) == 1 else ["127.0.0.1"]

    # "rebind.test" exists in no DNS: had anything looked it up again, the fetch would fail
    transport = GuardedTransport(ALLOW, resolver=resolver)
    page = fetch_one(
        f"http://rebind.test:{public.port}/", settings, transport=transport, cache=None
    )
    assert page.status == "ok", page
    assert calls == ["rebind.test"]
    assert public.requests == 1


def test_a_later_connection_that_rebinds_is_refused(
    public: LocalWeb, loopback: LocalWeb, settings: Settings
) -> None:
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])
    transport = GuardedTransport(ALLOW, resolver=lambda host, port: next(answers))
    # the first response closes its connection, so the redirect needs a second connect
    public.add(
        "/close",
        Route(302, b"", {"Location": f"http://rebind.test:{public.port}/", "Connection": "close"}),
    )
    page = fetch_one(
        f"http://rebind.test:{public.port}/close", settings, transport=transport, cache=None
    )
    assert page.status == "blocked-address", page
    assert loopback.requests == 0 and public.requests == 1


def test_one_private_answer_among_public_ones_refuses_the_host(
    public: LocalWeb, loopback: LocalWeb, settings: Settings
) -> None:
    transport = GuardedTransport(ALLOW, resolver=lambda host, port: ["127.0.0.2", "127.0.0.1"])
    page = fetch_one(f"http://mixed.test:{public.port}/", settings, transport=transport, cache=None)
    assert page.status == "blocked-address" and "127.0.0.1" in page.reason
    assert public.connections == 0 and loopback.connections == 0


def test_unresolvable_host_is_an_error_not_a_hang(settings: Settings) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    transport = GuardedTransport(ALLOW, resolver=resolver)
    page = fetch_one("http://nowhere.test/", settings, transport=transport, cache=None)
    assert page.status == "error" and "resolve" in page.reason


# --- TLS: connect to the IP, verify the hostname ---------------------------------------------


def _certificates(tmp_path, name: str):
    """A CA and a leaf certificate for `name`, written as PEM files."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def build(subject: str, issuer_name, issuer_key, key, *, ca: bool):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Search Duel test CA")])
    ca = build("Search Duel test CA", ca_name, ca_key, ca_key, ca=True)
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = build(name, ca_name, ca_key, leaf_key, ca=False)
    pem = serialization.Encoding.PEM
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(pem))
    (tmp_path / "leaf.pem").write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
    (tmp_path / "leaf.key").write_bytes(
        leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return tmp_path / "ca.pem", tmp_path / "leaf.pem", tmp_path / "leaf.key"


def test_tls_verifies_the_hostname_while_connecting_to_the_checked_ip(
    tmp_path, settings: Settings
) -> None:
    ca, cert, key = _certificates(tmp_path, "site.test")
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_ctx.sni_callback = lambda sock, name, ctx: sni.append(name)
    client_ctx = ssl.create_default_context(cafile=str(ca))
    names = {"site.test": ["127.0.0.2"], "other.test": ["127.0.0.2"]}

    def transport() -> GuardedTransport:
        return GuardedTransport(ALLOW, verify=client_ctx, resolver=lambda h, p: names[h])

    with LocalWeb("127.0.0.2", ssl_context=server_ctx) as web:
        web.add("/", PAGE)
        good = fetch_one(web.url("/", "site.test"), settings, transport=transport(), cache=None)
        assert good.status == "ok", good
        assert sni == ["site.test"]
        # same IP, a name the certificate does not cover: verification must fail
        wrong = fetch_one(web.url("/", "other.test"), settings, transport=transport(), cache=None)
        assert wrong.status == "error" and "certificate" in wrong.reason.lower(), wrong
        # the bare IP is not in the certificate either
        bare = fetch_one(web.url("/"), settings, transport=transport(), cache=None)
        assert bare.status == "error", bare
        assert web.requests == 1


def test_transport_is_reusable_across_calls(public: LocalWeb, settings: Settings) -> None:
    transport = GuardedTransport(ALLOW)
    for _ in range(2):
        pages = fetch_pages(
            [Hit("", public.url("/"))], settings, transport=transport, cache=PageCache()
        )
        assert pages[0].status == "ok"
    assert public.requests == 2
