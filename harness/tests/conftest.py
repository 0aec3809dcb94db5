"""Shared fixtures of the harness tests.

Markers:
    guest   boots the guest (needs QEMU and the guest image; ~10 s each)
    device  needs the qla2532 device model in QEMU (fails until it exists)
    build   builds QEMU (used by test_build.py; registered here)
    slow    a long guest matrix (test_link.py topology rows, ~3 min);
            deselect with ``-m "not slow"``
"""
import sys
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
