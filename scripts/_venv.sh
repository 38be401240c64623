# Shared by the scripts: find Python >= 3.11, create .venv once, install oncue into it.
PYTHON_BIN=""
for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
  if [ -n "$candidate" ] && command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    PYTHON_BIN="$candidate"; break
  fi
done
if [ -z "$PYTHON_BIN" ]; then
  echo "oncue needs Python 3.11 or newer" >&2; exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
export PATH="$PWD/.venv/bin:$PATH"
