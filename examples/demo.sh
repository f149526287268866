#!/usr/bin/env bash
# The whole story on the embedded sandbox: no credentials, no network.
# Usage: examples/demo.sh PATH/TO/tapsync   (make demo passes .venv/bin/tapsync)
set -euo pipefail
TAPSYNC=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
rm -rf .tapsync   # a fresh, empty sandbox every time

step() { printf '\n== %s\n$ tapsync %s\n' "$1" "${*:2}"; }

step "0. seed the sandbox with what only dashboards and apps create" sandbox load sandbox-fixtures.yaml
"$TAPSYNC" sandbox load sandbox-fixtures.yaml

step "1. validate the manifests (offline)" validate
"$TAPSYNC" validate

step "2. plan against the sandbox" plan --sandbox
"$TAPSYNC" plan --sandbox

# --allow-send: the plan sends push campaigns, which the sandbox only records
step "3. apply it" apply --sandbox --auto-approve --allow-send
"$TAPSYNC" apply --sandbox --auto-approve --allow-send

step "4. plan again: nothing left to do" plan --sandbox --detailed-exitcode
"$TAPSYNC" plan --sandbox --detailed-exitcode
echo "(exit 0: no changes)"

step "5. drift report: live objects nobody declared" drift --sandbox
rc=0; "$TAPSYNC" drift --sandbox || rc=$?
# 2 means drift: the fixture's "Debug Ping" was ingested by an app but declared nowhere
[ "$rc" -eq 0 ] || [ "$rc" -eq 2 ] || exit "$rc"
echo "(exit $rc)"
