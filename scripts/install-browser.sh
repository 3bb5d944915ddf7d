#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests if it is missing (the tests drive /usr/bin/chromium).
# Never fails `make test`: without a browser the browser test is skipped with its reason.
set -uo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests (apt-get)" >&2
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install chromium; the browser test will be skipped" >&2
else
  echo "chromium is missing: run 'sudo apt-get install chromium' (browser tests will be skipped)" >&2
fi
exit 0
