"""The device's QEMU qtests (tests/qtest/qla2532-pcie-test.c and the qgraph
tests of tests/qtest/qla2532-test.c in qos-test), run via meson.

Passing needs more than ``meson test`` returning 0: every one of
:data:`QTESTS` must be reported ``ok`` in the TAP output, so a test that
was silently skipped, renamed or not registered fails here.  The whole
output is kept in ``ARTIFACTS_DIR/qtest/qtest.log``.
"""
import re
import subprocess

import pytest

from qlaemu import build, paths

#: The qgraph path of the device's tests in qos-test (build.QOS_PATH).
QOS = build.QOS_PATH
#: The qtest paths that must each report ``ok`` (TAP, QEMU 7.2 g_test):
#: the PCIe qtest's and the qgraph tests on the libqos node "qla2532".
QTESTS = ("/x86_64/qla2532/pci-identity", "/x86_64/qla2532/realize-failure",
          "/x86_64/qla2532/capture", "/x86_64/qla2532/link-objects",
          "/x86_64/qla2532/bad-properties",
          "/x86_64/qla2532/migration-blocker", "/x86_64/qla2532/dual-port",
          QOS + "/soft-reset", QOS + "/mbox-reg-test",
          QOS + "/invalid-command", QOS + "/malformed-mbox",
          QOS + "/mbox-commands", QOS + "/mbox-diag",
          QOS + "/mbox-sys-err-none",
          QOS + "/mbox-invalid-params",
          QOS + "/mbox-no-partner", QOS + "/iocb-malformed",
          QOS + "/iocb-hardening", QOS + "/ctio-overrun-truncate",
          QOS + "/migrate-write", QOS + "/link-events-during-io",
          QOS + "/initiator-io", QOS + "/migrate-initiator",
          QOS + "/remote-link")

#: A TAP result line: "ok 3 /x86_64/qla2532/mbox-reg-test" optionally
#: followed by "# SKIP ..." / "# TODO ...".
TAP_RE = re.compile(r"^(not ok|ok)\s+\d+\s+(\S+)(.*)$", re.M)


def _tap_results(text: str) -> dict:
    """TAP lines of ``text`` -> {test path: (status, directive text)}.

    status is 'ok' or 'not ok'; the directive is what follows the path
    (e.g. '# SKIP no KVM'), stripped.
    """
    return {m.group(2): (m.group(1), m.group(3).strip())
            for m in TAP_RE.finditer(text)}


def test_tap_parser():
    text = ("ok 1 /x86_64/qla2532/a\nnot ok 2 /x86_64/qla2532/b\n"
            "ok 3 /x86_64/qla2532/c # SKIP why\n# ok 4 /x\n")
    assert _tap_results(text) == {
        "/x86_64/qla2532/a": ("ok", ""),
        "/x86_64/qla2532/b": ("not ok", ""),
        "/x86_64/qla2532/c": ("ok", "# SKIP why")}


@pytest.mark.build
@pytest.mark.device
def test_device_qtests_all_pass(capfd):
    res = build.run_qtests(verbose=True)
    out, err = capfd.readouterr()
    text = out + err
    adir = paths.ARTIFACTS_DIR / "qtest"
    adir.mkdir(parents=True, exist_ok=True)
    log = adir / "qtest.log"
    # meson also keeps its own logs (with the tests' TAP output)
    for name in build.QTEST_LOGS:
        meson_log = paths.BUILD_DIR / "qemu" / "meson-logs" / (name + ".txt")
        try:
            text += "\n" + meson_log.read_text(errors="replace")
        except OSError:
            pass
    log.write_text(text)
    print(out)        # shown by pytest on failure
    assert isinstance(res, subprocess.CompletedProcess)
    assert res.returncode == 0, "meson test failed (rc %d); see %s" % (
        res.returncode, log)
    results = _tap_results(text)
    problems = []
    for t in QTESTS:
        status, directive = results.get(t, ("missing", ""))
        if status != "ok" or re.search(r"#\s*(SKIP|TODO)", directive, re.I):
            problems.append("%s: %s %s" % (t, status, directive))
    assert not problems, "qtests not passed: %s; TAP results: %r; log %s" % (
        problems, results, log)
