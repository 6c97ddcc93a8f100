#!/usr/bin/env bash
# Installs the Debian packages the tests use when they are missing:
# chromium (the page tests, driven by Playwright), postgresql and mariadb-server (SQL plugin tests).
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "missing: ${need[*]}; install them with: sudo apt-get install ${need[*]}" >&2
  case "${CI:-}" in
    ""|0|false|no) echo "(the tests that need them are skipped until then)" >&2 ;;
    *) echo "(CI is set: the tests that need them would fail)" >&2; exit 1 ;;
  esac
fi
