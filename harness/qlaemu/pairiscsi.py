"""The field's workaround path beside the pair's FC run (issue #13 item 5):
the same LUN exported by the target guest's LIO over iSCSI as well, and
libiscsi's ``iscsi-test-cu`` run against it with the same suites, so the
report can set the FC and the iSCSI results of each test side by side.

The issue asked for the host to reach the target guest through QEMU's
user networking; the QEMU this project builds has no slirp (Debian's
``qemu`` source package without libslirp), so the iSCSI path is an
Ethernet between the two guests instead: a virtio-net NIC in each, their
``-netdev stream`` backends joined by a unix socket (the target's QEMU
listens), and iscsi-test-cu runs in the initiator guest -- the same
binary, initiator and suites as its FC run, which makes the two runs
differ in the transport and the target's front end only.  The target
guest (harness/guest/pair-target.sh) adds an iSCSI target (LIO's
``iscsi_target_mod``, demo mode, no authentication) with the FC target's
ramdisk as LUN 0; the initiator guest (harness/guest/pair.sh) runs the
suites against ``iscsi://TARGET_IP/IQN/0`` after its FC suites.
"""
from pathlib import Path

from . import image, kernels

#: The iSCSI target's name and the two guests' addresses on their link.
IQN = "iqn.2026-11.org.qlaemu:pair"
TARGET_IP = "10.0.0.1"
INITIATOR_IP = "10.0.0.2"
#: Where each guest finds the modules of its virtio NIC (and of the
#: virtio-scsi baseline disk): not in the base image, which every other
#: run boots.
MODULE_DIR = "/lib/qlaemu/virtio"
NIC_MODULES = ("virtio_pci", "virtio_net")
#: The target guest's: the NIC's and LIO's iSCSI front end, and the
#: crc32c hash it sets up for every login even without digests
#: (iscsi_target_login.c iscsi_login_setup_crypto: "crypto_alloc_ahash()
#: failed" otherwise).
TARGET_MODULES = NIC_MODULES + ("iscsi_target_mod", "crc32c_generic")


def net_args(sock: Path, server: bool) -> list:
    """QEMU arguments of one guest's NIC on the guests' Ethernet: a
    virtio-net-pci on a ``stream`` netdev over unix socket ``sock``
    (``server``: listen; else connect), each side its own MAC (QEMU
    gives every first NIC 52:54:00:12:34:56)."""
    return ["-netdev", "stream,id=n0,server=%s,addr.type=unix,addr.path=%s"
            % ("on" if server else "off", sock),
            "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:51:a0:%02x"
            % (1 if server else 2)]


def guest_modules(names) -> dict:
    """{guest path under :data:`MODULE_DIR`: bytes} of the guest kernel's
    modules ``names`` with their dependencies (image.module_closure; none
    of a module built in), for ``vm.run(extra_files=)``.

    Raises:
        kernels.KernelError, image.GuestError: the kernel or a module
            cannot be had.
    """
    root, kver = kernels.ensure_kernel_root()
    moddir = root / "lib" / "modules" / kver
    return {"%s/%s" % (MODULE_DIR, m.split("/")[-1]): (moddir / m).read_bytes()
            for m in image.module_closure(moddir, tuple(names))}


def compare(fc_tests: list, iscsi_tests: list) -> list:
    """The tests whose result differs between the FC and the iSCSI run:
    [{suite, test, fc, iscsi, fc_reasons, iscsi_reasons}] in the FC run's
    order, then tests only one run has ('-' for the other's result).
    ``*_tests`` are tools.parse_suite's ``tests``."""
    def key(t):
        return t["suite"], t["test"]

    fc = {key(t): t for t in fc_tests}
    isc = {key(t): t for t in iscsi_tests}
    out = []
    for k in list(fc) + [k for k in isc if k not in fc]:
        a, b = fc.get(k), isc.get(k)
        ra = a["result"] if a else "-"
        rb = b["result"] if b else "-"
        if ra != rb:
            out.append({"suite": k[0], "test": k[1], "fc": ra, "iscsi": rb,
                        "fc_reasons": a["reasons"] if a else [],
                        "iscsi_reasons": b["reasons"] if b else []})
    return out
