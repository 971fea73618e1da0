#!/bin/sh
# Dispatch webhooks through Hookah with curl.
# Usage: HOOKAH_URL=http://127.0.0.1:8080 sh curl.sh DESTINATION
set -eu
HOOKAH_URL="${HOOKAH_URL:-http://127.0.0.1:8080}"
DEST="${1:?usage: sh curl.sh DESTINATION}"

# 1. Form fields (Hookah's original API): everything but the _ parameters is
#    re-encoded and POSTed to _url.
curl -sS -X POST "$HOOKAH_URL/dispatch" \
  --data-urlencode "_url=$DEST" \
  --data-urlencode "event=signup" \
  --data-urlencode "email=ada@example.com"
echo

# 2. A raw JSON body, delivered byte for byte with its Content-Type; control
#    parameters go in the query string. The Idempotency-Key makes a retry of
#    this very request harmless.
curl -sS -X POST "$HOOKAH_URL/dispatch?_retries=5&_timeout=10s" \
  --url-query "_url=$DEST" \
  -H 'Content-Type: application/json' \
  -H "Idempotency-Key: order-1001-created" \
  --data-binary '{"order": 1001, "status": "created"}'
echo

# 3. Publish to a topic (streams, WebSub subscribers…) and deliver at once.
curl -sS -X POST "$HOOKAH_URL/dispatch?_topic=orders/created&_event=order.created" \
  --url-query "_url=$DEST" \
  -H 'Content-Type: application/json' \
  --data-binary '{"order": 1002}'
echo
