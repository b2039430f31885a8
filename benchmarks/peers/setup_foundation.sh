#!/usr/bin/env bash
# Install Salesforce Foundation (ai-economist 1.7.1) into its own virtual environment,
# .venv-foundation in the repository root, for side-by-side speed comparisons
# (benchmarks/peers/foundation_gtb.py, benchmarks/gtb_throughput.py).
#
# ai-economist pins about a hundred packages (jupyter, pylint, numpy 1.21, ...) that do
# not install on Python 3.11; it is installed with --no-deps plus only what its
# foundation package imports, at versions that work with it: numpy < 1.24 (it uses the
# np.bool/np.int aliases removed later) and scipy of the same era; lz4 (its dense-log
# files; 4.3.3 has a Python 3.11 wheel, the 3.1.3 it pins needs a C compiler),
# pycryptodome and GPUtil (imported at start-up). No torch is installed here.
# Idempotent: a second run checks the environment and only installs what is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$ROOT/.venv-foundation"
PYTHON="${1:-python3.11}"  # optional argument: the Python 3.11 interpreter to use
PINS=(
    "ai-economist==1.7.1"
    "numpy==1.23.5"
    "scipy==1.9.3"
    "lz4==4.3.3"
    "pycryptodome==3.10.1"
    "GPUtil==1.4.0"
)

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup_foundation: $PYTHON not found; Foundation needs Python 3.11" \
         "(pass its interpreter: setup_foundation.sh /path/to/python3.11)" >&2
    exit 1
fi

if [ -x "$VENV/bin/python" ]; then
    echo "setup_foundation: using existing $VENV"
else
    echo "setup_foundation: creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
fi

missing=()
for pin in "${PINS[@]}"; do
    name="${pin%%==*}"
    want="${pin##*==}"
    have="$("$VENV/bin/python" -m pip show "$name" 2>/dev/null | awk '/^Version:/ {print $2}' || true)"
    if [ "$have" != "$want" ]; then
        missing+=("$pin")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "setup_foundation: all pins already installed (${PINS[*]})"
else
    echo "setup_foundation: installing ${missing[*]} (--no-deps)"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
        "${missing[@]}"
fi

# Smoke check: the scenario builds and steps once.
"$VENV/bin/python" "$ROOT/benchmarks/peers/foundation_gtb.py" --steps 10 --repeats 1 \
    >/dev/null
echo "setup_foundation: ok, run $VENV/bin/python benchmarks/peers/foundation_gtb.py"
