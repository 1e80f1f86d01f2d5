"""A real SMTP server for the tests: aiosmtpd with AUTH (PLAIN/LOGIN) and TLS, implicit TLS on
one port and STARTTLS on another, certificates from a test CA made here. Every accepted message
is written to <dir>/mail/<n>.eml.

usage: smtp_sink.py DIR USER PASSWORD IMPLICIT_PORT STARTTLS_PORT PARENT_PID [RELAY_PORT]
With RELAY_PORT: also a plain relay there, without TLS and without AUTH (it offers none and
accepts mail from anyone), like a local MTA on the same host.
Reuses DIR/ca.pem and DIR/server.{pem,key} if present (so a restart keeps the same CA).
Prints one JSON line {"ca_pem": ...} when both ports listen; exits when PARENT_PID is gone.
"""

import datetime
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
import ipaddress


def make_certs(d):
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "complaint desk test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(d, "server.key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


class Sink:
    def __init__(self, d):
        self.dir = os.path.join(d, "mail")
        os.makedirs(self.dir, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = "%d-%d.eml" % (time.time_ns(), os.getpid())
        with open(os.path.join(self.dir, name + ".tmp"), "wb") as f:
            login = getattr(session.auth_data, "login", None) or b""
            f.write(b"X-Auth-User: " + login + b"\r\n")
            f.write(b"X-Envelope-From: " + envelope.mail_from.encode() + b"\r\n")
            f.write(b"X-Envelope-To: " + ",".join(envelope.rcpt_tos).encode() + b"\r\n")
            f.write(envelope.original_content)
        os.rename(os.path.join(self.dir, name + ".tmp"), os.path.join(self.dir, name))
        return "250 OK"


def main():
    d, user, password, implicit_port, starttls_port, parent = sys.argv[1:7]
    relay_port = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    if not os.path.exists(os.path.join(d, "ca.pem")):
        make_certs(d)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and auth_data.login == user.encode() \
            and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    common = dict(authenticator=authenticator, auth_required=True, hostname="127.0.0.1")
    implicit = Controller(Sink(d), port=int(implicit_port), ssl_context=ctx,
                          server_kwargs={"auth_require_tls": False}, **common)
    starttls = Controller(Sink(d), port=int(starttls_port), tls_context=ctx, require_starttls=True, **common)
    # No authenticator: the relay advertises no AUTH at all.
    relay = Controller(Sink(d), port=relay_port, hostname="127.0.0.1") if relay_port else None
    implicit.start()
    starttls.start()
    if relay:
        relay.start()
    with open(os.path.join(d, "ca.pem")) as f:
        print(json.dumps({"ca_pem": f.read()}), flush=True)
    parent = int(parent)
    try:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent, 0)
            except OSError:
                break
    finally:
        implicit.stop()
        starttls.stop()
        if relay:
            relay.stop()


if __name__ == "__main__":
    main()
