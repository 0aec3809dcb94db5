"""Shared fixtures of the harness tests.

Markers:
    guest   boots the guest (needs QEMU and the guest image; ~10 s each)
    device  needs the qla2532 device model in QEMU (fails until it exists)
    build   builds QEMU (used by test_build.py; registered here)
    slow    a long guest matrix (test_link.py topology rows, ~3 min);
            deselect with ``-m "not slow"``
"""
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from qlaemu import image, probe, vm  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers",
                            "guest: boots the test guest under QEMU")
    config.addinivalue_line("markers",
                            "device: needs the qla2532 QEMU device model")
    config.addinivalue_line("markers",
                            "build: builds QEMU (test_build.py)")
    config.addinivalue_line("markers",
                            "slow: long guest matrix (minutes)")


@pytest.fixture(scope="session")
def guest_ready():
    """QEMU built (or $QLAEMU_QEMU) and guest image made; returns QEMU path."""
    qemu = vm.qemu_binary()
    image.prepare()
    return qemu


@pytest.fixture(scope="session")
def initiator_probe(guest_ready):
    """One probe() in initiator mode, shared by the device tests (dict)."""
    return probe.probe(mode="initiator", run_name="pytest-probe-initiator")


@pytest.fixture(scope="session")
def target_probe(guest_ready):
    """One probe() in target mode (tcm_qla2xxx + LIO ramdisk), dict."""
    return probe.probe(mode="target", run_name="pytest-probe-target")


#: Captures already read by :func:`every_capture_dissects` (path -> mtime).
_CHECKED_CAPTURES = {}
#: Wall-clock start of this pytest session (captures older than this are
#: left from earlier runs).
_SESSION_START = time.time()


@pytest.fixture(autouse=True)
def every_capture_dissects(request):
    """Issue #10's acceptance for every pcap the tests produce: after each
    test that boots a guest, every capture written under the artifacts
    directory since the session began and not read yet (its own, and those
    of session fixtures it used) is dissected by tshark with no malformed
    frame, bad CRC or expert warning (qlaemu.capture.problems).  Captures
    of set-up failures that wrote no frame pass trivially."""
    yield
    if request.node.get_closest_marker("guest") is None:
        return
    from qlaemu import capture, paths
    bad = []
    for p in sorted(Path(paths.ARTIFACTS_DIR).rglob("*.pcap")):
        try:
            mtime = p.stat().st_mtime
        except OSError:
            continue
        if mtime < _SESSION_START or _CHECKED_CAPTURES.get(p) == mtime:
            continue
        _CHECKED_CAPTURES[p] = mtime
        try:
            probs = capture.problems(capture.frames(p))
        except capture.CaptureError as e:
            probs = [str(e)]
        if probs:
            bad.append("%s: %s" % (p, "; ".join(probs[:3])))
    assert not bad, "captures tshark does not read cleanly:\n" + \
        "\n".join(bad)
