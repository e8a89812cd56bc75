#!/usr/bin/env bash
# Build turbosvd with AddressSanitizer + UndefinedBehaviorSanitizer into a throwaway venv and
# run the test suite under it. Usage: tools/sanitize.sh [pytest args...]
# Any sanitizer report aborts the run (halt_on_error), so a green run means a clean run.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SANITIZE_VENV:-.venv-sanitize}
python -m venv "$venv"
"$venv/bin/pip" install -q ".[test]" \
    -Ccmake.build-type=RelWithDebInfo \
    -Ccmake.define.TURBOSVD_SANITIZE=address,undefined \
    -Cbuild-dir="build/sanitize"
asan=$(g++ -print-file-name=libasan.so)
ubsan=$(g++ -print-file-name=libubsan.so)
# Python itself is not instrumented: preload the runtimes, ignore CPython's own leaks.
LD_PRELOAD="$asan $ubsan" \
ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_odr_violation=0 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
PYTHONMALLOC=malloc \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
