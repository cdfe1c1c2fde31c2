"""The manager both sides of bench/workqueue_workers.py connect to (Debian's /usr/bin/python3).

Usage: wq_manager_clock.py PORT PASSWORD_FILE N. Holds N long tasks until N workers are connected,
as the manager itself counts them; then prints when the Nth of them connected (seconds since the
epoch) and exits.

The time comes from the manager's transactions log, which stamps each worker's CONNECTION to the
microsecond: this cctools' wait() returns only once a second however small its timeout, so the
count it keeps would round every run up to the manager's next second."""

import sys
import tempfile

import work_queue

port, password, wanted = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
with tempfile.NamedTemporaryFile("r", prefix="wq-transactions-") as log:
    queue = work_queue.WorkQueue(port=port, transactions_log=log.name)
    queue.specify_password_file(password)
    for _ in range(wanted):
        queue.submit(work_queue.Task("sleep 600"))
    while queue.stats.workers_connected < wanted:
        queue.wait(1)
    del queue  # its end closes the transactions log, whose lines the manager does not flush one by one
    connections = [int(line.split()[0]) for line in log.read().splitlines() if line.split()[2:3] == ["WORKER"] and line.rstrip().endswith("CONNECTION")]
print(f"{connections[wanted - 1] / 1e6:.6f}", flush=True)
