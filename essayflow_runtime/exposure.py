"""Fail closed before serving: a service that would listen beyond loopback refuses to
start unless it is protected like a production deployment.

Beyond loopback a service needs TLS, a user-token key that is not the development
secret (and, for HS256, at least 32 bytes: RFC 7518 asks for a key as long as the
hash), and service keys of its own rather than the development keys anyone can derive.
``ESSAYFLOW_INSECURE_LAB=1`` lets a throwaway lab start anyway, with a warning at every
start. Loopback (127.0.0.0/8, ::1, localhost) is development and needs none of this.
"""

from __future__ import annotations

import ipaddress

from essayflow_runtime.config import DEV_JWT_SECRET, Settings
from essayflow_runtime.errors import StartupRefused
from essayflow_runtime.logs import get_logger

log = get_logger(__name__)

MIN_SECRET_BYTES = 32


class UnsafeExposure(StartupRefused):
    """The service would be reachable beyond loopback without the protections it needs."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a bind or connect address) is this machine only. An empty host,
    0.0.0.0, :: and any name but localhost may be reachable from elsewhere."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def problems(settings: Settings) -> list[str]:
    """What is missing to listen on ``settings.host``; empty on loopback. Pure."""
    if is_loopback(settings.host):
        return []
    found = []
    if not settings.grpc_tls_enabled:
        found.append("gRPC would be plaintext (set ESSAYFLOW_TLS_CERT_FILE and ESSAYFLOW_TLS_KEY_FILE)")
    if not (settings.user_token_public_key_file or settings.user_token_private_key_file):
        if settings.jwt_secret == DEV_JWT_SECRET:
            found.append(
                "user tokens would be checked with the development secret from the repository "
                "(set ESSAYFLOW_JWT_SECRET or ESSAYFLOW_USER_TOKEN_PUBLIC_KEY_FILE)"
            )
        elif len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
            found.append(
                f"ESSAYFLOW_JWT_SECRET is {len(settings.jwt_secret.encode())} bytes; "
                f"HS256 needs at least {MIN_SECRET_BYTES}"
            )
    if not settings.service_keys_dir:
        found.append(
            "service tokens would be signed with development keys anyone can derive (set ESSAYFLOW_SERVICE_KEYS_DIR)"
        )
    return found


def check(settings: Settings, service: str) -> None:
    """Raise :class:`UnsafeExposure` naming every problem, or warn in an insecure lab."""
    found = problems(settings)
    if not found:
        return
    if settings.insecure_lab:
        log.warning(
            "ESSAYFLOW_INSECURE_LAB is set: serving beyond loopback without the protections production needs",
            service=service,
            host=settings.host,
            problems=found,
        )
        return
    raise UnsafeExposure(
        f"{service} refuses to listen on {settings.host or 'every interface'}: "
        + "; ".join(found)
        + ". Listen on 127.0.0.1 for development, or set ESSAYFLOW_INSECURE_LAB=1 for a throwaway lab."
    )


def _host_of(address: str) -> str:
    """The host of ``host:port`` or ``[v6]:port`` (an address without a port is a host)."""
    if address.startswith("[") and "]" in address:
        return address[1 : address.index("]")]
    host, sep, port = address.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else address


def check_client(settings: Settings, address: str) -> None:
    """A channel beyond loopback without TLS would send bearer tokens in the clear."""
    if settings.tls_ca_file or settings.insecure_lab or address.startswith("unix:"):
        return
    if not is_loopback(_host_of(address)):
        raise UnsafeExposure(
            f"refusing a plaintext channel to {address}: bearer tokens would travel in the clear "
            "(set ESSAYFLOW_TLS_CA_FILE, or ESSAYFLOW_INSECURE_LAB=1 for a throwaway lab)"
        )
