"""The fetch guard: which URLs and addresses Search Duel may connect to, enforced at connect time.

Two layers, so that neither a clever URL nor a DNS answer can reach an internal service:

1. `check_url` refuses a URL before any request: only http/https, no user-info, and a host
   written as an IP literal in any spelling (``2130706433``, ``0x7f000001``, ``127.1``,
   ``0177.0.0.1``, ``[::ffff:127.0.0.1]`` ...) is parsed and checked without a lookup.
2. `GuardedTransport` is an httpx transport whose network backend resolves the host once,
   refuses the connection unless *every* resolved address is public, and then connects to
   one of the checked addresses itself. There is no second lookup, so DNS rebinding cannot
   swap the address between check and connect; TLS still verifies the certificate against
   the hostname (SNI and ``server_hostname`` come from the URL, not from the IP).

An address is public when it is not in `REFUSED_V4` / `REFUSED_V6`, Python calls it global,
and, for the forms that wrap an IPv4 address (IPv4-mapped, SIIT, 6to4, Teredo, NAT64), the
wrapped address is public too. Teredo is refused whatever it wraps (nothing public is served
from it); NAT64 and SIIT addresses are judged by the IPv4 address they translate to.
``ipaddress``'s own flags are not enough: it calls 224.0.0.1, 192.0.0.9,
``64:ff9b::a9fe:a9fe`` and ``2002:7f00:1::`` global. CIDRs in ``Settings.allow_address``
are treated as public (tests and intranets only).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import typing
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpcore
import httpx

from ..errors import AddressRefused, FetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# (host, port) -> addresses as strings; the default is the system resolver.
Resolver = Callable[[str, int], Sequence[str]]

ALLOWED_SCHEMES = ("http", "https")

_N4 = ipaddress.IPv4Network
_N6 = ipaddress.IPv6Network

# IPv4 ranges that never hold a public web server (IANA special-purpose registry).
REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_N4("0.0.0.0/8"), "'this network' / unspecified"),
    (_N4("10.0.0.0/8"), "private (10/8)"),
    (_N4("100.64.0.0/10"), "shared address space (100.64/10)"),
    (_N4("127.0.0.0/8"), "loopback"),
    (_N4("169.254.0.0/16"), "link-local (cloud metadata)"),
    (_N4("172.16.0.0/12"), "private (172.16/12)"),
    (_N4("192.0.0.0/24"), "IETF protocol assignments (192.0.0/24)"),
    (_N4("192.0.2.0/24"), "documentation"),
    (_N4("192.88.99.0/24"), "6to4 relay anycast"),
    (_N4("192.168.0.0/16"), "private (192.168/16)"),
    (_N4("198.18.0.0/15"), "benchmarking (198.18/15)"),
    (_N4("198.51.100.0/24"), "documentation"),
    (_N4("203.0.113.0/24"), "documentation"),
    (_N4("224.0.0.0/4"), "multicast"),
    (_N4("240.0.0.0/4"), "reserved / broadcast"),
)

# IPv6 ranges refused outright. The wrapping forms are unwrapped first (see _wrapped_v4).
REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_N6("::/128"), "unspecified"),
    (_N6("::1/128"), "loopback"),
    (_N6("::/96"), "IPv4-compatible (deprecated)"),
    (_N6("64:ff9b:1::/48"), "local-use NAT64"),
    (_N6("100::/64"), "discard-only"),
    (_N6("2001::/32"), "Teredo"),
    (_N6("2001:db8::/32"), "documentation"),
    (_N6("3fff::/20"), "documentation"),
    (_N6("5f00::/16"), "segment routing"),
    (_N6("fc00::/7"), "unique local (fc00::/7)"),
    (_N6("fe80::/10"), "link-local"),
    (_N6("fec0::/10"), "site-local (deprecated)"),
    (_N6("ff00::/8"), "multicast"),
)

_MAPPED = _N6("::ffff:0:0/96")  # IPv4-mapped: the same destination as the IPv4 address
_TRANSLATED = _N6("::ffff:0:0:0/96")  # SIIT IPv4-translated
_NAT64 = _N6("64:ff9b::/96")  # well-known NAT64 prefix, reaches the embedded IPv4 address


class InvalidHost(ValueError):
    """A host that looks like a number but is not a valid IPv4 address in any spelling."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address a host string denotes when it is an IP literal, in any spelling; else None.

    Accepts what resolvers and browsers accept: bracketed IPv6, a trailing dot, and the BSD
    ``inet_aton`` forms (1 to 4 parts, each decimal, octal with a leading 0, or hex with 0x).
    Raises InvalidHost for a host whose last label is numeric but which is no valid address
    (browsers refuse those too, and a resolver might read them in its own way).
    """
    h = host.strip()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if ":" in h:
        try:
            return ipaddress.IPv6Address(h)
        except ValueError:
            raise InvalidHost(f"{host!r} is not a valid IPv6 address") from None
    if h.endswith("."):
        h = h[:-1]
    parts = h.split(".")
    if not (parts[-1].isdigit() or _number(parts[-1]) is not None):
        return None  # an ordinary host name
    if len(parts) > 4:
        raise InvalidHost(f"{host!r} is not a valid IPv4 address")
    numbers = [_number(p) for p in parts]
    if any(n is None for n in numbers):
        raise InvalidHost(f"{host!r} is not a valid IPv4 address")
    values = typing.cast(list[int], numbers)
    *head, last = values
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        raise InvalidHost(f"{host!r} is out of range for an IPv4 address")
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _number(part: str) -> int | None:
    """One inet_aton component: 0x1f (hex), 017 (octal), 17 (decimal); None if not a number."""
    p = part.lower()
    try:
        if p.startswith("0x"):
            return int(p[2:] or "0", 16)
        if len(p) > 1 and p.startswith("0"):
            return int(p[1:], 8)
        if p.isdigit():
            return int(p)
    except ValueError:
        return None
    return None


def _networks(cidrs: Iterable[str | IPNetwork]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def normalize(ip: IPAddress) -> IPAddress:
    """IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address itself; drop an IPv6 zone."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.scope_id:
            return ipaddress.IPv6Address(ip.compressed.split("%")[0])
    return ip


def _wrapped_v4(ip: ipaddress.IPv6Address) -> list[tuple[ipaddress.IPv4Address, str]]:
    """IPv4 addresses an IPv6 address carries, with the name of the wrapping."""
    out: list[tuple[ipaddress.IPv4Address, str]] = []
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _TRANSLATED:
        out.append((low32, "IPv4-translated"))
    if ip in _NAT64:
        out.append((low32, "NAT64"))
    if ip.sixtofour is not None:
        out.append((ip.sixtofour, "6to4"))
    if ip.teredo is not None:
        server, client = ip.teredo
        out += [(client, "Teredo client"), (server, "Teredo server")]
    return out


def refusal(ip: IPAddress, allow: Sequence[IPNetwork] = ()) -> str | None:
    """Why `ip` is not public (a short phrase), or None when it may be connected to."""
    ip = normalize(ip)
    if any(ip.version == net.version and ip in net for net in allow):
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        for inner, how in _wrapped_v4(ip):
            why = refusal(inner)  # the allow list covers direct addresses only
            if why:
                return f"{how} address wrapping {inner} ({why})"
        if ip in _NAT64 or ip in _TRANSLATED:
            # translated at the network edge to the (public) IPv4 address inside; Python
            # calls these reserved only because they sit in ::/8
            return None
        table: Iterable[tuple[IPNetwork, str]] = REFUSED_V6
    else:
        table = REFUSED_V4
    for net, label in table:
        if ip in net:
            return label
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        return "not globally routable"
    return None


class AddressPolicy:
    """Refuses non-public addresses; `allow` CIDRs are treated as public."""

    def __init__(self, allow: Iterable[str | IPNetwork] = ()) -> None:
        self.allow = _networks(allow)

    def check(self, ip: IPAddress, host: str = "", *, literal: bool = False) -> None:
        """Raise AddressRefused unless `ip` is public (or allowed); the message names host."""
        why = refusal(ip, self.allow)
        if why:
            verb = "is" if literal else "resolves to"
            shown = f"{host} {verb} {ip}" if host and host.strip("[]") != str(ip) else str(ip)
            raise AddressRefused(f"{shown}: {why}")

    def check_host_literal(self, host: str) -> IPAddress | None:
        """Check a host written as an IP literal; None for a name that needs a lookup."""
        try:
            ip = parse_ip_literal(host)
        except InvalidHost as exc:
            raise AddressRefused(str(exc)) from None
        if ip is not None:
            self.check(ip, host, literal=True)
        return ip


def check_url(url: str, policy: AddressPolicy | None = None) -> str:
    """Refuse a URL the fetcher must not request; return its host (lower case).

    Raises FetchError (status "error") for a scheme other than http/https, user-info or a
    missing host, and AddressRefused for an IP-literal host that is not public. Names are
    checked later, at connect time, against what they resolve to.
    """
    policy = policy or AddressPolicy()
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise FetchError(f"invalid URL: {exc}") from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        shown = parts.scheme or "(none)"
        raise FetchError(f"scheme {shown!r} is not fetched (http and https only)")
    if "@" in parts.netloc:
        raise FetchError("URLs with user-info (user:password@) are not fetched")
    if "\\" in parts.netloc or any(c.isspace() for c in parts.netloc):
        raise FetchError("invalid characters in the URL's host")
    host = (parts.hostname or "").lower()
    if not host:
        raise FetchError("URL has no host")
    policy.check_host_literal(host)
    return host


# Lookups run here, not in the event loop's default executor: asyncio.run waits for that
# executor on exit, so one hanging lookup would hold the whole fetch phase past its deadline.
_DNS_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="searchduel-dns")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IPv4 and IPv6, in its order)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos if info[0] in (socket.AF_INET, socket.AF_INET6)]


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that resolves once, checks every address, connects to one."""

    def __init__(
        self,
        policy: AddressPolicy,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy
        self.resolver = resolver or system_resolver
        self.inner = inner or httpcore.AnyIOBackend()

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        """The checked addresses for host; AddressRefused if any of them is not public."""
        literal = self.policy.check_host_literal(host)
        if literal is not None:
            return [normalize(literal)]
        loop = asyncio.get_running_loop()
        try:
            found = await loop.run_in_executor(_DNS_POOL, self.resolver, host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses: list[IPAddress] = []
        for text in found:
            ip = normalize(ipaddress.ip_address(text))
            self.policy.check(ip, host)  # one non-public answer refuses the host
            if ip not in addresses:
                addresses.append(ip)
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        return addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for ip in await self.resolve(host, port):
            try:
                # An IP literal: the inner backend connects without a lookup of its own.
                return await self.inner.connect_tcp(
                    str(ip),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, *args: typing.Any, **kwargs: typing.Any) -> typing.NoReturn:
        raise AddressRefused("unix sockets are never fetched")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


# httpcore errors as httpx's, so callers handle one family (the same map httpx uses).
_HTTPCORE_TO_HTTPX: tuple[tuple[type[Exception], type[httpx.HTTPError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


def _to_httpx(exc: Exception) -> Exception:
    for core, mapped in _HTTPCORE_TO_HTTPX:
        if isinstance(exc, core):
            return mapped(str(exc))
    return exc


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: typing.AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except httpcore.TimeoutException as exc:
            raise _to_httpx(exc) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise _to_httpx(exc) from exc

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


def _ssl_context(verify: typing.Any) -> ssl.SSLContext:
    return httpx.create_ssl_context(verify=verify, trust_env=False)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """The system-independent CA bundle, loaded once: it costs 20-40 ms per load."""
    return _ssl_context(True)


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that only ever connects to checked public addresses.

    No proxies (an environment proxy would route around the guard), HTTP/1.1, TLS verified
    against the URL's hostname. `resolver` replaces the system resolver (tests use it to
    simulate DNS answers); `verify` is passed to ``httpx.create_ssl_context``.
    """

    def __init__(
        self,
        allow: Iterable[str | IPNetwork] = (),
        *,
        verify: typing.Any = True,
        resolver: Resolver | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=32, max_keepalive_connections=8)
        self.policy = AddressPolicy(allow)
        self.backend = GuardedBackend(self.policy, resolver)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_default_ssl_context() if verify is True else _ssl_context(verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=self.backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        if url.scheme not in ALLOWED_SCHEMES:
            raise FetchError(f"scheme {url.scheme!r} is not fetched (http and https only)")
        if url.userinfo:
            raise FetchError("URLs with user-info (user:password@) are not fetched")
        extensions = {k: v for k, v in request.extensions.items() if k != "sni_hostname"}
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            mapped = _to_httpx(exc)
            if mapped is exc:
                raise
            raise mapped from exc
        assert isinstance(response.stream, typing.AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
