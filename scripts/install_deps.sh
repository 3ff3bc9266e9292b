#!/usr/bin/env bash
# Installs the Debian packages the build needs (idempotent: only what is
# missing is installed). With --tests, also what the tests use: a headless
# Chromium for the chat page and, in the project's .venv, the official openai
# client and websocket-client.
set -euo pipefail
packages=(build-essential cmake pkg-config git python3 python3-pip python3-venv unzip curl
          libgtest-dev libgmock-dev libbenchmark-dev libfmt-dev libcli11-dev
          nlohmann-json3-dev libpcre2-dev libcpp-httplib-dev libssl-dev)
with_tests=0
[ "${1:-}" = "--tests" ] && with_tests=1
((with_tests)) && packages+=(chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

((with_tests)) || exit 0
# Python packages of the tests, in a project virtual environment so that no
# system Python is touched.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if ! "$root/.venv/bin/python" -c 'import openai, websocket' 2>/dev/null; then
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    openai==3.57.0 websocket-client==1.9.2
fi
