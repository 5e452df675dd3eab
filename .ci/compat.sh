#!/usr/bin/env bash
# `make test-compat TIERS VERSION...`: the tests selected by the marker expression TIERS (chaos
# soaks and slow tests left out) against each Optuna VERSION ("latest" = the newest 5.x), each
# in its own venv .venv-optuna-VERSION with everything else at the pins of constraints/dev.txt,
# so upstream drift shows up as a named failure. Exits 1 if any version fails.
set -uo pipefail
cd "$(dirname "$0")/.."
tiers=$1
shift
PY=${PY:-python3}
JOBS=${JOBS:-2}
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
grep -v -i '^optuna==' constraints/dev.txt >"$pins"

failed=()
for version in "$@"; do
  venv=.venv-optuna-$version
  # the newest 5.x even beyond the range pyproject.toml allows: that is the drift to see
  if [ "$version" = latest ]; then spec='optuna>=5,<6'; else spec="optuna==$version"; fi
  echo "== compat: installing $spec into $venv"
  if ! {
    { [ -x "$venv/bin/python" ] || "$PY" -m venv "$venv"; } &&
      "$venv/bin/python" -m pip install -q -c "$pins" pip setuptools wheel &&
      "$venv/bin/python" -m pip install -q --no-build-isolation -c "$pins" -e '.[dev]' &&
      "$venv/bin/python" -m pip install -q --upgrade --upgrade-strategy only-if-needed \
        -c "$pins" "$spec"
  }; then
    failed+=("Optuna $version: install failed")
    continue
  fi
  installed=$("$venv/bin/python" -c 'import optuna; print(optuna.__version__)')
  unchecked=0
  if ! "$venv/bin/python" -c \
    'from sweeprun.storage.optuna_adapter import check_version; check_version()' 2>/dev/null; then
    echo "== compat: Optuna $installed is outside sweeprun's tested range" \
      "(TESTED in sweeprun/storage/optuna_adapter.py): running with SWEEPRUN_OPTUNA_UNCHECKED=1"
    unchecked=1
  fi
  echo "== compat: Optuna $installed ($version): -m \"($tiers) and not chaos and not slow\""
  SWEEPRUN_OPTUNA_UNCHECKED=$unchecked "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    -n "$JOBS" -m "($tiers) and not chaos and not slow"
  rc=$?
  if [ "$rc" -ne 0 ]; then
    failed+=("Optuna $installed ($version): pytest exit $rc")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  printf '== compat FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "== compat passed: Optuna $*"
