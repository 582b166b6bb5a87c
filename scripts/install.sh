#!/usr/bin/env bash
# Install everything jepsy, its lab and its test suite need, on Debian 12 as root.
# Idempotent: a second run installs nothing and takes a few seconds.
#   - Debian packages: sshd/ssh (lab nodes and control), iptables and iproute2
#     (partitions, packet faults), faketime (clock faults in the lab), etcd
#     and postgresql (databases under test), chromium (the report's browser test).
#   - Python: a virtualenv in .venv with jepsy installed editable, plus dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(openssh-server openssh-client iptables iproute2 procps util-linux faketime
      sudo etcd-server etcd-client postgresql python3-venv ca-certificates)
if [[ "${JEPSY_SKIP_BROWSER:-}" != 1 ]]; then DEBS+=(chromium); fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install.sh: run as root (the lab needs namespaces, bridges and mounts)" >&2
  exit 254
fi

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "install.sh: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  # Packages must not leave daemons running on this machine: the lab starts its own.
  for svc in etcd ssh postgresql; do
    if command -v service >/dev/null && service "$svc" status >/dev/null 2>&1; then
      service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import jepsy, fabric, pytest, hypothesis, mypy" 2>/dev/null \
   || [[ pyproject.toml -nt .venv/.jepsy-installed ]]; then
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch .venv/.jepsy-installed
fi
echo "install.sh: ready ($(.venv/bin/jepsy --version))" >&2
