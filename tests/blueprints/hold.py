"""Entry point for tests: report what the cluster looks like, then wait for the file `release`."""

import json
import os
import time
from pathlib import Path

from distributed import Client

with Client() as client:
    result = client.submit(sum, range(101)).result()
    names = sorted(str(w["name"]) for w in client.scheduler_info()["workers"].values())
Path("entry-started.tmp").write_text(json.dumps({"pid": os.getpid(), "sum": result, "workers": names}))
os.rename("entry-started.tmp", "entry-started.json")
while not Path("release").exists():
    time.sleep(0.1)
print("released, sum", result)
