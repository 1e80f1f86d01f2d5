"""The independent peer for WeChat message crypto: wechatpy (PyPI) WeChatCrypto, driven by the
Rust interop tests. Reads one JSON request on stdin, prints one JSON answer. No network.

  {"op": "encrypt", "token", "encoding_aes_key", "appid", "msg", "nonce", "timestamp"}
      -> {"encrypt", "msg_signature", "timestamp", "nonce"}   (from its encrypted reply XML)
  {"op": "decrypt", "token", "encoding_aes_key", "appid", "xml", "msg_signature", "timestamp", "nonce"}
      -> {"plaintext"} or {"error"}
"""

import json
import re
import sys

from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException


def field(xml, name):
    m = re.search(r"<%s><!\[CDATA\[(.*?)\]\]></%s>" % (name, name), xml, re.S) or \
        re.search(r"<%s>(.*?)</%s>" % (name, name), xml, re.S)
    return m.group(1)


def main():
    req = json.load(sys.stdin)
    crypto = WeChatCrypto(req["token"], req["encoding_aes_key"], req["appid"])
    if req["op"] == "encrypt":
        out = crypto.encrypt_message(req["msg"], req["nonce"], req["timestamp"])
        print(json.dumps({"encrypt": field(out, "Encrypt"), "msg_signature": field(out, "MsgSignature"),
                          "timestamp": field(out, "TimeStamp"), "nonce": field(out, "Nonce")}))
    elif req["op"] == "decrypt":
        try:
            plain = crypto.decrypt_message(req["xml"], req["msg_signature"], req["timestamp"], req["nonce"])
            print(json.dumps({"plaintext": plain if isinstance(plain, str) else plain.decode("utf-8")}))
        except (InvalidSignatureException, InvalidAppIdException) as e:
            print(json.dumps({"error": type(e).__name__}))
    else:
        raise SystemExit("unknown op " + req["op"])


if __name__ == "__main__":
    main()
