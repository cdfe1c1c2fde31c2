"""The bare node test bed itself: a job on site b's nodes finds python3, a C compiler and make and
none of the middleware, which a job on site a (this machine's own root) has; what a job writes
to the home, the login node sees. A `soak` run: the node's root takes about 90 s to make once."""

from __future__ import annotations

import pwd

import pytest

from tests.testbed import topology
from tests.testbed.sshd import USER
from tests.testbed.two_sites import TwoSites

pytestmark = [pytest.mark.soak, pytest.mark.timeout(900), pytest.mark.skipif(topology.usable() is not None, reason=str(topology.usable()))]

CHECK = """\
for p in python3 cc make java work_queue_worker condor_master; do command -v "$p" >/dev/null && echo "has $p" || echo "no $p"; done
python3 -c 'import dask' 2>/dev/null && echo "has dask" || echo "no dask"
printf 'int main(void) { return 0; }\\n' > hello.c && cc -o hello hello.c && ./hello && echo compiled
uname -n > from-node
"""

MIDDLEWARE = ("java", "work_queue_worker", "condor_master")


@pytest.mark.parametrize("two_sites", [{"bare_site": "b"}], indirect=True)
def test_a_bare_nodes_jobs_find_a_compiler_and_no_middleware(two_sites: TwoSites) -> None:
    bare = two_sites.job("b", CHECK).splitlines()
    assert bare == ["has python3", "has cc", "has make", *(f"no {p}" for p in MIDDLEWARE), "no dask", "compiled"], bare
    seen = two_sites.net.run("b-login", ["cat", f"{pwd.getpwnam(USER).pw_dir}/from-node"])
    assert seen.stdout.startswith("siteb-node"), f"the login node sees what a node wrote to the home: {seen}"
    full = two_sites.job("a", CHECK).splitlines()
    assert {f"has {p}" for p in ("java", "work_queue_worker")} <= set(full), f"site a's nodes are this machine's own root: {full}"
