#!/usr/bin/env bash
# The whole test suite: scratchnet's own tests, the Keras parity tests, the examples, the browser
# test and the benchmark's quick mode. Run through `make test`, which sets up .venv first.
set -uo pipefail
cd "$(dirname "$0")/.."
export TF_ENABLE_ONEDNN_OPTS=0 TF_CPP_MIN_LOG_LEVEL=2
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
# Two kernel threads even on a one-core runner, so the threaded code paths are always tested.
export NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-2}"
.venv/bin/python -m pytest -n 2 --dist loadfile -p no:cacheprovider "$@"
status=$?
# pytest exits 5 when it collected no tests: that is a failure here, never a pass.
if [ "$status" = 5 ]; then echo "No tests were collected: failing."; exit 1; fi
exit "$status"
