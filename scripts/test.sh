#!/usr/bin/env bash
# The test suite, as CI runs it (.ci/run calls exactly this): install what is
# needed, then lint, type-check and run every test that is not marked slow.
# Integration tests start their own small labs and always tear them down.
set -euo pipefail
source "$(dirname "$0")/as-root.sh"
as_root "$@"
cd "$(dirname "$0")/.."
bash scripts/install.sh
.venv/bin/ruff check jepsy workloads nemeses tests benchmarks examples
.venv/bin/mypy
set +e
.venv/bin/pytest -m "not slow" "$@"
code=$?
set -e
# pytest's 5 means "no tests collected": that is a failure of the suite, not a pass.
exit $code
