"""A Work Queue manager for the tests (run with Debian's /usr/bin/python3, which has work_queue).

Usage: wq_manager.py LOG TASKS SECONDS. Each task appends "KEY start TAG TIME" to LOG when it
starts and "KEY end TAG TIME" when it ends, so the test can count how often each task started
and on which pilot. The manager listens where vc3tui told it (VC3_WQ_*) and prints one JSON line
per returned task. A task killed with its pilot (a non-peaceful shrink can signal the task before
the worker disconnects) is submitted again, as a workflow's own retry policy would.
"""

import json
import os
import sys

import work_queue

log, count, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
queue = work_queue.WorkQueue(port=int(os.environ["VC3_WQ_PORT"]), name=os.environ["VC3_WQ_PROJECT"])
queue.specify_password_file(os.environ["VC3_WQ_PASSWORD_FILE"])
stamp = "$(date +%s.%N)"
commands = {}
for key in range(count):
    command = f'echo "{key} start $VC3_PILOT_TAG {stamp}" >> {log}; sleep {seconds}; echo "{key} end $VC3_PILOT_TAG {stamp}" >> {log}'
    commands[queue.submit(work_queue.Task(command))] = command
while not queue.empty():
    task = queue.wait(5)
    if task and task.return_status != 0 and task.result == 0:
        command = commands.pop(task.id)
        commands[queue.submit(work_queue.Task(command))] = command
    elif task:
        print(json.dumps({"id": task.id, "result": task.result, "status": task.return_status}), flush=True)
