"""The manager of bench/two_sites.py's throughput figure (Debian's /usr/bin/python3, which has
work_queue).

Usage: wq_throughput.py PORT PASSWORD_FILE WORKERS TASKS. Waits until WORKERS workers are
connected, then submits TASKS tasks that do nothing and prints the tasks per second from the first
submission to the last result: each task is a dispatch and a result, both over the path between
the manager and its workers, which is what the figure compares.
"""

import sys
import time

import work_queue

port, password, wanted, tasks = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
queue = work_queue.WorkQueue(port=port)
queue.specify_password_file(password)
while queue.stats.workers_connected < wanted:
    queue.wait(1)
started = time.monotonic()
for _ in range(tasks):
    queue.submit(work_queue.Task("true"))
done = 0
while done < tasks:
    if queue.wait(5):
        done += 1
print(f"{tasks / (time.monotonic() - started):.3f}", flush=True)
