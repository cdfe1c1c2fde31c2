"""Count words over the example texts on the cluster's Dask workers, and say which worker did what.

Run by `vc3tui --run examples/local-dask.toml` as the entry point: DASK_SCHEDULER_ADDRESS points
the client at the cluster.
"""

import collections
import re
import sys
from pathlib import Path

from distributed import Client, get_worker


def count_words(text):
    words = collections.Counter(re.findall(r"[a-z']+", text.lower()))
    return get_worker().name, dict(words)


def main(folder):
    files = sorted(Path(folder).glob("*.txt"))
    with Client() as client:
        workers = client.scheduler_info()["workers"]
        print(f"cluster has {len(workers)} workers: {', '.join(sorted(str(w['name']) for w in workers.values()))}")
        futures = client.map(count_words, [f.read_text() for f in files], pure=False)
        total = collections.Counter()
        by_worker = collections.Counter()
        for worker, counts in client.gather(futures):
            total.update(counts)
            by_worker[worker] += 1
    print(f"{sum(total.values())} words, {len(total)} distinct, in {len(files)} files")
    for word, n in total.most_common(5):
        print(f"  {word:<12} {n}")
    for worker, n in sorted(by_worker.items()):
        print(f"  {n} files counted by {worker}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "texts"))
