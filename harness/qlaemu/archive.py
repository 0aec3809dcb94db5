"""Reproducible newc archives of the guest's files (the initramfs parts).

The guest's boot is timed by its instructions (-icount), and the kernel
reads every byte of these archives, so the same files must give the same
bytes on every run and every machine (docs/race.md §4).
"""
import os
import subprocess
from pathlib import Path

from . import host


class ArchiveError(host.SetupError):
    """An archive cannot be packed (the message names it and the cause)."""


#: The modification time every file of a guest archive gets (s since the
#: epoch): 2020-01-01T00:00:00Z, the date the guest's RTC starts from
#: (vm.py's ``-rtc base=``).
ARCHIVE_MTIME = 1577836800


def pack_newc(srcdir: Path, out: Path, gzip: bool) -> None:
    """Pack ``srcdir`` into a newc archive ``out`` (gzip -6 -n if
    ``gzip``), the same bytes for the same files every time.

    Reproducible because the guest's boot is timed by its instructions
    (-icount): the kernel parses each header's hex fields digit by digit,
    and a letter costs it more instructions than a digit, so an archive
    whose inode numbers or mtimes changed from run to run shifted the
    whole boot by a few instructions -- enough, where it crossed a timer
    tick, to move the race's timeline by 4-8 ms (docs/race.md §4).  So
    names are sorted, owners are 0:0, inodes are renumbered and device
    numbers left out (cpio ``--reproducible``), and every mtime is
    :data:`ARCHIVE_MTIME`.

    Raises:
        ArchiveError: ``srcdir`` is not a directory, or cpio or gzip failed
            (their stderr in the message).
    """
    if not srcdir.is_dir():
        raise ArchiveError("cannot pack %s: %s is not a directory"
                           % (out.name, srcdir))
    names = sorted(str(p.relative_to(srcdir)) for p in srcdir.rglob("*"))
    for n in names + ["."]:
        os.utime(srcdir / n, (ARCHIVE_MTIME, ARCHIVE_MTIME),
                 follow_symlinks=False)
    argv = ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0",
            "--reproducible"]
    listing = "".join(n + "\n" for n in names).encode()
    tmp = out.with_suffix(out.suffix + ".tmp")
    with open(tmp, "wb") as f:
        if gzip:
            cp = subprocess.Popen(argv, cwd=srcdir, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=cp.stdout,
                                  stdout=f, stderr=subprocess.PIPE)
            cp.stdout.close()
            _, err = cp.communicate(listing)
            err += gz.communicate()[1]
            failed = cp.returncode or gz.returncode
        else:
            p = subprocess.run(argv, cwd=srcdir, input=listing, stdout=f,
                               stderr=subprocess.PIPE)
            err, failed = p.stderr, p.returncode
    if failed:
        tmp.unlink(missing_ok=True)
        raise ArchiveError("packing %s with cpio%s failed: %s"
                           % (out.name, "|gzip" if gzip else "",
                              err.decode(errors="replace").strip()))
    tmp.rename(out)
