#!/usr/bin/env bash
# Make the virtual environment that holds Data to Insight's validators (requirements.txt beside
# this script), apart from the project's .venv: they pin old pandas and numpy. Idempotent: a stamp
# named after requirements.txt and the Python version says it is made, and then this returns at once.
#
#   tests/validators/setup.sh            make (or check) <repo>/.venv-validators
#   VALIDATORS_VENV=/some/dir setup.sh   somewhere else
#   VALIDATORS_PYTHON=python3.10 ...     with another interpreter (3.9 to 3.11; default: the first
#                                        of python3.11, python3.10, python3.9, python3 that exists)
#
# Why not 3.12 or later: the validators need pandas<2, and pandas 1.5 (like numpy 1.24) has no
# wheel for 3.12; building it from source needs a compiler and minutes, so it is refused here.
#
# Prints the environment's python on its last line. pip uses the machine's own configuration
# (an index, or a mirror when offline).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${VALIDATORS_VENV:-$repo/.venv-validators}"
requirements="$here/requirements.txt"

python="${VALIDATORS_PYTHON:-}"
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3.10 python3.9 python3; do
    if command -v "$candidate" >/dev/null; then python="$candidate"; break; fi
  done
fi
[[ -n "$python" ]] || { echo "setup.sh: no python3 found" >&2; exit 1; }
version="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
case "$version" in
  3.9|3.10|3.11) ;;
  *) echo "setup.sh: $python is Python $version; the validators need 3.9 to 3.11 (pandas<2" \
       "has no wheel for later ones): set VALIDATORS_PYTHON" >&2; exit 1 ;;
esac

# One maker at a time (make and several pytest sessions may ask at once).
if command -v flock >/dev/null; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
fi

stamp="$venv/.made-$(cat "$requirements" | sha1sum | cut -c1-12)-py$version"
if [[ -f "$stamp" && -x "$venv/bin/python" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

echo "setup.sh: making $venv with Python $version ($python)" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
log="$venv/pip-install.log"
if ! "$venv/bin/pip" install --disable-pip-version-check -r "$requirements" >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "setup.sh: pip could not install $requirements (log: $log)" >&2
  exit 1
fi
"$venv/bin/python" -c 'import cin_validator, lac_validator' >&2
touch "$stamp"
echo "$venv/bin/python"
