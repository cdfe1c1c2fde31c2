"""The manager both sides of bench/workqueue_workers.py connect to (Debian's /usr/bin/python3).

Usage: wq_manager_clock.py PORT PASSWORD_FILE N. Holds N long tasks and prints the seconds since
it started at which N workers were connected, as the manager itself counts them; then exits."""

import sys
import time

import work_queue

port, password, wanted = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
started = time.monotonic()
queue = work_queue.WorkQueue(port=port)
queue.specify_password_file(password)
for _ in range(wanted):
    queue.submit(work_queue.Task("sleep 600"))
while queue.stats.workers_connected < wanted:
    # wait(0): one pass over the manager's links, so the count is read every 20 ms rather than
    # once a second (wait's finest timeout), for both sides alike
    queue.wait(0)
    time.sleep(0.02)
print(f"{time.monotonic() - started:.2f}", flush=True)
