#!/usr/bin/env bash
# Mutation testing of the guarantee modules: mutmut per target, then admission's Lua script.
# Slow (tens of minutes on two cores), so not part of CI. Needs Redis on 127.0.0.1:6379 and
# the project installed in the active virtualenv (pip install -e '.[test]').
#   bash benchmarks/mutation/run.sh                 # every target
#   bash benchmarks/mutation/run.sh quotas pricing  # some (the Lua script is always run)
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q -r requirements.txt
python run.py "$@"
python lua.py
