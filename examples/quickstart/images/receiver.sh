#!/bin/sh
# quickstart receiver: takes the ioMessages routed to it from the agent's local API every
# second and prints how many arrived and the last one's text.
api="http://iofog:${FOGMESH_LOCAL_API_PORT:-54321}/v2"
auth="Authorization: $FOGMESH_LOCAL_API_TOKEN"
json="Content-Type: application/json"
echo "receiver $SELFNAME: polling $api/messages/next"

total=0
while true; do
  # Until the agent listens on the bridge (it does once the bridge exists) wget fails: retry.
  if ! reply=$(wget -q -O - --header "$auth" --header "$json" --post-data "{\"id\":\"$SELFNAME\"}" "$api/messages/next" 2>/dev/null); then
    echo "waiting for the local API ($api)"
    sleep 1
    continue
  fi
  count=$(echo "$reply" | sed -n 's/.*"count":\([0-9][0-9]*\).*/\1/p')
  if [ -n "$count" ] && [ "$count" -gt 0 ]; then
    total=$((total + count))
    last=$(echo "$reply" | sed 's/.*"contentdata":"\([^"]*\)".*/\1/' | base64 -d 2>/dev/null)
    echo "received $count (total $total): $last"
  fi
  sleep 1
done
