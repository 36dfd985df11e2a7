#!/usr/bin/env bash
# Graphviz's `dot` program for scratchnet.utils.plot_model and its tests, from the system
# packages (pydot, in the `plot` extra, only writes dot's input). Needs root or passwordless
# sudo; does nothing if `dot` is already there.
set -euo pipefail
if command -v dot >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo -n"; fi
echo "Installing Graphviz from the system packages for plot_model..."
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq graphviz >/dev/null
