"""A certificate authority made for one cluster, for middleware that listens beyond loopback.

Dask has no shared secret of its own: without TLS anyone who reaches the scheduler runs code as
the user. Each cluster gets its own CA and one certificate signed by it, used by the scheduler,
the workers and the user's client alike; nothing outside the cluster trusts it.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

TLS_FILES = ("tls-ca.pem", "tls-cert.pem", "tls-key.pem")


def needs_tls(listen_host: str) -> bool:
    """Plain TCP only where nobody else on the network can reach the listener."""
    try:
        return not ipaddress.ip_address(listen_host).is_loopback
    except ValueError:
        return listen_host != "localhost"


def make_cluster_tls(cluster_name: str, hosts: list[str] | None = None, days: int = 30) -> dict[str, bytes]:
    """PEM files by name: the CA certificate, and a certificate + key for every member."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"vc3tui cluster {cluster_name} CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    for host in [socket.getfqdn(), *(hosts or [])]:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"vc3tui cluster {cluster_name}")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "tls-ca.pem": ca_cert.public_bytes(serialization.Encoding.PEM),
        "tls-cert.pem": cert.public_bytes(serialization.Encoding.PEM),
        "tls-key.pem": key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
