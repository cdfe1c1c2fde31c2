#!/bin/sh
# The HTCondor example's entry point: one job per text through the head's schedd, then the total.
# vc3tui points CONDOR_CONFIG at the head's pool, so condor_submit needs no other setting.
set -eu
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp -r texts "$scratch"
cd "$scratch"
cat > count.sub <<'SUB'
executable = /bin/sh
arguments = "-c 'wc -w < $(text)'"
transfer_input_files = $(text)
output = $(text).count
error = $(text).err
log = count.log
MaxRuntime = 600
+MaxRuntime = 600
queue text matching files texts/*.txt
SUB
condor_submit count.sub > /dev/null
condor_wait count.log > /dev/null
echo "$(cat texts/*.count | awk '{ total += $1 } END { print total }') words in $(ls texts/*.txt | wc -l) files"
