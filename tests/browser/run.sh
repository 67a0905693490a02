#!/usr/bin/env bash
# The browser tests: installs what they need (Debian's chromium, playwright-core from the lock file), builds the
# switchboard binary, and runs the end-to-end tests against it. Screenshots land in target/browser-screenshots/.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)

if [ ! -x /usr/bin/chromium ]; then
  echo "installing chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing node and npm"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
fi
/usr/bin/chromium --version
node --version

# playwright-core only: it drives the system's chromium and downloads no browser.
if [ "${CI:-}" = "true" ] || [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund
fi

(cd "$root" && cargo build -q -p switchboard)
export SWITCHBOARD_BIN="$root/target/debug/switchboard"
rm -rf "$root/target/browser-screenshots"
npm test
echo "screenshots: $root/target/browser-screenshots/"
ls "$root/target/browser-screenshots"
