#!/usr/bin/env bash
# Invokes one function of the running local stack (`make dev`) with an event from events/,
# without Docker: `scripts/invoke.sh profile events/profile.200.json`.
# REPLACE_WITH_TOKEN becomes a real token for PHONE (see scripts/event-token.sh) unless TOKEN is
# set; REPLACE_WITH_CODE becomes $CODE (the code send-code returned in demo mode).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
function="${1:?usage: scripts/invoke.sh FUNCTION EVENT_FILE}"
event="${2:?usage: scripts/invoke.sh FUNCTION EVENT_FILE}"
mkdir -p target/events
rendered="target/events/$(basename "$event")"
content=$(cat "$event")
if [[ "$content" == *REPLACE_WITH_TOKEN* ]]; then
  token="${TOKEN:-$(scripts/event-token.sh)}"
  content="${content//REPLACE_WITH_TOKEN/$token}"
fi
if [[ "$content" == *REPLACE_WITH_CODE* ]]; then
  content="${content//REPLACE_WITH_CODE/${CODE:?set CODE to the code send-code returned}}"
fi
printf '%s\n' "$content" >"$rendered"
cargo lambda invoke "$function" --data-file "$rendered" \
  --invoke-address 127.0.0.1 --invoke-port "${API_PORT:-9000}" --output-format json
