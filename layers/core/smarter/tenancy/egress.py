"""The egress policy: which addresses a plugin may open a connection to.

One policy for every outbound connection a plugin makes, HTTP and SQL alike,
owned by the operator and never by a tenant:

- Public unicast addresses are reachable.
- Everything else is refused: private (10/8, 172.16/12, 192.168/16),
  loopback, link-local, unique-local (fc00::/7), site-local (fec0::/10),
  shared/CGNAT (100.64/10), multicast, reserved, unspecified, documentation
  ranges, and every IPv6 form that embeds an IPv4 address (::/96,
  ::ffff:0:0/96, ::ffff:0:0:0/96, 64:ff9b::/96, 64:ff9b:1::/48, 6to4
  2002::/16, Teredo 2001::/32), unless ...
- ... the operator allows it: `SMARTER_EGRESS_ALLOW` (template parameter
  `PluginEgressAllow`) is a comma-separated list of addresses or networks,
  each optionally with one port (`127.0.0.1:8080`, `[::1]:8080`,
  `10.1.0.0/16`). `SMARTER_EGRESS_DENY`, in the same form, wins over it (the
  local stack denies its own moto and gateway ports).
- The cloud metadata and link-local ranges (169.254/16, fe80::/10,
  fd00:ec2::/32, 100.100.100.200, 192.0.0.192) are refused even then.

A tenant's `allowHosts` can only narrow this: when a connection names hosts,
every hop must be one of them (`host` any port, `host:port` that port only),
and each is still checked here.

`localhost` and every `*.localhost` name mean 127.0.0.1 without asking DNS
(RFC 6761), so the operator's loopback allowance covers them all alike; any
other host must be an IP address without a zone id or a DNS name of
letters, digits, hyphens and underscores (`host_problem`).

Names are resolved once, every address is checked (one private address among
public ones refuses the host), and the caller connects to the address that was
checked, so DNS cannot answer differently in between (rebinding).
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Iterable, Sequence

from smarter.config import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Never reachable from a plugin, whatever the operator allows.
ALWAYS_REFUSED: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # link-local: EC2/ECS metadata, the Lambda credentials endpoint, Route 53 resolver, NTP
        "fe80::/10",
        "fd00:ec2::/32",  # the EC2 metadata service over IPv6
        "100.100.100.200/32",  # Alibaba metadata
        "192.0.0.192/32",  # Oracle metadata
        "0.0.0.0/8",  # "this network": 0.0.0.0 connects to the local host
        "::/128",
    )
)

# IPv6 ranges that carry an IPv4 address inside (or are deprecated local
# ranges). The IPv4-mapped form (::ffff:a.b.c.d) is judged as its IPv4
# address; the NAT64 well-known prefix as its IPv4 address too (DNS64 on a
# dual-stack VPC synthesises those for public hosts); the rest are refused
# outright unless the operator allows them.
EMBEDS_IPV4: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "::/96",  # IPv4-compatible (deprecated): ::a9fe:a9fe is 169.254.169.254
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b:1::/48",  # local-use NAT64
        "2002::/16",  # 6to4
        "2001::/32",  # Teredo
        "fec0::/10",  # site-local (deprecated, still routed by some stacks)
        "100::/64",  # discard-only
    )
)
MAPPED = ipaddress.ip_network("::ffff:0:0/96")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SHARED = ipaddress.ip_network("100.64.0.0/10")


class EgressRefused(Exception):
    """The destination is not one a plugin may reach; the message says why."""


class ResolveFailed(Exception):
    """The host name did not resolve."""


@dataclass(frozen=True)
class Rule:
    network: IPNetwork
    port: int | None = None

    def matches(self, ip: IPAddress, port: int | None) -> bool:
        return ip.version == self.network.version and ip in self.network and (self.port is None or port == self.port)


def parse_rules(text: str | Iterable[str]) -> tuple[Rule, ...]:
    """`10.0.0.0/8, 127.0.0.1:8080, [::1]:9000, localhost` -> rules.
    `localhost` means 127.0.0.0/8 and ::1. A bad entry is a startup error."""
    items = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t and t.strip()]
    rules: list[Rule] = []
    for item in items:
        port: int | None = None
        spec = item
        if spec.startswith("["):
            inner, _, rest = spec[1:].partition("]")
            spec = inner
            if rest.startswith(":"):
                port = int(rest[1:])
        elif spec.count(":") == 1:
            spec, _, port_text = spec.partition(":")
            port = int(port_text)
        if spec.lower() == "localhost":
            rules += [Rule(ipaddress.ip_network("127.0.0.0/8"), port), Rule(ipaddress.ip_network("::1/128"), port)]
            continue
        try:
            rules.append(Rule(ipaddress.ip_network(spec, strict=False), port))
        except ValueError:
            raise ValueError(f"egress rule {item!r} is not an address or network (such as 10.0.0.0/8 or 127.0.0.1:8080)") from None
    return tuple(rules)


@dataclass(frozen=True)
class Policy:
    allow: tuple[Rule, ...] = ()
    deny: tuple[Rule, ...] = ()

    def refusal(self, address: str, port: int | None) -> str | None:
        """Why this address may not be reached ("127.0.0.1 is not a public address ..."), or None when it may."""
        why = self.why_not(address, port)
        return f"{address} {why}" if why else None

    def why_not(self, address: str, port: int | None) -> str | None:
        ip = plain(address)
        if any(ip in net for net in ALWAYS_REFUSED if ip.version == net.version):
            return "is a link-local or cloud metadata address; plugins may never reach it"
        if any(rule.matches(ip, port) for rule in self.deny):
            return f"port {port} is reserved for the platform itself"
        if is_public(ip):
            return None
        if any(rule.matches(ip, port) for rule in self.allow):
            return None
        return (
            "is not a public address (private, loopback, shared, reserved or an IPv6 form of one); "
            "only the platform operator can allow it (SMARTER_EGRESS_ALLOW), a manifest cannot"
        )


@functools.lru_cache(maxsize=8)
def _policy(allow: tuple[str, ...], deny: tuple[str, ...]) -> Policy:
    return Policy(parse_rules(allow), parse_rules(deny))


def policy() -> Policy:
    """The operator's policy, from the environment (read once per container)."""
    s = settings()
    return _policy(s.egress_allow, s.egress_deny)


def plain(address: str | IPAddress) -> IPAddress:
    """The address an address means: ::ffff:a.b.c.d and 64:ff9b::a.b.c.d are a.b.c.d."""
    ip = address if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else ipaddress.ip_address(str(address).split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in MAPPED:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def is_public(address: str | IPAddress) -> bool:
    """A globally routable unicast address that embeds no IPv4 address."""
    ip = plain(address)
    if ip.is_multicast or ip.is_private or ip.is_reserved or ip.is_loopback or ip.is_link_local or ip.is_unspecified:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and ip not in SHARED
    if any(ip in net for net in EMBEDS_IPV4):
        return False
    return ip.is_global


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(normalize_host(host).split("%", 1)[0])
        return True
    except ValueError:
        return False


def normalize_host(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to, IPv4 first (tests replace this)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise ResolveFailed(f"cannot resolve {host}: {exc.strerror or exc}") from None
    except UnicodeError:
        raise ResolveFailed(f"cannot resolve {host}: not a valid host name") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    # IPv4 first: Lambda functions in a VPC have no IPv6 route unless configured.
    return sorted(addresses, key=lambda a: ":" in a)


_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def host_problem(host: str) -> str | None:
    """Why a connection may not name this host, or None: an IP address
    without a zone id, or a DNS name (IDNA names in their xn-- form)."""
    h = normalize_host(host)
    if not h:
        return "no host"
    if "%" in h:
        return f"{host!r} carries an IPv6 zone id: a zone names an interface of the platform's own host, which a plugin never reaches"
    if is_ip(h):
        return None
    try:
        ascii_name = h.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not ascii_name or len(ascii_name) > 253 or not all(_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        return f"{host!r} is not a host name (labels of letters, digits and hyphens, separated by dots) or an IP address"
    return None


def split_host_port(entry: str) -> tuple[str, int | None]:
    """An allowHosts entry, `host`, `host:port` or `[v6]:port`, as (host, port or None)."""
    text = entry.strip()
    port_text = None
    if text.startswith("["):
        inner, _, rest = text[1:].partition("]")
        text = inner
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{entry!r} is not host or host:port")
            port_text = rest[1:]
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"{entry!r}: the port must be a number from 1 to 65535")
        port = int(port_text)
    host = normalize_host(text)
    problem = host_problem(host)
    if problem:
        raise ValueError(problem)
    return host, port


def host_entry(host: str, port: int | None) -> str:
    """The stored form of an allowHosts entry (IPv6 in brackets when a port follows)."""
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_tenant_hosts(host: str, tenant_hosts: Sequence[str], port: int | None = None) -> None:
    """A connection's allowHosts narrows: when it names hosts, only those (and
    only the port an entry names, when it names one)."""
    entries = [split_host_port(h) for h in tenant_hosts]
    if not entries:
        return
    host = normalize_host(host)
    if not any(name == host and (allowed is None or port is None or allowed == port) for name, allowed in entries):
        shown = host_entry(host, port) if any(name == host for name, _ in entries) else host
        raise EgressRefused(f"{shown} is not one of the connection's allowHosts ({', '.join(sorted(host_entry(*e) for e in entries))})")


def is_localhost_name(host: str) -> bool:
    h = normalize_host(host)
    return h == "localhost" or h.endswith(".localhost")


# What every localhost name means (IPv4: the local servers bind 127.0.0.1).
LOCALHOST_ADDRESSES = ("127.0.0.1",)


def checked_address(host: str, port: int, tenant_hosts: Sequence[str] = ()) -> str:
    """Resolve a host and check every address; the one address to connect to.
    Raises EgressRefused (with the reason) or ResolveFailed."""
    host = normalize_host(host)
    problem = host_problem(host)
    if problem:
        raise EgressRefused(problem)
    check_tenant_hosts(host, tenant_hosts, port)
    addresses = [host] if is_ip(host) else list(LOCALHOST_ADDRESSES) if is_localhost_name(host) else resolve(host, port)
    if not addresses:
        raise ResolveFailed(f"{host} has no address")
    rules = policy()
    for address in addresses:
        why = rules.why_not(address, port)
        if why:
            if address == host:
                raise EgressRefused(f"{address} {why}")
            raise EgressRefused(f"{host} resolves to {address}, which {why}" if why.startswith("is") else f"{host} resolves to {address}: {why}")
    return addresses[0]


def check_at_apply(host: str, port: int | None, tenant_hosts: Sequence[str] = ()) -> str | None:
    """The same check when a manifest is applied: an IP literal (or a name
    that resolves) outside the policy is refused then and there; the reason,
    or None. A name that does not resolve from here is left to call time,
    where it is checked again after resolution."""
    try:
        checked_address(host, port or 0, tenant_hosts)
    except EgressRefused as exc:
        return str(exc)
    except ResolveFailed:
        return None
    return None


def connect(host: str, port: int, timeout: float, tenant_hosts: Sequence[str] = ()) -> socket.socket:
    """A TCP connection to the checked address of host:port (for drivers that take a socket)."""
    address = checked_address(host, port, tenant_hosts)
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((address, port))
    except OSError:
        sock.close()
        raise
    return sock
