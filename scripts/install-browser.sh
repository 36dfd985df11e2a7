#!/usr/bin/env bash
# Chromium for the drawing app's browser test, from the system packages (Playwright cannot
# download its own browser here). Needs root or passwordless sudo; does nothing if present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
echo "Installing Chromium from the system packages for the browser test..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
