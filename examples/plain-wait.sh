#!/bin/sh
# The plain-command example's entry point: wait (at most a minute) until N pilots signed the log.
set -eu
log=/tmp/vc3tui-plain-command.log
wanted=$1
for _ in $(seq 60); do
    if [ -f "$log" ] && [ "$(wc -l < "$log")" -ge "$wanted" ]; then
        cat "$log"
        rm -f "$log"
        exit 0
    fi
    sleep 1
done
echo "only $(cat "$log" 2>/dev/null | wc -l) of $wanted pilots signed $log" >&2
exit 1
