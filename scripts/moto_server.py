"""Run moto server on 127.0.0.1:PORT for the tests and exit when the parent process does.

Usage: moto_server.py PORT PARENT_PID
Prints "ready" once the server answers.
"""
import os
import sys
import time
import urllib.request

from moto.server import ThreadedMotoServer


def main() -> None:
    port = int(sys.argv[1])
    parent = int(sys.argv[2])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}/moto-api/"
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except Exception:
            time.sleep(0.05)
    print("ready", flush=True)
    while True:
        time.sleep(0.5)
        try:
            os.kill(parent, 0)
        except OSError:
            break
        if os.getppid() != parent:
            break
    server.stop()


if __name__ == "__main__":
    main()
