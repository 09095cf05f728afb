#!/usr/bin/env bash
# Set up shopper on a fresh Debian machine and run it.
#
#   ./setup.sh demo    install everything, then run `shopper demo` (a simulated week)
#   ./setup.sh test    install everything, then run the whole test suite
#   ./setup.sh         install only
#
# Installs, when missing: Debian's chromium, fonts-noto-cjk (Chinese in screenshots and PDFs),
# dovecot-imapd (a second real IMAP server for the mailbox tests) and Python's venv; then a
# virtualenv in .venv with shopper and its test extras. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

installed() { dpkg -s "$1" >/dev/null 2>&1; }
debian_packages=()
command -v chromium >/dev/null 2>&1 || debian_packages+=(chromium)
installed fonts-noto-cjk || debian_packages+=(fonts-noto-cjk)
[ -x /usr/sbin/dovecot ] || debian_packages+=(dovecot-imapd)
if ! command -v python3 >/dev/null 2>&1; then
    debian_packages+=(python3 python3-venv python3-pip)
elif ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    debian_packages+=(python3-venv)
fi

if [ ${#debian_packages[@]} -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "setup.sh: need root to install ${debian_packages[*]} (or install them yourself first)" >&2
        exit 1
    fi
    say "installing Debian packages: ${debian_packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${debian_packages[@]}" >/dev/null
fi

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "shopper needs Python 3.11 or newer")'

if [ ! -x .venv/bin/python ]; then
    say "creating .venv"
    python3 -m venv .venv
fi
say "installing shopper into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

case "${1:-}" in
    demo) say "running shopper demo"; exec .venv/bin/shopper demo ;;
    test) say "running the tests"; exec .venv/bin/python -m pytest -q -p no:cacheprovider ;;
    "") say "installed: .venv/bin/shopper --help" ;;
    *) echo "usage: ./setup.sh [demo|test]" >&2; exit 2 ;;
esac
