"""STAND-IN, NOT A BATCH SYSTEM: just enough of PBS Pro / Torque (qsub, qstat, qdel) and LSF (bsub,
bjobs, bkill) to drive vc3tui's adapters from submit through status to cancel, because neither
can be installed here (HTCondor can: tests/testbed/condor.py).

It has no queue and no scheduler: every array element or proc starts at once as a detached local
process. What it prints follows the formats in each system's documentation (PBS Pro `qstat -f -F
json`, Torque `qstat -f`, LSF `bjobs -o ... -noheader` and its "Job <N> is submitted" reply); the
parsers themselves are tested on recorded documentation output elsewhere. State lives in $VC3TUI_STANDIN_STATE.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

STATE = Path(os.environ.get("VC3TUI_STANDIN_STATE", "/tmp/vc3tui-standin"))
USER = os.environ.get("USER", "user")


@contextmanager
def jobs():
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        path = STATE / "jobs.json"
        data = json.loads(path.read_text()) if path.exists() else {"next": 100, "jobs": {}}
        yield data
        path.write_text(json.dumps(data))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def start(argv: list[str], env: dict[str, str], output: str) -> int:
    out = open(output, "ab") if output else subprocess.DEVNULL
    return subprocess.Popen(argv, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True).pid


def directives(script: str, marker: str) -> list[str]:
    return [line[len(marker):].strip() for line in script.splitlines() if line.startswith(marker)]


def option(lines: list[str], flag: str) -> str | None:
    for line in lines:
        if line.startswith(flag + " "):
            value = line[len(flag) + 1:].strip()
            return value[1:-1] if value[:1] == value[-1:] == "'" else value
    return None


def live_elements(data: dict) -> list[tuple[str, str, dict]]:
    """(job, element, record) for every element still running; finished ones leave the listing."""
    out = []
    for job, record in data["jobs"].items():
        for element, info in record["elements"].items():
            if not info.get("removed") and alive(info["pid"]):
                out.append((job, element, record))
    return out


# ---- PBS Pro and Torque ----

def qsub(args: list[str]) -> int:
    path = args[-1]
    script = Path(path).read_text()
    lines = directives(script, "#PBS")
    torque = option(lines, "-t") is not None
    low, high, step = re.fullmatch(r"(\d+)-(\d+)(?::(\d+))?", option(lines, "-t") or option(lines, "-J")).groups()
    variables = dict(item.split("=", 1) for item in (option(lines, "-v") or "").split(",") if "=" in item)
    with jobs() as data:
        job = str(data["next"])
        data["next"] += 1
        elements = {}
        for index in range(int(low), int(high) + 1, int(step or 1)):
            env = {**variables, ("PBS_ARRAYID" if torque else "PBS_ARRAY_INDEX"): str(index)}
            elements[str(index)] = {"pid": start(["sh", path], env, "")}
        data["jobs"][job] = {"system": "pbs", "variables": variables, "elements": elements}
    print(f"{job}[].standin")
    return 0


def qstat(args: list[str]) -> int:
    with jobs() as data:
        listed = live_elements(data)
    if "-F" in args:
        out = {"timestamp": 0, "pbs_version": "stand-in", "pbs_server": "standin", "Jobs": {}}
        for job, element, record in listed:
            out["Jobs"][f"{job}[{element}].standin"] = {"job_state": "R", "Job_Owner": f"{USER}@standin", "Variable_List": record["variables"]}
        print(json.dumps(out, indent=4))
        return 0
    for job, element, record in listed:
        variables = ",".join(f"{k}={v}" for k, v in record["variables"].items())
        print(f"Job Id: {job}[{element}].standin\n    Job_Name = standin\n    job_state = R\n    Variable_List = {variables}\n")
    return 0


def qdel(args: list[str]) -> int:
    return remove([re.match(r"(\d+)\[(\d+)\]", a).groups() for a in args if re.match(r"\d+\[\d+\]", a)])


# ---- LSF ----

def bsub(args: list[str]) -> int:
    script = sys.stdin.read()
    lines = directives(script, "#BSUB")
    name = option(lines, "-J") or "noname"
    match = re.fullmatch(r"(.*)\[(\d+)-(\d+)\]", name)
    STATE.mkdir(parents=True, exist_ok=True)
    path = STATE / f"bsub-{os.getpid()}.sh"
    path.write_text(script)
    with jobs() as data:
        job = str(data["next"])
        data["next"] += 1
        elements = {str(i): {"pid": start(["sh", str(path)], {"LSB_JOBINDEX": str(i), "LSB_JOBID": job}, "")} for i in range(int(match[2]), int(match[3]) + 1)}
        data["jobs"][job] = {"system": "lsf", "name": match[1], "elements": elements}
    print(f"Job <{job}> is submitted to queue <normal>.")
    return 0


def bjobs(args: list[str]) -> int:
    with jobs() as data:
        listed = live_elements(data)
    if not listed:
        print("No unfinished job found", file=sys.stderr)
        return 255
    for job, element, record in listed:
        print(f"{job}|{element}|RUN|{record['name']}[{element}]|standin|-")
    return 0


def bkill(args: list[str]) -> int:
    return remove([re.match(r"(\d+)\[(\d+)\]", a).groups() for a in args if re.match(r"\d+\[\d+\]", a)])


def remove(targets: list) -> int:
    with jobs() as data:
        for job, element in targets:
            info = data["jobs"].get(job, {}).get("elements", {}).get(element)
            if info and alive(info["pid"]):
                os.killpg(info["pid"], signal.SIGTERM)
            if info:
                info["removed"] = True
    return 0


COMMANDS = {f.__name__: f for f in (qsub, qstat, qdel, bsub, bjobs, bkill)}

if __name__ == "__main__":
    sys.exit(COMMANDS[Path(sys.argv[1]).name](sys.argv[2:]))
