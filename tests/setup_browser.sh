#!/usr/bin/env bash
# Install Debian's chromium for the gallery's browser tests, when we can (root with apt-get).
# Outside CI, where it cannot be installed, say so and go on: the browser tests then skip with the same
# reason, never silently. Under CI=true a missing browser is a failure (exit 1), not a skip: a green CI
# run must have run the browser tests.
#   CHROMIUM=/path/to/chromium   the browser the tests use (default /usr/bin/chromium, Debian's)
set -u
chromium=${CHROMIUM:-/usr/bin/chromium}
in_ci() { [ "${CI:-}" = true ]; }
missing() {
    if in_ci; then
        echo "setup_browser: FAILED: $1; CI=true needs the gallery browser tests to run" >&2
        exit 1
    fi
    echo "setup_browser: $1; the gallery browser tests will be skipped" >&2
    exit 0
}
if [ -x "$chromium" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    missing "$chromium is not installed and cannot be (needs root and apt-get)"
fi
if [ "$chromium" != /usr/bin/chromium ]; then
    missing "$chromium is not installed (apt-get installs only /usr/bin/chromium)"
fi
echo "setup_browser: installing Debian's chromium for the gallery browser tests" >&2
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
        || [ ! -x "$chromium" ]; then
    missing "installing chromium with apt-get failed"
fi
exit 0
