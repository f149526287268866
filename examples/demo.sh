#!/usr/bin/env bash
# The whole story on the embedded sandbox: no credentials, no network.
# Usage: examples/demo.sh PATH/TO/tapsync   (make demo passes .venv/bin/tapsync)
set -euo pipefail
TAPSYNC=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
cd "$(dirname "$0")"
rm -rf .tapsync   # a fresh, empty sandbox every time

step() { printf '\n\033[1m== %s\033[0m\n$ tapsync %s\n' "$1" "${*:2}"; }

step "1. validate the manifests (offline)" validate
"$TAPSYNC" validate

if "$TAPSYNC" plan --help >/dev/null 2>&1 && ! "$TAPSYNC" plan --sandbox -q >/dev/null 2>&1 \
   && [ $? -eq 1 ] && "$TAPSYNC" plan --sandbox 2>&1 | grep -q "not built yet"; then
  echo "(plan and apply are not built yet: the demo stops here)"
  exit 0
fi

step "2. plan against the sandbox" plan --sandbox
"$TAPSYNC" plan --sandbox

step "3. apply it" apply --sandbox --auto-approve
"$TAPSYNC" apply --sandbox --auto-approve

step "4. plan again: nothing left to do" plan --sandbox --detailed-exitcode
"$TAPSYNC" plan --sandbox --detailed-exitcode
echo "(exit 0: no changes)"

if "$TAPSYNC" drift --help >/dev/null 2>&1 && ! "$TAPSYNC" drift --sandbox 2>&1 | grep -q "not built yet"; then
  step "5. drift report" drift --sandbox
  "$TAPSYNC" drift --sandbox || [ $? -eq 2 ]
fi
