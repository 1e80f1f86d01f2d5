"""A stand-in for Alipay's gateway, so that scripts/schemathesis can seed a complaint through
the real callback path: it pushes one signed `alipay.merchant.tradecomplain.changed` message to
the server's callback (`--notify`), then answers the worker's
`alipay.merchant.tradecomplain.query` for that complaint with a signed response. Any other
method gets a business error. Runs until killed.

  alipay_stub.py --port P --alipay-key alipay_key.pem --app-id ID --notify URL --complaint-id ID

Signing (RSA2, SHA256withRSA, base64): a message signs its sorted `k=v` pairs joined with `&`
(without `sign`, `sign_type` and empty values); a response signs the JSON text of its
`<method>_response` node, as Alipay's documentation describes.
"""

import argparse
import base64
import json
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from Cryptodome.Hash import SHA256
from Cryptodome.PublicKey import RSA
from Cryptodome.Signature import pkcs1_15


def sign(key, content):
    return base64.b64encode(pkcs1_15.new(key).sign(SHA256.new(content.encode()))).decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--alipay-key", required=True)
    ap.add_argument("--app-id", required=True)
    ap.add_argument("--notify", required=True)
    ap.add_argument("--complaint-id", required=True)
    args = ap.parse_args()
    with open(args.alipay_key) as f:
        key = RSA.import_key(f.read())
    complaint = {
        "complain_event_id": args.complaint_id,
        # Finished: the seeded complaint asks for no automatic reply or refund.
        "status": "FINISHED",
        "trade_no": "2024052122001400001",
        "merchant_order_no": "ORDER-0001",
        "gmt_create": "2024-05-21 10:00:00",
        "content": "质量问题",
        "trade_amount": "30.00",
        "reply_detail_infos": [],
    }

    class Gateway(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            params = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            method = params.get("method", "")
            biz = json.loads(params.get("biz_content") or "{}")
            if method == "alipay.merchant.tradecomplain.query" and biz.get("complain_event_id") == args.complaint_id:
                inner = json.dumps(dict(complaint, code="10000", msg="Success"), ensure_ascii=False, separators=(",", ":"))
            else:
                inner = json.dumps({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.SYSTEM_ERROR",
                                    "sub_msg": "not offered by the stand-in"}, separators=(",", ":"))
            node = method.replace(".", "_") + "_response"
            out = '{"%s":%s,"sign":"%s"}' % (node, inner, sign(key, inner))
            data = out.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html;charset=utf-8")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    p = {
        "msg_method": "alipay.merchant.tradecomplain.changed",
        "app_id": args.app_id,
        "biz_content": json.dumps({"complain_event_id": args.complaint_id}),
        "charset": "utf-8",
        "version": "1.1",
        "utc_timestamp": str(int(time.time() * 1000)),
        "notify_id": secrets.token_hex(16),
        "sign_type": "RSA2",
    }
    content = "&".join(f"{k}={v}" for k, v in sorted(p.items()) if v and k not in ("sign", "sign_type"))
    p["sign"] = sign(key, content)
    req = urllib.request.Request(args.notify, data=urllib.parse.urlencode(p).encode(),
                                 headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
    answer = urllib.request.urlopen(req, timeout=10).read().decode()
    if answer != "success":
        print(f"the callback answered {answer!r}", file=sys.stderr)
        sys.exit(1)
    print("pushed", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
