"""Host plumbing shared by every set-up step: progress lines, logged
commands, locks and atomic file updates.

One place for what the QEMU build (:mod:`qlaemu.build`), apt
(:mod:`qlaemu.apt`), guest kernels (:mod:`qlaemu.kernels`) and driver
builds (:mod:`qlaemu.modbuild`) all need.  Paths are read from
:mod:`qlaemu.paths` at call time, so tests may monkeypatch them.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator, Sequence

from . import paths

#: Lines of a log shown in an error message.
LOG_TAIL_LINES = 40


class SetupError(RuntimeError):
    """A set-up step failed; the message says which and shows its log tail."""


def progress(msg: str, tag: str = "setup") -> None:
    """Print one ``[tag] msg`` progress line on stderr."""
    print(f"[{tag}] {msg}", file=sys.stderr, flush=True)


def log_dir() -> Path:
    """``BUILD_DIR/logs`` (created)."""
    d = Path(paths.BUILD_DIR) / "logs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    """The last ``n`` lines of ``path`` ('' when it cannot be read)."""
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def run_logged(cmd: Sequence[str | os.PathLike], log: Path, *,
               cwd: Path | None = None, env: dict | None = None,
               stdin=None) -> int:
    """Run ``cmd`` with stdout+stderr appended to the file ``log``.

    Args:
        cmd: argv.
        log: log file (appended; a ``$ argv`` header line first).
        cwd: working directory.
        env: variables added to the current environment.
        stdin: a file object for stdin (default /dev/null).

    Returns:
        the exit status; 127 when the program does not exist.
    """
    argv = [str(c) for c in cmd]
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(argv)}   (cwd={cwd or os.getcwd()})\n")
        fh.flush()
        try:
            return subprocess.call(
                argv, cwd=cwd, env=dict(os.environ, **(env or {})),
                stdout=fh, stderr=subprocess.STDOUT,
                stdin=stdin if stdin is not None else subprocess.DEVNULL)
        except FileNotFoundError as exc:
            fh.write(f"{exc}\n")
            return 127


def run_step(cmd: Sequence[str | os.PathLike], log: str, *,
             cwd: Path | None = None, env: dict | None = None,
             check: bool = True) -> int:
    """:func:`run_logged` into ``BUILD_DIR/logs/<log>.log``, raising on
    failure.

    Args:
        cmd: argv.
        log: log file stem.
        cwd, env: as :func:`run_logged`.
        check: raise on a non-zero exit status.

    Returns:
        the exit status.

    Raises:
        SetupError: ``check`` and the command failed or is missing; the
            message holds the command, the log path and its tail (also
            printed on stderr).
    """
    logfile = log_dir() / f"{log}.log"
    rc = run_logged(cmd, logfile, cwd=cwd, env=env)
    if rc != 0 and check:
        t = tail(logfile)
        print(t, file=sys.stderr)
        raise SetupError(f"`{' '.join(str(c) for c in cmd)}` failed "
                         f"(exit {rc}); log: {logfile}\n{t}")
    return rc


def run_captured(cmd, error=SetupError, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` (list) capturing its output; raise ``error`` with the
    output's tail when it fails.

    Raises:
        ``error``: non-zero exit status.
    """
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       **kw)
    if p.returncode != 0:
        raise error("%s failed (%d): %s%s" % (
            " ".join(map(str, cmd)), p.returncode, p.stdout[-2000:],
            p.stderr[-2000:]))
    return p


@contextlib.contextmanager
def lock(name: str, directory: Path | None = None) -> Iterator[None]:
    """Serialise a step between concurrent harness processes (flock on
    ``<directory>/.<name>.lock``, default ``BUILD_DIR``)."""
    d = Path(directory or paths.BUILD_DIR)
    d.mkdir(parents=True, exist_ok=True)
    with open(d / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def sync_file(path: Path, text: str) -> bool:
    """Make ``path`` hold ``text`` atomically (remove it when ``text`` is
    empty).

    Returns:
        True when the file system was changed.
    """
    if not text:
        if path.exists():
            path.unlink()
            return True
        return False
    if path.is_file() and path.read_text() == text:
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)
    return True


def symlink(link: Path, target: Path) -> bool:
    """``ln -sfn target link``, atomically.  Returns True if it changed.

    Raises:
        SetupError: ``link`` exists and is not a symlink.
    """
    if link.is_symlink():
        if os.readlink(link) == str(target):
            return False
    elif link.exists():
        raise SetupError(f"{link} exists and is not a symlink; remove it "
                         "(for the QEMU tree: remove the whole tree to "
                         "re-extract it)")
    tmp = link.with_name(link.name + ".qlaemu-tmp")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(target)
    os.replace(tmp, link)
    return True
