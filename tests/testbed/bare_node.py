"""A bare compute node, for the builder's tests: a Debian 12 root of its own with python3, a C
compiler and make and nothing of the middleware (no Java, cctools, HTCondor, Dask, pip packages),
whose slurmd runs chrooted in it, in the node's network and its own uts, mount and pid
namespaces, with the site's home bound over the user's as on real sites (facts in
../shared/TESTBED.md, "A bare compute node"). Jobs there see only the root: what they need
travels through the home.
"""

from __future__ import annotations

import grp
import pwd
import subprocess
from pathlib import Path

from tests.testbed import root_with
from tests.testbed.roots import SOURCES, debian_root

SUITE = "bookworm"


def usable() -> str | None:
    return root_with("the bare node (debootstrap, chroot, namespaces)", "debootstrap", "chroot", "unshare", "dpkg-query")


def slurmd_version() -> str:
    """This machine's slurmd, which the node's must match exactly."""
    return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "slurmd"], capture_output=True, text=True, check=True).stdout.strip()


def bare_root(cache: Path, user: str) -> Path:
    """The root (made once per slurmd version, about 90 s, then cached), with `user` in it under
    the same uid, gid and home as here."""
    packages = ("python3", "gcc", "libc6-dev", "make", f"slurmd={slurmd_version()}")
    root = debian_root(cache, "bare-node", SUITE, packages, sources=SOURCES.read_text(), made="usr/sbin/slurmd")
    account, group = pwd.getpwnam(user), grp.getgrgid(pwd.getpwnam(user).pw_gid)
    for table, line in (("passwd", f"{user}:x:{account.pw_uid}:{account.pw_gid}::{account.pw_dir}:/bin/bash"), ("group", f"{group.gr_name}:x:{group.gr_gid}:")):
        path = root / "etc" / table
        kept = [row for row in path.read_text().splitlines() if row.split(":", 1)[0] != line.split(":", 1)[0]]
        path.write_text("\n".join([*kept, line]) + "\n")
    (root / "etc/hosts").touch()  # a mount point for the node's own
    return root


NODE = """\
set -e
root=$1 tmp=$2 home=$3 run=$4 conf=$5 name=$6 munge=$7
mount --bind "$tmp" "$root/tmp"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount --bind /etc/hosts "$root/etc/hosts"
for dir in "$home" "$(dirname "$conf")" "$munge"; do
    mkdir -p "$root$dir"
    mount --bind "$dir" "$root$dir"
done
mount --bind "$run" "$root$(dirname "$conf")/run"
chroot "$root" slurmd -D -N "$name" -f "$conf" &
trap 'kill "$!"; exit 143' TERM
wait "$!"
"""
"""The node's pid 1 (a shell that stays, and reaps): its own /tmp first (the test bed's paths
live under /tmp, so their mount points are made there), then proc, sys, dev, the node's hosts
file, the site's home, its SLURM dir and the munge socket's dir, and a run dir of its own over
SLURM's (each slurmd writes its pid at the same path); then slurmd, chrooted."""


def node_command(root: Path, tmp: Path, home: Path, run: Path, conf: Path, name: str, munge: Path) -> list[str]:
    """The node's slurmd, in a pid namespace of its own that ends with it (run through the
    topology, which gives it the node's network, name, hosts file and home)."""
    return ["unshare", "--pid", "--fork", "--kill-child", "sh", "-c", NODE, "sh", str(root), str(tmp), str(home), str(run), str(conf), name, str(munge)]
