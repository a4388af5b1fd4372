#!/usr/bin/env bash
# The test command (README, CI): set up the virtualenv and data like reproduce.sh, install the Debian SLURM
# packages the real-SLURM test needs (when root), lint (ruff check + format check), then run pytest.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./reproduce.sh --profile smoke --only setup,data
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in slurmctld slurmd slurm-client munge; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
  if [ ${#need[@]} -gt 0 ]; then
    echo "== tests: installing ${need[*]}"
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }
  fi
fi
echo "== lint: ruff check, ruff format --check"
.venv/bin/ruff check . && .venv/bin/ruff format --check . || { echo "Fix: .venv/bin/ruff format . && .venv/bin/ruff check --fix ." >&2; exit 1; }
exec .venv/bin/python -m pytest -q --durations=8 "$@"
