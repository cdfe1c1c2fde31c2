"""The pilot monitor: runs beside the worker inside every pilot (stdlib only, Python 3.6+).

It is what keeps a pilot from burning allocation hours once nobody needs it, whatever the
middleware: it ends the worker when the head has been unreachable for VC3_HEAD_TIMEOUT seconds,
or when the worker's processes used (almost) no CPU for VC3_IDLE_TIMEOUT seconds. It also marks
the pilot `worker_joined` when the worker prints VC3_JOINED_LINE, for middleware whose manager
cannot list its workers by name. Why it ended goes into the pilot's `ended` file for the wrapper.

Usage: python3 monitor.py PILOT_DIR WORKER_PID
"""

import os
import signal
import socket
import sys
import time

CHECK_EVERY = 5.0
HEAD_CHECK_EVERY = 30.0
"""At most one connection to the head per pilot this often (less when the timeout is short), so
thousands of pilots do not flood the manager with probes."""
IDLE_CPU_SHARE = 0.02
"""A worker that used less than this share of one core over the idle window counts as idle."""


def main(pilot_dir, worker_pid):
    joined_line = os.environ.get("VC3_JOINED_LINE", "").encode()
    head = os.environ.get("VC3_HEAD_ADDRESS", "")
    head_timeout = int(os.environ.get("VC3_HEAD_TIMEOUT") or 0)
    idle_timeout = int(os.environ.get("VC3_IDLE_TIMEOUT") or 0)
    log_path = os.path.join(pilot_dir, "worker.log")
    tick = os.sysconf("SC_CLK_TCK")
    now = time.monotonic()
    head_seen, head_checked, log_offset = now, now, 0
    head_every = max(CHECK_EVERY, min(HEAD_CHECK_EVERY, head_timeout / 3.0))
    cpu_window = [(now, cpu_seconds(worker_pid, tick))]
    while alive(worker_pid) and not over(pilot_dir):
        time.sleep(CHECK_EVERY)
        now = time.monotonic()
        if joined_line:
            found, log_offset = scan(log_path, log_offset, joined_line)
            if found:
                write_atomically(os.path.join(pilot_dir, "stage"), "worker_joined\n")
                joined_line = b""
        if head and head_timeout and now - head_checked >= head_every:
            head_checked = now
            if reachable(head):
                head_seen = now
            elif now - head_seen > head_timeout:
                return end(pilot_dir, worker_pid, "head", "head {} unreachable for {} s".format(head, int(now - head_seen)))
        if idle_timeout:
            cpu_window.append((now, cpu_seconds(worker_pid, tick)))
            while len(cpu_window) > 2 and now - cpu_window[1][0] >= idle_timeout:
                cpu_window.pop(0)
            started, used = cpu_window[0]
            if now - started >= idle_timeout and cpu_window[-1][1] - used < IDLE_CPU_SHARE * (now - started):
                return end(pilot_dir, worker_pid, "idle", "idle for {} s".format(int(now - started)))
    return 0


def end(pilot_dir, worker_pid, why, detail):
    write_atomically(os.path.join(pilot_dir, "ended"), "{}\n{}\n".format(why, detail))
    try:
        os.kill(worker_pid, signal.SIGTERM)
    except OSError:
        pass
    return 0


def over(pilot_dir):
    """The pilot has ended (its exit marker) or its dir is gone: its worker's pid may be another's."""
    return os.path.exists(os.path.join(pilot_dir, "exit")) or not os.path.isdir(pilot_dir)


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open("/proc/{}/stat".format(pid)) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def scan(path, offset, line):
    """Whether `line` appears in the file after `offset`; reads only what was appended."""
    try:
        with open(path, "rb") as log:
            log.seek(max(0, offset - len(line)))
            chunk = log.read()
            return line in chunk, log.tell()
    except OSError:
        return False, offset


def reachable(address):
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
        return True
    except (OSError, ValueError):
        return False


def cpu_seconds(root, tick):
    """CPU time (user + system, with reaped children) of `root` and every process below it."""
    parents, times = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/{}/stat".format(entry)) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(value) for value in fields[11:15])
    total, todo = 0, [root]
    children = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0)
        todo.extend(children.get(pid, ()))
    return total / float(tick)


def write_atomically(path, text):
    with open(path + ".tmp", "w") as out:
        out.write(text)
    os.rename(path + ".tmp", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
