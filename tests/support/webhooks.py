"""Helpers for the webhook tests: create endpoints through the API, wait for deliveries."""
from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta

from tests.support import wait_for

# Quick settings for tests: retries a fraction of a second apart, loopback allowed.
FAST = {"webhook_allow_private": True, "webhook_retry_schedule": (0.2, 0.2, 0.2),
        "webhook_timeout_seconds": 2.0, "webhook_lease_seconds": 3.0}



def create_endpoint(client, account, url: str, **fields) -> dict:
    response = client.post("/api/webhooks", json={"url": url, **fields}, headers=account.headers)
    assert response.status_code == 201, response.json
    return response.json


def deliveries(client, account, endpoint_id: str) -> list[dict]:
    response = client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=account.headers)
    assert response.status_code == 200, response.json
    return response.json["data"]


def finished_delivery(client, account, endpoint_id: str, delivery_id: str | None = None) -> dict:
    """The (given, else newest) delivery once it has succeeded or failed for good."""
    def check():
        for delivery in deliveries(client, account, endpoint_id):
            if delivery_id in (None, delivery["id"]) and delivery["status"] != "pending":
                return delivery
        return None

    return wait_for(check, "a delivery to finish")


def format_delivery_log(delivery: dict) -> str:
    """One line per attempt, oldest first: what the delivery log demo prints."""
    lines = [f"delivery {delivery['id']}  event {delivery['event_id']} ({delivery['event_type']})  "
             f"status={delivery['status']}"]
    for attempt in reversed(delivery["attempts"]):
        outcome = attempt["status_code"] if attempt["error"] is None else attempt["error"]
        retry = attempt["next_retry_at"] or "-"
        lines.append(f"  attempt {attempt['attempt']}  at {attempt['started_at']}  -> {outcome}  "
                     f"{attempt['latency_ms']} ms  next retry: {retry}")
    return "\n".join(lines)


def tls_for(hostname: str, folder) -> tuple[ssl.SSLContext, str]:
    """A server TLS context with a certificate for ``hostname`` from a throwaway CA, and the CA file."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                key_encipherment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False), critical=True)
        else:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(subject)]),
                                            critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("Aqta test CA", ca_key, "Aqta test CA", ca_key, ca=True)
    leaf = certificate(hostname, leaf_key, "Aqta test CA", ca_key, ca=False)
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(leaf.public_bytes(pem))
    key_file.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, str(ca_file)
