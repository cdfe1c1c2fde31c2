#!/bin/sh
# The Work Queue example's entry point: run wordcount.mf with Makeflow as the cluster's manager, in
# a scratch copy so the example folder stays clean. vc3tui gives the manager its port, project,
# catalog and password file in VC3_WQ_*.
set -eu
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r wordcount.mf texts "$scratch"
cd "$scratch"
makeflow -T wq -p "$VC3_WQ_PORT" -N "$VC3_WQ_PROJECT" -C "$VC3_WQ_CATALOG" \
    --password "$VC3_WQ_PASSWORD_FILE" wordcount.mf > makeflow.log 2>&1 || { tail -n 20 makeflow.log >&2; exit 1; }
cat total.txt
