"""Channels to essayflow services: the one place that decides plaintext or TLS.

With ``ESSAYFLOW_TLS_CA_FILE`` set, channels verify the servers' certificates against
that CA (servers get theirs from ``ESSAYFLOW_TLS_CERT_FILE`` / ``_KEY_FILE``);
development stays plaintext on 127.0.0.1.
"""

from __future__ import annotations

import grpc

from essayflow_runtime.config import Settings


def open_channel(settings: Settings, address: str) -> grpc.aio.Channel:
    options = [
        ("grpc.max_receive_message_length", settings.grpc_max_message_bytes),
        ("grpc.max_send_message_length", settings.grpc_max_message_bytes),
    ]
    if settings.tls_ca_file:
        with open(settings.tls_ca_file, "rb") as ca:
            credentials = grpc.ssl_channel_credentials(root_certificates=ca.read())
        return grpc.aio.secure_channel(address, credentials, options=options)
    return grpc.aio.insecure_channel(address, options=options)
