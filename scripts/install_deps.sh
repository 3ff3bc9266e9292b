#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need (idempotent: only
# what is missing is installed).
set -euo pipefail
packages=(build-essential cmake pkg-config git python3 python3-pip python3-venv unzip curl
          libgtest-dev libgmock-dev libbenchmark-dev libfmt-dev libcli11-dev
          nlohmann-json3-dev libpcre2-dev libcpp-httplib-dev libssl-dev)
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

# Python packages the tests use (the official openai client), in a project
# virtual environment so that no system Python is touched.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/.venv/bin/python" ] || ! "$root/.venv/bin/python" -c 'import openai' 2>/dev/null; then
  python3 -m venv "$root/.venv"
  "$root/.venv/bin/python" -m pip install --quiet --disable-pip-version-check openai==3.57.0
fi
