"""The independent peer for WeChat Pay: wechatpayv3 (PyPI), driven by the Rust interop tests.

Reads one JSON request on stdin and prints one JSON answer:
  {"op": "accept-callback", ...}  wechatpayv3's Core.callback on a callback we built
  {"op": "build-callback", ...}   a callback built with wechatpayv3's and cryptography's primitives
  {"op": "authorization", ...}    wechatpayv3's Authorization header for a fixed time and nonce
Nothing here talks to the network.
"""

import base64
import json
import os
import sys
import tempfile
import time

import wechatpayv3.utils as wu
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core


def accept_callback(req):
    kwargs = {}
    if req.get("public_key_pem"):
        kwargs = {"public_key": req["public_key_pem"], "public_key_id": req["public_key_id"]}
        core = Core(req["mchid"], req["serial_no"], req["private_key_pem"], req["apiv3_key"], **kwargs)
    else:
        # Certificate mode: the SDK loads platform certificates from cert_dir (no download).
        cert_dir = tempfile.mkdtemp()
        with open(os.path.join(cert_dir, req["certificate_serial"] + ".pem"), "w") as f:
            f.write(req["certificate_pem"])
        core = Core(req["mchid"], req["serial_no"], req["private_key_pem"], req["apiv3_key"], cert_dir=cert_dir)
    result = core.callback(req["headers"], req["body"])
    return {"accepted": result is not None, "result": result}


def build_callback(req):
    key = wu.load_private_key(req["platform_private_key_pem"])
    nonce = "peerNonce123"
    ciphertext = AESGCM(req["apiv3_key"].encode()).encrypt(
        nonce.encode(), json.dumps(req["plaintext"], ensure_ascii=False).encode(), b"")
    body = json.dumps({
        "id": "EV-peer-0001",
        "create_time": "2026-11-22T10:00:00+08:00",
        "resource_type": "encrypt-resource",
        "event_type": req["event_type"],
        "summary": "peer",
        "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": base64.b64encode(ciphertext).decode(),
                     "nonce": nonce, "associated_data": "", "original_type": "complaint"},
    }, ensure_ascii=False)
    ts = str(int(time.time()))
    header_nonce = "peerHeaderNonce"
    signature = wu.rsa_sign(key, "%s\n%s\n%s\n" % (ts, header_nonce, body))
    return {"body": body, "headers": {
        "Wechatpay-Timestamp": ts, "Wechatpay-Nonce": header_nonce, "Wechatpay-Signature": signature,
        "Wechatpay-Serial": req["serial"], "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048"}}


def authorization(req):
    wu.time.time = lambda: req["timestamp"]
    header = wu.build_authorization(
        req["path"], req["method"], req["mchid"], req["serial_no"],
        wu.load_private_key(req["private_key_pem"]), data=req.get("body") or None, nonce_str=req["nonce"])
    return {"authorization": header}


def main():
    req = json.load(sys.stdin)
    ops = {"accept-callback": accept_callback, "build-callback": build_callback, "authorization": authorization}
    print(json.dumps(ops[req["op"]](req), ensure_ascii=False))


if __name__ == "__main__":
    # Imported to fail early (and clearly) if the package layout changed.
    assert WeChatPay and WeChatPayType
    main()
