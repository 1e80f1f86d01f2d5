"""The independent peer for Tencent Cloud API 3.0 signing: tencentcloud-sdk-python-sms builds the
SendSms request (payload and TC3 Authorization) for a fixed time; the Rust test signs the same
payload with our code and compares. Reads one JSON request on stdin, prints one JSON answer.
Nothing is sent over the network.
"""

import json
import sys
import time

from tencentcloud.common import credential
from tencentcloud.common.abstract_client import AbstractClient
from tencentcloud.common.http.request import RequestInternal
from tencentcloud.sms.v20210111 import sms_client


def main():
    req = json.load(sys.stdin)
    time.time = lambda: req["timestamp"]
    cred = credential.Credential(req["secret_id"], req["secret_key"])
    client = sms_client.SmsClient(cred, req["region"])
    internal = RequestInternal(client._get_endpoint(), "POST", "/")
    client._build_req_with_tc3_signature("SendSms", req["params"], internal)
    print(json.dumps({"authorization": internal.header["Authorization"], "payload": internal.data,
                      "host": internal.header["Host"], "content_type": internal.header["Content-Type"]}))


if __name__ == "__main__":
    assert AbstractClient
    main()
