#!/usr/bin/env bash
# Install everything jepsy, its lab and its test suite need, on Debian 12 as root.
# Idempotent: a second run installs nothing and takes a few seconds.
#   - Debian packages: sshd/ssh (lab nodes and control), iptables and iproute2
#     (partitions, packet faults), faketime (clock faults in the lab), the
#     databases of the built-in modules (etcd, PostgreSQL, Redis with Sentinel,
#     ZooKeeper, MariaDB with Galera; lab nodes run them from this machine's
#     /usr), chromium (the report's browser test).
#   Packages are installed with their services held back (policy-rc.d), so no
#   database daemon is left running on this machine itself: labs start their own.
#   - Python: a virtualenv in .venv with jepsy installed editable, plus dev tools;
#     gcc and Python's headers build the linearizability checker's optional C
#     search loop (jepsy/checkers/linear/_linear.c; without them it runs in Python).
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
as_root "$@"
cd "$(dirname "$0")/.."

DEBS=(openssh-server openssh-client iptables iproute2 procps util-linux faketime
      sudo rsync etcd-server etcd-client postgresql redis-server redis-sentinel zookeeper
      mariadb-server galera-4 python3-venv python3-dev gcc ca-certificates)
# The power-loss nemesis's filesystem (libfuse3; its Python binding, mfusepy, comes from
# PyPI) and RabbitMQ for the rabbitmq module.
DEBS+=(fuse3 rabbitmq-server)
# nats-server (2.9, JetStream) for the nats module; its client, nats-py, comes from PyPI.
DEBS+=(nats-server)
if [[ "${JEPSY_SKIP_BROWSER:-}" != 1 ]]; then DEBS+=(chromium); fi

missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if (( ${#missing[@]} )); then
  echo "install.sh: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Hold back every service the packages would start (Debian's policy-rc.d protocol).
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && own_policy=1
  fi
  trap 'if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi
  trap - EXIT
fi

# The interpreter: $PYTHON if given, else Debian's own python3 (installed above with
# python3-venv and python3-dev) if it is 3.11 or later, else the first python3 on
# PATH.  Debian's interpreter has libpython linked in, where a pyenv build
# (--enable-shared) calls it through a shared library: measured on this machine (valgrind, instructions), `jepsy --help`
# runs 18 % fewer instructions (195 M -> 159 M), `jepsy check` of a small history
# 19 % fewer (297 M -> 242 M).
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif /usr/bin/python3 -c "import sys; sys.exit(sys.version_info < (3, 11))" 2>/dev/null; then
  PY=/usr/bin/python3
else PY=python3
fi
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import jepsy, fabric, pytest, hypothesis, mypy" 2>/dev/null \
   || [[ pyproject.toml -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/linear/_linear.c -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/linear/_linear_fused.c -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/linear/_linear_layout.c -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/linear/_linear.h -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/_fastread.c -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/elle/_columns.c -nt .venv/.jepsy-installed ]] \
   || [[ jepsy/checkers/elle/_fastpath.c -nt .venv/.jepsy-installed ]] \
   || compgen -G '.venv/lib/python3*/site-packages/__editable___jepsy_*_finder.py' >/dev/null; then
  log=.venv/pip-install.log
  # editable_mode=compat: a plain path entry in a .pth file.  The default mode
  # installs an import finder whose own imports (pathlib, urllib.parse ...) cost
  # about 40 ms of every Python start here: jepsy's, and every subprocess the tests
  # start.  The links jepsy/nemeses and jepsy/workloads make the path entry find
  # every module.  Should a future setuptools drop the mode, the default is used.
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         { .venv/bin/python -m pip install -q -e '.[dev]' --config-settings editable_mode=compat ||
           .venv/bin/python -m pip install -q -e '.[dev]'; }; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "install.sh: pip install failed (full log: $log)" >&2
    exit 1
  fi
  touch .venv/.jepsy-installed
fi
# Python 3.11's venv ships setuptools, which nothing here uses at run time (pip builds
# jepsy in an isolated environment with its own), and whose .pth file imports a hook
# into every Python start: 1.9 M instructions of each jepsy command.
if compgen -G ".venv/lib/python3*/site-packages/distutils-precedence.pth" >/dev/null; then
  .venv/bin/python -m pip uninstall -q -y setuptools >/dev/null 2>&1 || true
fi
if ! .venv/bin/python -c "from jepsy.checkers.linear import _linear" 2>/dev/null; then
  echo "install.sh: warning: the compiled linearizability search did not build" \
       "(see .venv/pip-install.log); checks run in pure Python, slower" >&2
fi
# Byte-compile the editable sources: with PYTHONDONTWRITEBYTECODE set (as on this
# machine), Python would otherwise compile every jepsy module it imports on every
# start (cli.py alone is a sixth of `jepsy --help`).
.venv/bin/python -m compileall -q jepsy workloads nemeses >/dev/null || true
echo "install.sh: ready ($(.venv/bin/jepsy --version))" >&2
