"""The Python peer of the ingest benchmark (scripts/bench, part P1): the WeChat Pay complaint
callback a user would otherwise write. A WSGI app, run under gunicorn with one sync worker per
core, that verifies and decrypts every push with wechatpayv3's own Core.callback() and inserts it
into SQLite (WAL, synchronous=FULL, one commit per push, a repeated id ignored), answering 204.

Configuration: BENCH_PEER_CONFIG names a JSON file with mchid, serial_no, private_key_pem,
apiv3_key, public_key_pem, public_key_id and db (the SQLite file). GET / answers 200 (ready).
"""

import json
import os
import sqlite3

from wechatpayv3.core import Core

with open(os.environ["BENCH_PEER_CONFIG"]) as f:
    CONFIG = json.load(f)

HEADERS = ("Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Signature", "Wechatpay-Serial",
           "Wechatpay-Signature-Type")

_core = None
_db = None


def core():
    global _core
    if _core is None:
        _core = Core(CONFIG["mchid"], CONFIG["serial_no"], CONFIG["private_key_pem"], CONFIG["apiv3_key"],
                     public_key=CONFIG["public_key_pem"], public_key_id=CONFIG["public_key_id"])
    return _core


def db():
    global _db
    if _db is None:
        _db = sqlite3.connect(CONFIG["db"], timeout=30, isolation_level=None)
        _db.execute("PRAGMA journal_mode=WAL")
        _db.execute("PRAGMA synchronous=FULL")
        _db.execute("CREATE TABLE IF NOT EXISTS callbacks (id TEXT PRIMARY KEY, event_type TEXT, "
                    "resource TEXT, received_at REAL DEFAULT (unixepoch('subsec')))")
    return _db


def app(environ, start_response):
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ready"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(min(length, 1 << 20)).decode("utf-8", "replace")
    headers = {h: environ.get("HTTP_" + h.upper().replace("-", "_"), "") for h in HEADERS}
    result = core().callback(headers, body)
    if result is None:
        start_response("401 Unauthorized", [("Content-Type", "application/json")])
        return [b'{"code":"FAIL","message":"signature"}']
    db().execute("INSERT OR IGNORE INTO callbacks (id, event_type, resource) VALUES (?, ?, ?)",
                 (result.get("id"), result.get("event_type"),
                  json.dumps(result.get("resource"), ensure_ascii=False)))
    start_response("204 No Content", [])
    return [b""]
