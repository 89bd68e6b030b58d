#!/bin/sh
# quickstart sender: publishes a text ioMessage every intervalSeconds (from its microservice
# config) through the agent's local API. The agent gives each container SELFNAME (its
# microservice uuid), FOGMESH_LOCAL_API_TOKEN and FOGMESH_LOCAL_API_PORT; "iofog" resolves
# to the host, where the agent listens.
api="http://iofog:${FOGMESH_LOCAL_API_PORT:-54321}/v2"
auth="Authorization: $FOGMESH_LOCAL_API_TOKEN"
json="Content-Type: application/json"

interval=
while [ -z "$interval" ]; do
  config=$(wget -q -O - --header "$auth" --header "$json" --post-data "{\"id\":\"$SELFNAME\"}" "$api/config/get" 2>/dev/null)
  interval=$(echo "$config" | sed -n 's/.*intervalSeconds[^0-9]*\([0-9][0-9]*\).*/\1/p')
  [ -n "$interval" ] || { echo "waiting for the local API ($api)"; sleep 1; }
done
echo "sender $SELFNAME: one ioMessage every $interval s"

sent=0
while true; do
  n=$((sent + 1))
  data=$(printf 'reading %d from %s' "$n" "$(hostname)" | base64)
  body="{\"publisher\":\"$SELFNAME\",\"version\":4,\"infotype\":\"text/plain\",\"infoformat\":\"utf-8\",\"contentdata\":\"$data\"}"
  if wget -q -O /dev/null --header "$auth" --header "$json" --post-data "$body" "$api/messages/new" 2>/dev/null; then
    sent=$n
    echo "sent $sent"
  else
    echo "publish failed; retrying"
  fi
  sleep "$interval"
done
