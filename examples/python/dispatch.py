#!/usr/bin/env python3
"""Dispatch a webhook through Hookah using only the Python standard library.

Usage: HOOKAH_URL=http://127.0.0.1:8080 python3 dispatch.py DESTINATION [JSON] [--wait]

Sends JSON (default {"hello": "world"}) to DESTINATION via POST /dispatch.
Hookah answers 202 once the message is stored, then delivers it with retries.
With --wait, polls the status URL until the message is delivered or failed.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

HOOKAH_URL = os.environ.get("HOOKAH_URL", "http://127.0.0.1:8080").rstrip("/")


def dispatch(destination, body):
    query = urllib.parse.urlencode({"_url": destination})
    request = urllib.request.Request(
        f"{HOOKAH_URL}/dispatch?{query}",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            # Re-sending with the same key never delivers twice, so a client
            # may retry this call safely after a network error.
            "Idempotency-Key": str(uuid.uuid4()),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as err:
        sys.exit(f"hookah refused the message ({err.code}): {err.read().decode('utf-8', 'replace')}")


def wait_for(status_url, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(status_url, timeout=10) as response:
            message = json.load(response)
        if message["status"] in ("delivered", "failed"):
            return message
        time.sleep(0.2)
    sys.exit(f"still not delivered after {timeout} s: {status_url}")


def main(argv):
    args = [a for a in argv if a != "--wait"]
    if not args:
        sys.exit(__doc__)
    destination = args[0]
    body = args[1] if len(args) > 1 else '{"hello": "world"}'
    json.loads(body)  # fail early on a typo rather than deliver broken JSON
    accepted = dispatch(destination, body.encode("utf-8"))
    print(json.dumps(accepted))
    if "--wait" in argv:
        message = wait_for(accepted["status_url"])
        print(json.dumps({"id": message["id"], "status": message["status"], "attempts": message["attempt_count"]}))
        if message["status"] != "delivered":
            sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
