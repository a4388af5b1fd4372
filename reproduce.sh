#!/usr/bin/env bash
# Reproduce the three MAE papers: setup -> data -> runs (pretrain, finetune, probe) -> notebooks -> report.
#
#   ./reproduce.sh                                  # everything, profile "mini" (~3 h on 2 CPU cores)
#   ./reproduce.sh --profile small --cluster slurm  # on a SLURM GPU cluster
#   ./reproduce.sh --only notebooks,report          # re-execute notebooks from finished runs
#   ./reproduce.sh --paper lcmae --dry-run          # what would be submitted for one paper
#
# Options: --profile NAME  --only STAGE[,STAGE]  --paper lcmae|hlvm|tlcl (repeatable)
#          --cluster auto|slurm|local|debug  --dry-run  --data-root DIR  --results-dir DIR
#          --set SECTION.KEY=VALUE (repeatable)  --keep-code
# Environment: MAELAB_VENV (default .venv), MAELAB_TORCH ("torch==2.14.1 torchvision==0.29.1": the pair that
# runs on the CPU machines this was built on; a cluster can set e.g. "torch torchvision" or its own wheels).
set -euo pipefail
cd "$(dirname "$0")"

PROFILE=mini; ONLY=setup,data,runs,notebooks,report; CLUSTER=auto; DRY=(); PAPERS=(); PASS=(); DATA_ROOT=""
RESULTS=results; KEEP=()
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }  # the header comment
die() { echo "$1 (./reproduce.sh --help lists the options)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in --profile|--only|--paper|--cluster|--data-root|--results-dir|--set)
    [ $# -ge 2 ] && [[ $2 != --* ]] || die "$1 needs a value" ;;
  esac
  case "$1" in
    --profile) PROFILE=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --paper) PAPERS+=(--paper "$2"); shift 2 ;;
    --cluster) CLUSTER=$2; shift 2 ;;
    --dry-run) DRY=(--dry-run); shift ;;
    --data-root) DATA_ROOT=$2; PASS+=(--data-root "$2"); shift 2 ;;
    --results-dir) RESULTS=$2; shift 2 ;;
    --set) PASS+=(--set "$2"); shift 2 ;;
    --keep-code) KEEP=(--keep-code); shift ;;
    -h|--help) usage 0 ;;
    *) die "unknown option $1" ;;
  esac
done
for s in ${ONLY//,/ }; do
  case "$s" in setup|data|runs|notebooks|report) ;; *) echo "unknown stage '$s'; stages: setup,data,runs,notebooks,report" >&2; exit 2 ;; esac
done
has() { [[ ",$ONLY," == *",$1,"* ]]; }
VENV=${MAELAB_VENV:-.venv}
PY="$VENV/bin/python"
M=("$PY" -m maelab --profile "$PROFILE" --results-dir "$RESULTS" "${PAPERS[@]}" "${PASS[@]}")

# --profile, --set and --paper are checked before anything slow: now when the virtualenv already runs maelab,
# else after setup. Bad input: one line naming the fix, exit 2. Sets DATASET, the profile's dataset.
DATASET=""
validate() {
  local err rc=0
  err=$(mktemp)
  DATASET=$("${M[@]}" check 2>"$err") || rc=$?
  if [ "$1" = early ] && [ $rc -ne 0 ] && [ $rc -ne 2 ]; then DATASET=""; rm -f "$err"; return 0; fi  # setup fixes the venv
  cat "$err" >&2; rm -f "$err"
  [ $rc -eq 0 ] || exit 2
}
[ -x "$PY" ] && validate early

if has setup; then
  [ -x "$PY" ] || python3 -m venv "$VENV"
  stamp="$VENV/.maelab-installed"
  want="$(cat pyproject.toml | sha256sum | cut -c1-16) ${MAELAB_TORCH:-default}"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "== setup: installing into $VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -c "import torch, torchvision" 2>/dev/null || "$PY" -m pip install -q ${MAELAB_TORCH:-torch==2.14.1 torchvision==0.29.1}
    "$PY" -m pip install -q -e ".[all]"
    "$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null
    echo "$want" > "$stamp"
  else
    echo "== setup: $VENV is up to date"
  fi
fi
[ -x "$PY" ] || { echo "no virtualenv at $VENV: run with --only setup first" >&2; exit 2; }
[ -n "$DATASET" ] || validate late

if has data && [ -z "$DATA_ROOT" ]; then
  if [ "$DATASET" = fashion_mnist ] && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "== data: installing Debian package dataset-fashion-mnist"
      apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
    else
      echo "Fashion-MNIST is missing. Run 'sudo apt-get install dataset-fashion-mnist', or pass --data-root DIR" \
           "holding {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz" >&2; exit 2
    fi
  fi
  echo "== data: $DATASET ready"
fi

status=0
if has runs; then
  echo "== runs ($PROFILE, cluster=$CLUSTER)"
  "${M[@]}" runs --cluster "$CLUSTER" "${DRY[@]}" || status=$?
  [ $status -eq 2 ] && exit 2
  # 130: interrupted (Ctrl-C, SIGTERM; the jobs saved checkpoints): stop here, the notebooks would read unfinished runs
  [ $status -eq 130 ] && { echo "== runs interrupted: notebooks and report not run" >&2; exit 130; }
fi
if [ ${#DRY[@]} -gt 0 ]; then exit $status; fi
if has notebooks; then
  echo "== notebooks ($PROFILE)"
  "${M[@]}" notebooks || status=1
fi
if has report; then
  echo "== report ($PROFILE)"
  "${M[@]}" report "${KEEP[@]}" || status=1
  echo "Report: $(cd "$RESULTS" && pwd)/$PROFILE/report/index.html"
fi
exit $status
