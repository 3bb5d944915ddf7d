"""Running the app with uvicorn, and the rule that a public server needs an API key."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from typing import Any

from shelfwise.errors import ConfigError

__all__ = ["API_KEY_ENV", "allowed_hosts_for", "is_loopback", "require_key_for_host", "run"]

API_KEY_ENV = "SHELFWISE_API_KEY"


def is_loopback(host: str) -> bool:
    """True when ``host`` only accepts connections from this machine.

    ``localhost`` and names resolving only to loopback addresses count; ``0.0.0.0``, ``::``
    and anything unresolvable do not (fail closed).
    """
    name = host.strip().strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def require_key_for_host(host: str, api_key: str | None, *, insecure_no_auth: bool = False,
                         ) -> None:
    """Refuse to serve a non-loopback ``host`` without an API key.

    Raises:
        ConfigError: ``host`` is reachable from other machines, ``api_key`` is empty and
            ``insecure_no_auth`` is false; or ``api_key`` is blank or not printable ASCII.
    """
    from shelfwise.serve.security import check_api_key

    if api_key is not None and not api_key.strip():
        raise ConfigError(f"--api-key (or ${API_KEY_ENV}) is empty")
    check_api_key(api_key, f"--api-key (or ${API_KEY_ENV})")
    if api_key is None and not insecure_no_auth and not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host!r} without an API key: other machines could reach it. "
            f"Pass --api-key KEY or set ${API_KEY_ENV} (or bind to 127.0.0.1; "
            "--insecure-no-auth turns this check off)")


def allowed_hosts_for(host: str, api_key: str | None, extra: Sequence[str] = (),
                      ) -> list[str] | None:
    """The ``Host`` names a server bound to ``host`` answers, or ``None`` for no check.

    A keyless server checks the Host header (DNS rebinding: a web page on another name can
    reach a loopback server, but its requests name that other host): the loopback names
    (:data:`~shelfwise.serve.security.LOOPBACK_HOSTS`), the bound address itself when it is
    a specific one, and ``extra`` (``--allowed-host``). A server with a key checks only when
    ``extra`` names hosts (a rebound request cannot send the key anyway).

    Raises:
        ConfigError: an ``extra`` name Starlette cannot match (see ``check_allowed_hosts``).
    """
    from shelfwise.serve.security import LOOPBACK_HOSTS, check_allowed_hosts

    extra = check_allowed_hosts(extra)
    if api_key is not None and not extra:
        return None
    hosts = list(LOOPBACK_HOSTS)
    bound = host.strip().strip("[]").lower()
    if bound and bound not in ("0.0.0.0", "::"):
        try:
            ip = ipaddress.ip_address(bound)
        except ValueError:
            extra = [bound, *extra]
        else:
            extra = [f"[{ip.compressed}]" if ip.version == 6 else ip.compressed, *extra]
    hosts += [h for i, h in enumerate(extra) if h not in hosts and h not in extra[:i]]
    return hosts


def run(app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info",
        ) -> None:
    """Serve ``app`` with uvicorn until interrupted (one process; the app is thread-safe)."""
    import uvicorn

    if not 0 <= port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {port}")
    uvicorn.run(app, host=host, port=port, log_level=log_level, proxy_headers=False,
                server_header=False)
