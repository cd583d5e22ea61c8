#!/usr/bin/env bash
# Install Debian's chromium for the gallery's browser test, when we can (root with apt-get). Elsewhere say
# so: the browser test is then skipped with the same reason, never silently.
set -u
if command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: chromium is not installed and cannot be (needs root and apt-get);" \
         "the gallery browser test will be skipped" >&2
    exit 0
fi
echo "setup_browser: installing Debian's chromium for the gallery browser test" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || echo "setup_browser: installing chromium failed; the gallery browser test will be skipped" >&2
exit 0
