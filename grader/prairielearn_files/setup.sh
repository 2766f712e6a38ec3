#!/usr/bin/env bash
# PrairieLearn grading image: install what the autograder needs (run once, as root, by the Dockerfile).
# The same set as Gradescope's setup.sh: python3 with a venv holding numpy and pyseccomp, libseccomp2
# (the seccomp layer, which with Landlock contains the workers where namespaces are refused, as
# under PrairieLearn's Docker seccomp profile) and bubblewrap (used where namespaces work).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
HERE=/opt/assignment-grader

missing() {
    local out=()
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || out+=(python3 python3-venv)
    command -v bwrap >/dev/null 2>&1 || out+=(bubblewrap)
    python3 -c 'import ctypes.util, sys; sys.exit(not ctypes.util.find_library("seccomp"))' >/dev/null 2>&1 \
        || out+=(libseccomp2)
    echo "${out[@]}"
}

need="$(missing)"
if [ -n "$need" ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: the base image lacks $need and has no apt-get: use a Debian or Ubuntu base" >&2
        exit 1
    fi
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package
    apt-get install -y -qq --no-install-recommends $need
    rm -rf /var/lib/apt/lists/*
fi

if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup.sh: the grader needs Python 3.10 or newer; this base has $(python3 --version 2>&1)" >&2
    exit 1
fi
python3 -m venv "$HERE/venv"
if compgen -G "$HERE/wheels/*.whl" >/dev/null; then
    # Offline: only the wheels shipped in image/wheels/.
    "$HERE/venv/bin/python" -m pip install --quiet --no-index --find-links "$HERE/wheels" "numpy>=2" "pyseccomp>=0.1.2"
else
    "$HERE/venv/bin/python" -m pip install --quiet "numpy>=2" "pyseccomp>=0.1.2"
fi
rm -rf "$HERE/wheels" /root/.cache/pip
# A worker runs under its own uid: it must be able to read the interpreter and its packages.
chmod -R a+rX "$HERE"
chmod 755 "$HERE/entrypoint.sh"
"$HERE/venv/bin/python" -c 'import numpy, pyseccomp; print("grading image: numpy", numpy.__version__, "and pyseccomp ready")'
