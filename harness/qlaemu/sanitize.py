"""The sanitizer run (issue #11): ``./qlaemu test --sanitize``.

QEMU built with its own ``--enable-sanitizers`` (AddressSanitizer and
UndefinedBehaviorSanitizer, ``-fsanitize=address,undefined``) in
``BUILD_DIR/qemu-san`` (:data:`qlaemu.build.SAN_CONFIGURE_ARGS`; every
QEMU of the run is that one because :data:`qlaemu.build.SANITIZE_ENV` is
set) runs :data:`TESTS`: the device's qtests (the fuzz regressions
among them), the stock race and the basic scenario with the real driver.
Each sanitizer writes its reports to a file of its own under
``BUILD_DIR/sanitize/<stamp>/`` (``log_path``); a run passes when the
tests pass and no report was written.  Leak checking is off: QEMU frees
little at exit by design, and those are not guest-reachable bugs.
"""
import re
import time
from pathlib import Path

from . import build, paths

#: The tests of a sanitizer run (pytest node ids, relative to the repo).
TESTS = ("harness/tests/test_qtest.py",
         "harness/tests/test_race.py::test_stock_driver_fails",
         "harness/tests/test_scenario.py::test_basic_scenario")
#: Sanitizer options: every report to log_path.<pid>; go on after a
#: UBSan report so that one run counts them all.
ASAN_OPTIONS = "detect_leaks=0:abort_on_error=0:log_path=%s"
UBSAN_OPTIONS = "print_stacktrace=1:halt_on_error=0:log_path=%s"


def prepare(env: dict) -> Path:
    """Set ``env`` (a copy of os.environ) up for a sanitizer run and
    return the directory the reports will go to."""
    logdir = Path(paths.BUILD_DIR) / "sanitize" / time.strftime(
        "%Y%m%d-%H%M%S")
    logdir.mkdir(parents=True, exist_ok=True)
    env[build.SANITIZE_ENV] = "1"
    env["ASAN_OPTIONS"] = ASAN_OPTIONS % (logdir / "asan")
    env["UBSAN_OPTIONS"] = UBSAN_OPTIONS % (logdir / "ubsan")
    return logdir


#: A report in a sanitizer's log: ASan's "ERROR: AddressSanitizer: ...",
#: UBSan's "file:line:col: runtime error: ...".  ASan also writes
#: warnings there (QEMU's coroutines: "ASan doesn't fully support
#: makecontext/swapcontext"), which are not reports.
REPORT_RE = re.compile(r"ERROR: AddressSanitizer|runtime error:")


def reports(logdir: Path) -> list:
    """The sanitizer log files of a run that hold a report, sorted."""
    return sorted(p for p in Path(logdir).iterdir() if p.is_file()
                  and REPORT_RE.search(p.read_text(errors="replace")))


def summary(found: list, logdir: Path, wall_s: float) -> str:
    """Text: the number of reports and the first lines of each."""
    lines = ["sanitizers (ASan + UBSan): %d report file(s) in %s; run "
             "%.0f s" % (len(found), logdir, wall_s)]
    for p in found[:10]:
        text = [ln for ln in p.read_text(errors="replace").splitlines()
                if REPORT_RE.search(ln) or ln.lstrip().startswith("#")]
        lines.append("  %s: %s" % (p.name, " | ".join(text[:4])[:400]))
    return "\n".join(lines)
