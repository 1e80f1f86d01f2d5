"""The independent peer for Alipay: python-alipay-sdk (PyPI), driven by the Rust interop tests.
Reads one JSON request on stdin, prints one JSON answer. Nothing talks to the network.

  {"op": "sign", "app_private_key": PEM, "params": {...}}        its sign for the parameters
  {"op": "verify", "alipay_public_key": PEM, "params": {...}}    its verdict on a signed message
  {"op": "cert-sns", "app_cert": PEM, "root_cert": PEM}          its app_cert_sn / alipay_root_cert_sn
"""

import json
import sys
from urllib.parse import parse_qsl

from alipay import AliPay, DCAliPay


def main():
    req = json.load(sys.stdin)
    op = req["op"]
    if op == "sign":
        peer = AliPay(appid=req["params"].get("app_id", "x"), app_private_key_string=req["app_private_key"],
                      alipay_public_key_string=req.get("alipay_public_key") or req["app_public_key"])
        signed = dict(parse_qsl(peer.sign_data(dict(req["params"])), keep_blank_values=True))
        print(json.dumps({"sign": signed["sign"]}))
    elif op == "verify":
        peer = AliPay(appid="x", app_private_key_string=req["app_private_key"],
                      alipay_public_key_string=req["alipay_public_key"])
        data = dict(req["params"])
        sign = data.pop("sign")
        print(json.dumps({"verified": bool(peer.verify(data, sign))}))
    elif op == "cert-sns":
        print(json.dumps({"app_cert_sn": DCAliPay.get_cert_sn(req["app_cert"]),
                          "alipay_root_cert_sn": DCAliPay.get_root_cert_sn(req["root_cert"])}))
    else:
        raise SystemExit("unknown op " + op)


if __name__ == "__main__":
    main()
