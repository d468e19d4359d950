"""SSRF guard: which addresses a fetch may reach, and connections that check the address they
actually connected to.

The guarded connections resolve the host within the source's deadline (a resolver that never
answers would otherwise hang the source), connect to the address resolved, and check that
address (no second lookup, so DNS rebinding cannot slip in). A URL the curator wrote in
sources.yaml is trusted as written; redirects and followed links are checked.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from urllib.parse import urlsplit

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from aggregator.errors import FetchRefused
from aggregator.collect.fetch.state import RequestContext, current_context

_ALWAYS_BLOCKED = (ipaddress.ip_network("100.64.0.0/10"),)  # CGNAT: not "private" to Python
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class SSRFBlocked(Exception):
    """Raised inside the connection layer; mapped to FetchRefused(reason="ssrf")."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"{host} resolves to {address}")
        self.host = host
        self.address = address


def is_blocked_address(address: str, allow: Iterable[ipaddress._BaseNetwork] = ()) -> bool:
    """True for loopback, private, link-local, CGNAT, multicast, unspecified and other non-global
    addresses (v4 and v6, v4-mapped included), unless a network in `allow` covers it."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if ip.version == 6:  # v4 addresses carried inside v6: judge the v4 address they lead to
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
        elif ip in _NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        elif ip.sixtofour:
            ip = ip.sixtofour
        elif ip.teredo:
            return True
    for net in allow:
        if ip.version == net.version and ip in net:
            return False
    if any(ip.version == net.version and ip in net for net in _ALWAYS_BLOCKED):
        return True
    return (not ip.is_global) or ip.is_multicast or ip.is_unspecified or ip.is_loopback \
        or ip.is_link_local or ip.is_private or ip.is_reserved


class _GuardMixin:
    """Connections that resolve the host within the source's deadline (a resolver that never
    answers would otherwise hang the source), connect to the address resolved, and check the
    address actually connected to (SSRF; no second lookup, so DNS rebinding cannot slip in)."""

    def _new_conn(self):  # type: ignore[override]
        ctx = current_context()
        sock = super()._new_conn() if ctx is None else self._connect_within(ctx)
        if ctx is not None:
            watch_and_check(sock, self.host, ctx)
        return sock

    def _connect_within(self, ctx: RequestContext):
        return open_socket(self, self._dns_host, self.port, self.timeout, max(0.05, ctx.state.remaining()),
                           source_address=self.source_address, socket_options=self.socket_options, name=self.host)


def open_socket(conn, host: str, port: int, timeout, budget: float, *, source_address=None,
                socket_options=None, name: str | None = None):
    """Resolve host within `budget` seconds and connect to the first address that answers, raising
    urllib3's errors (about `conn`) as its own connections do."""
    from urllib3.connection import HTTPConnection
    from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
    from urllib3.util.connection import create_connection

    if socket_options is None:
        socket_options = HTTPConnection.default_socket_options  # TCP_NODELAY, as urllib3's
    try:
        infos = resolve(host, port, budget)
    except socket.gaierror as e:
        raise NameResolutionError(name or host, conn, e) from e
    except TimeoutError as e:
        raise ConnectTimeoutError(conn, f"Resolving {name or host} did not finish within the deadline") from e
    error: Exception | None = None
    for info in infos:
        try:
            return create_connection((info[4][0], port), timeout, source_address=source_address,
                                     socket_options=socket_options)
        except socket.timeout as e:
            error = ConnectTimeoutError(conn, f"Connection to {name or host} timed out. (connect timeout={timeout})")
            error.__cause__ = e
        except OSError as e:
            error = NewConnectionError(conn, f"Failed to establish a new connection: {e}")
    raise error or NewConnectionError(conn, f"{name or host} has no address")


def connect_guarded(conn, host: str, port: int, timeout: float, ctx: RequestContext | None):
    """A socket connected to host the guarded way: resolved within the source's deadline (or the
    connect timeout without one), watched for the deadline, its address checked (SSRF)."""
    budget = max(0.05, ctx.state.remaining()) if ctx is not None else max(0.05, timeout or 10.0)
    sock = open_socket(conn, host, port, timeout, budget)
    if ctx is not None:
        watch_and_check(sock, host, ctx)
    return sock


def watch_and_check(sock, host: str, ctx: RequestContext) -> None:
    """The request's deadline watches sock; the address it reached is checked (SSRF): refused,
    the socket is closed."""
    ctx.watch(sock)
    if ctx.ip_check is None:
        return
    try:
        peer = sock.getpeername()[0]
    except OSError:
        peer = ""
    try:
        ctx.ip_check(host, peer)
    except SSRFBlocked:
        sock.close()
        raise


def resolve(host: str, port: int, timeout: float) -> list:
    """socket.getaddrinfo, given up after `timeout` seconds (TimeoutError); literal IPs at once."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (str(ip), port))]
    result: dict = {}
    done = threading.Event()

    def lookup() -> None:
        try:
            result["infos"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except BaseException as e:  # handed to the caller
            result["error"] = e
        finally:
            done.set()

    threading.Thread(target=lookup, name="fetch-dns", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"resolving {host} took longer than {timeout:.1f} s")
    if "error" in result:
        raise result["error"]
    return result["infos"]


class GuardedHTTPConnection(_GuardMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardMixin, HTTPSConnection):
    pass


class _WatchedPoolMixin:
    """A kept-alive connection handed out again is watched by the new request's deadline."""

    def _get_conn(self, timeout=None):  # type: ignore[override]
        conn = super()._get_conn(timeout)
        ctx = current_context()
        if ctx is not None:
            ctx.watch(getattr(conn, "sock", None))
        return conn


class GuardedHTTPPool(_WatchedPoolMixin, HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(_WatchedPoolMixin, HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


def check_redirect(current: str, target: str) -> None:
    """Refuse a redirect hop to a non-http(s) scheme, or from https down to http."""
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchRefused(f"{current} redirects to a {scheme or 'schemeless'}: URL ({target[:80]}); only "
                           "http and https are followed", reason="bad_scheme")
    if urlsplit(current).scheme.lower() == "https" and scheme == "http":
        raise FetchRefused(f"{current} redirects from https down to plain http ({target[:80]}); refused",
                           reason="insecure_redirect")


def ssrf_error(url: str, e: SSRFBlocked) -> FetchRefused:
    return FetchRefused(f"{url}: {e.host} is a private or local address ({e.address}); a redirect or a "
                        "followed link may not lead there. Add the network to fetch.allow_private if "
                        "this is intended", reason="ssrf")
