"""The sanitizer run (harness/qlaemu/sanitize.py, issue #11): the device's
qtests, the stock race and the basic scenario on QEMU built with ASan and
UBSan, with zero reports.  CI runs it as part of the suite: the build
(``BUILD_DIR/qemu-san``) takes about 10 minutes the first time on two
cores, the run about 70 s.
"""
import subprocess

import pytest

from qlaemu import cli, paths, sanitize

ASAN_REPORT = """\
=================================================================
==123==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020
READ of size 4 at 0x6020 thread T0
    #0 0x55 in isp_tgt_receive ../qemu-src/hw/qla2532/isp-tgt.c:640
"""
UBSAN_REPORT = ("../qemu-src/hw/qla2532/isp-fw.c:54:9: runtime error: "
                "shift exponent 40 is too large\n")
ASAN_WARNING = ("==77==WARNING: ASan doesn't fully support "
                "makecontext/swapcontext functions and may produce false "
                "positives in some cases!\n")


def test_reports_are_errors_not_warnings(tmp_path):
    (tmp_path / "asan.1").write_text(ASAN_WARNING)
    (tmp_path / "asan.2").write_text(ASAN_WARNING + ASAN_REPORT)
    (tmp_path / "ubsan.3").write_text(UBSAN_REPORT)
    (tmp_path / "asan.4").write_text("")
    found = sanitize.reports(tmp_path)
    assert [p.name for p in found] == ["asan.2", "ubsan.3"]
    text = sanitize.summary(found, tmp_path, 1.0)
    assert "2 report file(s)" in text
    assert "heap-use-after-free" in text and "isp-tgt.c:640" in text
    assert "shift exponent" in text


def test_prepare_sets_the_sanitizer_build_and_log_paths():
    env = {}
    logdir = sanitize.prepare(env)
    assert env["QLAEMU_SANITIZE"] == "1"
    assert "log_path=%s" % (logdir / "asan") in env["ASAN_OPTIONS"]
    assert "detect_leaks=0" in env["ASAN_OPTIONS"]
    assert "log_path=%s" % (logdir / "ubsan") in env["UBSAN_OPTIONS"]
    logdir.rmdir()


def test_cli_has_sanitize():
    args = cli.build_parser().parse_args(["test", "--sanitize"])
    assert args.sanitize


@pytest.mark.build
@pytest.mark.guest
def test_sanitizer_run_has_no_reports(record_property):
    """``./qlaemu test --sanitize``: its tests pass and no sanitizer
    report is written."""
    r = subprocess.run(["./qlaemu", "test", "--sanitize"], cwd=paths.REPO,
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=3600)
    tail = (r.stdout + r.stderr)[-6000:]
    line = next((ln for ln in r.stdout.splitlines()
                 if ln.startswith("sanitizers (ASan + UBSan)")), None)
    record_property("sanitizer_summary", line)
    assert line is not None, tail
    assert " 0 report file(s)" in line, tail
    assert r.returncode == 0, tail
    result = [ln for ln in r.stdout.splitlines() if " passed" in ln
              and ln.startswith("=")]
    assert result and "failed" not in result[-1] \
        and "error" not in result[-1], tail
