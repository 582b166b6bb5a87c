#!/usr/bin/env bash
# The main job, end to end: install, start a 5-node local lab, run a real etcd
# register test under network partitions, print the verdict, store the run,
# and take the lab down again (also on failure or Ctrl-C).
# Usage, as root: scripts/demo.sh [extra 'jepsy test' options, e.g. --time-limit 60]
# (as a user with sudo, it runs itself through sudo).
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
as_root "$@"
cd "$(dirname "$0")/.."
bash scripts/install.sh
JEPSY=.venv/bin/jepsy

$JEPSY lab up --nodes 5 --packages etcd-server >/dev/null
trap '$JEPSY lab down' EXIT
set +e
$JEPSY test --inventory /srv/jepsy-lab/inventory.yaml --db etcd --workload register \
  --nemesis partition --time-limit 30 "$@"
code=$?
set -e
echo "exit code $code; the run is stored in store/latest ($(readlink -f store/latest))" >&2
echo "check it again with: .venv/bin/jepsy check store/latest/history.jsonl --model cas-register" >&2
exit $code
