"""The guest: marker parsing, module closure, boot, timeout, panic."""
import os
import subprocess
import time

import pytest

from qlaemu import archive, firmware, image, vm

# ---------------------------------------------------------------- unit tests


def _block(name, content):
    """What qlaemu_section writes for ``content``."""
    return "@@QLAEMU-BEGIN %s@@\n%s\n@@QLAEMU-END %s@@\n" % (
        name, content, name)


@pytest.mark.parametrize("content", ["", "one", "one\n", "a\nb\n\nc",
                                     "@@QLAEMU-END other@@"])
def test_sections_round_trip(content):
    assert vm.parse_sections(_block("x", content)) == {"x": content}


def test_sections_ignore_surrounding_noise_and_cr():
    text = ("[    1.0] noise\r\n" + _block("a", "1\n2").replace("\n", "\r\n")
            + "junk @@QLAEMU-BEGIN b@@\n" + _block("b", "B"))
    assert vm.parse_sections(text) == {"a": "1\n2", "b": "B"}


def test_incomplete_section_is_dropped():
    text = _block("ok", "fine") + "@@QLAEMU-BEGIN cut@@\npartial\n"
    assert vm.parse_sections(text) == {"ok": "fine"}


def test_module_closure_follows_deps_and_softdeps(tmp_path):
    (tmp_path / "modules.dep").write_text(
        "kernel/a.ko: kernel/b.ko kernel/c-d.ko\n"
        "kernel/b.ko:\nkernel/c-d.ko:\nkernel/gen.ko:\nkernel/other.ko:\n")
    (tmp_path / "modules.softdep").write_text("softdep c_d pre: thing\n")
    (tmp_path / "modules.alias").write_text("alias thing gen\n")
    assert image.module_closure(tmp_path, ["a"]) == [
        "kernel/a.ko", "kernel/b.ko", "kernel/c-d.ko", "kernel/gen.ko"]
    with pytest.raises(image.GuestError):
        image.module_closure(tmp_path, ["missing"])
    # built into the kernel (Debian 6.12's virtio_pci): nothing to copy
    (tmp_path / "modules.builtin").write_text("kernel/drivers/v/missing.ko\n")
    assert image.module_closure(tmp_path, ["missing", "b"]) == ["kernel/b.ko"]


def _stage(root, when):
    """A small tree (two files, a directory, a symlink), files made at
    ``when`` (s since the epoch)."""
    (root / "d").mkdir(parents=True)
    (root / "d" / "b.sh").write_text("echo b\n")
    (root / "a.txt").write_text("a\n")
    (root / "d" / "link").symlink_to("b.sh")
    for p in (root / "a.txt", root / "d" / "b.sh", root / "d"):
        os.utime(p, (when, when))
    return root


@pytest.mark.parametrize("gzip", [False, True])
def test_guest_archives_are_reproducible(tmp_path, gzip):
    """The same files packed at other times, with other inodes, give the
    same bytes (a changing header changed the boot's instruction count:
    docs/race.md §4), and the archive holds what was staged."""
    a = _stage(tmp_path / "one", 1_700_000_000)
    time.sleep(0.01)
    b = _stage(tmp_path / "two", 1_800_000_123)
    archive.pack_newc(a, tmp_path / "one.cpio", gzip)
    archive.pack_newc(b, tmp_path / "two.cpio", gzip)
    assert (tmp_path / "one.cpio").read_bytes() == \
        (tmp_path / "two.cpio").read_bytes()
    listing = subprocess.run(
        "%s %s | cpio -t --quiet" % ("zcat" if gzip else "cat",
                                     tmp_path / "one.cpio"),
        shell=True, capture_output=True, text=True, check=True).stdout
    assert listing.split() == ["a.txt", "d", "d/b.sh", "d/link"]


def test_packing_failure_names_the_archive(tmp_path):
    with pytest.raises(archive.ArchiveError, match="nothing.cpio"):
        archive.pack_newc(tmp_path / "missing", tmp_path / "nothing.cpio",
                          False)


# ---------------------------------------------------------- guest boot tests

BOOT_SCRIPT = r"""
qlaemu_section hello echo "hello from $(uname -r)"
qlaemu_section_file extra /etc/extra.txt
failed=
for m in qla2xxx tcm_qla2xxx target_core_mod target_core_file \
         target_core_iblock configfs scsi_transport_fc sd_mod sg; do
    modprobe $m || failed="$failed $m"
done
qlaemu_section modprobe_failed echo "$failed"
qlaemu_section mounts cat /proc/mounts
qlaemu_section firmware sh -c 'od -An -tx1 -v /lib/firmware/ql2500_fw.bin |
    tr -d " \n"'
# printk noise on the console while a long section is written
( i=0; while [ $i -lt 200 ]; do echo "<3>noise $i" > /dev/kmsg; \
  i=$((i+1)); done ) &
qlaemu_section long sh -c 'i=0; while [ $i -lt 300 ]; do echo "line $i";
    i=$((i+1)); done'
wait
exit 3
"""


@pytest.mark.guest
def test_boot_runs_script_and_powers_off(guest_ready):
    r = vm.run(BOOT_SCRIPT, timeout_s=120,
               extra_files={"/etc/extra.txt": b"extra file\n"})
    assert r.exit == "poweroff", r.console[-3000:] + r.stderr
    assert r.script_rc == 3
    assert r.sections["hello"].startswith("hello from 6.1.")
    assert r.sections["extra"] == "extra file\n"
    assert r.sections["modprobe_failed"].strip() == "", r.console[-3000:]
    mounts = r.sections["mounts"]
    for fs in ("proc /proc", "sysfs /sys", "devtmpfs /dev",
               "configfs /sys/kernel/config", "debugfs /sys/kernel/debug"):
        assert fs in mounts
    assert bytes.fromhex(r.sections["firmware"]) == \
        firmware.make_ql2500_fw()
    assert r.sections["long"] == "".join(
        "line %d\n" % i for i in range(300))
    assert "noise 199" in r.console, "printk went to the console"
    assert "noise" not in r.data, "printk leaked into the data channel"
    assert r.console_log.is_file() and r.data_log.is_file()
    assert r.duration_s < 60


@pytest.mark.guest
def test_hung_guest_is_killed(guest_ready):
    t0 = time.monotonic()
    r = vm.run("echo going to sleep; sleep 1000", timeout_s=20)
    wall = time.monotonic() - t0
    assert r.exit == "timeout"
    assert 20 <= r.duration_s < 40
    assert wall < 60
    assert r.console_log.is_file()
    assert "going to sleep" in r.console_log.read_text(errors="replace")
    assert r.script_rc is None


@pytest.mark.guest
def test_kernel_panic_is_reported(guest_ready):
    r = vm.run("echo 1 > /proc/sys/kernel/sysrq; "
               "echo c > /proc/sysrq-trigger; sleep 30", timeout_s=90)
    assert r.exit == "panic", r.console[-2000:]
    assert r.duration_s < 80
