"""Tests of driver-under-test profiles (qlaemu.profiles), module builds
(qlaemu.modbuild, qlaemu.patches, qlaemu.kernel_src) and the driver's
guest-side commands (qlaemu.driver).

The parsing / command / classification tests need nothing.  The build
tests install ``linux-headers-<kver>`` (and ``linux-source-6.1`` if absent)
and build qla2xxx out of tree: about 45 s the first time on 2 cores, then
cached in ``BUILD_DIR/driver``.
"""
import difflib
import json
import re
import subprocess
from pathlib import Path

import pytest

from qlaemu import (driver, image, kernel_src, kmsg, modbuild, patches, probe,
                    profiles, vm)


def _write_profile(d: Path, data: dict) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "profile.json").write_text(json.dumps(data))
    return d


# --------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------

def test_default_profile_is_stock():
    p = profiles.load_profile(None)
    assert p.name == profiles.DEFAULT_PROFILE == "debian-6.1"
    assert p.kind == "stock" and p.is_stock
    assert modbuild.ensure_modules(p) == {}
    assert driver.expected_taint(p) == 0


def test_repository_profiles_parse():
    names = profiles.list_profiles()
    assert {"debian-6.1", "debian-6.1-src", "qla2xxx-tree"} <= set(names)
    src = profiles.load_profile("debian-6.1-src")
    assert src.kind == "debian-src"
    assert src.modules == ("qla2xxx", "tcm_qla2xxx")
    assert all(p.suffix == ".patch" for p in src.patches)
    oot = profiles.load_profile("qla2xxx-tree")
    assert oot.kind == "out-of-tree" and oot.load.name == "load.sh"
    assert oot.driver_tree is None


def test_profile_by_path_and_series_order(tmp_path):
    d = _write_profile(tmp_path / "mine", {"kind": "debian-src"})
    pd = d / "patches"
    pd.mkdir()
    for n in ("a.patch", "b.patch", "c.patch"):
        (pd / n).write_text("")
    assert [p.name for p in profiles.load_profile(d).patches] == \
        ["a.patch", "b.patch", "c.patch"]
    (pd / "series").write_text("# order\nc.patch\n\nb.patch -p1\n")
    p = profiles.load_profile(d / "profile.json")
    assert p.name == "mine"
    assert [x.name for x in p.patches] == ["c.patch", "b.patch"]
    (pd / "series").write_text("missing.patch\n")
    with pytest.raises(profiles.ProfileError, match="no such patch"):
        profiles.load_profile(d)
    (pd / "series").write_text("a.patch -p0\n")
    with pytest.raises(profiles.ProfileError, match="-p1"):
        profiles.load_profile(d)


@pytest.mark.parametrize("data,msg", [
    ({"kind": "magic"}, "kind must be"),
    ({"kind": "stock", "patchez": []}, "unknown keys"),
    ({"kind": "stock", "patches": []}, "stock profile takes no"),
    ({"kind": "out-of-tree"}, "needs a 'load'"),
    ({"kind": "out-of-tree", "load": "nope.sh"}, "does not exist"),
    ({"kind": "debian-src", "load": "x.sh"}, "takes no"),
    ({"kind": "debian-src", "make_vars": {"A B": 1}}, "make_vars"),
])
def test_bad_profiles(tmp_path, data, msg):
    d = _write_profile(tmp_path / "bad", data)
    with pytest.raises(profiles.ProfileError, match=msg):
        profiles.load_profile(d)


def test_unknown_profile_lists_known():
    with pytest.raises(profiles.ProfileError, match="debian-6.1-src"):
        profiles.load_profile("no-such-profile")


def test_out_of_tree_profile_and_commands(tmp_path):
    d = _write_profile(tmp_path / "scst", {
        "kind": "out-of-tree", "load": "load.sh", "configure": "cfg.sh"})
    (d / "load.sh").write_text("modprobe scst\n")
    (d / "cfg.sh").write_text("echo hi\n")
    p = profiles.load_profile(d, driver_tree=tmp_path)
    assert p.driver_tree == tmp_path.resolve()
    assert "QLAEMU_MODE=target" in driver.target_load_commands(p)
    assert "/lib/qlaemu/driver/load.sh" in driver.initiator_load_commands(p)
    cfg = driver.target_configure_commands(p, "21:00:00:24:ff:00:00:01")
    assert "QLAEMU_WWPN=21:00:00:24:ff:00:00:01" in cfg
    assert "/lib/qlaemu/driver/configure.sh" in cfg
    assert driver.expected_taint(p) == (1 << 12) | (1 << 13)
    with pytest.raises(profiles.ProfileError, match="out-of-tree profiles"):
        profiles.load_profile("debian-6.1-src", driver_tree=tmp_path)
    p.driver_tree = None
    with pytest.raises(profiles.ProfileError, match="--driver-tree"):
        modbuild.ensure_modules(p)


def test_stock_and_src_commands():
    for name in ("debian-6.1", "debian-6.1-src"):
        t = driver.target_load_commands(name)
        assert t.splitlines() == ["modprobe qla2xxx qlini_mode=disabled",
                                  "modprobe tcm_qla2xxx"]
        assert driver.initiator_load_commands(name) == "modprobe qla2xxx\n"
        assert driver.target_configure_commands(name, "x") is None


def test_kernel_load_notices():
    lines = [
        "<4>[    2.257626] qla2xxx: loading out-of-tree module taints kernel.",
        "<5>[    2.259208] qla2xxx: module verification failed: signature "
        "and/or required key missing - tainting kernel",
        "tcm_qla2xxx: loading out-of-tree module taints kernel.",
        "[    2.5] qla2xxx [0000:01:00.0]-00fb:0: QLogic QLE2562 - ...",
        "qla2xxx [0000:01:00.0]-d04c:0: MBX Command timeout for cmd 69",
    ]
    assert [driver.is_kernel_load_notice(x) for x in lines] == \
        [True, True, True, False, False]
    assert driver.filter_kernel_load_notices(lines) == lines[3:]


def test_patch_paths(tmp_path):
    p = tmp_path / "x.patch"
    p.write_text("--- a/drivers/scsi/qla2xxx/qla_os.c\n"
                 "+++ b/drivers/scsi/qla2xxx/qla_os.c\n"
                 "--- /dev/null\n+++ b/include/trace/events/qla.h\n")
    assert patches.patch_paths(p) == ["drivers/scsi/qla2xxx/qla_os.c",
                                      "include/trace/events/qla.h"]
    p.write_text("--- a/../etc/passwd\n+++ b/../etc/passwd\n")
    with pytest.raises(profiles.BuildError, match="bad path"):
        patches.patch_paths(p)


# --------------------------------------------------------------------------
# builds (debian-6.1-src)
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def src_modules():
    """ensure_modules('debian-6.1-src') (built once, then cached)."""
    return modbuild.ensure_modules("debian-6.1-src")


def _modinfo(ko, field):
    return subprocess.run(["modinfo", "-F", field, str(ko)], check=True,
                          capture_output=True, text=True).stdout.strip()


def test_src_versions_match_guest_kernel(src_modules):
    k = kernel_src.guest_kernel()
    man = modbuild.build_manifest(profiles.load_profile("debian-6.1-src"))
    assert man["kver"] == k.kver
    assert man["source_version"] == man["headers_version"] == k.version
    assert man["source_package"] == "linux-source-%s" % ".".join(
        k.upstream.split(".")[:2])
    print("timings:", man["timings"])


def test_src_build_vermagic_equals_stock(src_modules):
    assert sorted(src_modules) == ["qla2xxx", "tcm_qla2xxx"]
    k = kernel_src.guest_kernel()
    stock = {}
    for line in (k.moddir / "modules.dep").read_text().splitlines():
        rel = line.split(":", 1)[0]
        stock[Path(rel).name.split(".ko")[0]] = k.moddir / rel
    for name, ko in src_modules.items():
        assert ko.is_file()
        assert _modinfo(ko, "name") == name
        assert _modinfo(ko, "vermagic") == _modinfo(stock[name], "vermagic")
        assert _modinfo(ko, "retpoline") == "Y"
        # built out of tree, unsigned: no intree tag, no signature
        assert _modinfo(ko, "intree") == ""
        assert _modinfo(ko, "sig_id") == ""
    assert "qla2xxx" in _modinfo(src_modules["tcm_qla2xxx"], "depends")


def test_src_build_is_cached(src_modules):
    again = modbuild.ensure_modules("debian-6.1-src")
    assert again == src_modules


def test_initramfs_plan_replaces_stock(src_modules):
    k = kernel_src.guest_kernel()
    plan = image.initramfs_plan("debian-6.1-src", k.moddir, image.MODULES)
    assert plan.replace == {
        "kernel/drivers/scsi/qla2xxx/qla2xxx.ko": src_modules["qla2xxx"],
        "kernel/drivers/scsi/qla2xxx/tcm_qla2xxx.ko":
            src_modules["tcm_qla2xxx"]}
    assert plan.wanted[:len(image.MODULES)] == image.MODULES
    assert plan.tag.startswith("debian-6.1-src-") and plan.key
    stock = image.initramfs_plan(None, k.moddir, image.MODULES)
    assert (stock.replace, stock.files, stock.key) == ({}, {}, "")


def _src_copy(src_modules, rel):
    """Text of ``rel`` in the extracted source of the src build."""
    bdir = Path(src_modules["qla2xxx"]).parents[1]
    return (bdir / "src" / rel).read_text()


def _patch_for(src_modules, rel, edit) -> str:
    old = _src_copy(src_modules, rel)
    new = edit(old)
    return "".join(difflib.unified_diff(
        old.splitlines(True), new.splitlines(True), "a/" + rel, "b/" + rel))


@pytest.fixture
def scratch_builds(tmp_path, monkeypatch):
    """Build directories of throw-away profiles go to tmp_path."""
    monkeypatch.setattr(modbuild, "_driver_dir", lambda: tmp_path / "driver")
    return tmp_path


def _src_profile(root: Path, name: str, patches: dict) -> Path:
    d = _write_profile(root / name, {"kind": "debian-src"})
    (d / "patches").mkdir()
    for n, text in patches.items():
        (d / "patches" / n).write_text(text)
    return d


def test_patch_that_does_not_apply_is_build_error(src_modules,
                                                  scratch_builds):
    bad = ("--- a/drivers/scsi/qla2xxx/qla_os.c\n"
           "+++ b/drivers/scsi/qla2xxx/qla_os.c\n"
           "@@ -1,3 +1,4 @@\n"
           " no such line 1\n no such line 2\n+added\n no such line 3\n")
    d = _src_profile(scratch_builds, "broken-apply", {"0001-x.patch": bad})
    with pytest.raises(profiles.BuildError, match="does not apply") as ei:
        modbuild.ensure_modules(d)
    assert ei.value.log is not None and ei.value.log.is_file()


def test_patch_that_breaks_the_compile_is_build_error(src_modules,
                                                      scratch_builds):
    rel = "drivers/scsi/qla2xxx/qla_os.c"
    text = _patch_for(src_modules, rel, lambda s: s.replace(
        "\n", "\n#error qlaemu: deliberately broken\n", 1))
    d = _src_profile(scratch_builds, "broken-cc", {"0001-x.patch": text})
    with pytest.raises(profiles.BuildError, match="failed") as ei:
        modbuild.ensure_modules(d)
    assert "deliberately broken" in ei.value.log.read_text()


def test_patch_outside_driver_is_build_error(scratch_builds):
    text = ("--- a/drivers/target/target_core_tpg.c\n"
            "+++ b/drivers/target/target_core_tpg.c\n@@ -1 +1 @@\n-a\n+b\n")
    d = _src_profile(scratch_builds, "outside", {"0001-x.patch": text})
    with pytest.raises(profiles.BuildError, match="does not rebuild"):
        modbuild.ensure_modules(d)


def test_patch_is_applied_and_built(src_modules, scratch_builds):
    rel = "drivers/scsi/qla2xxx/qla_version.h"
    m = re.search(r'QLA2XXX_VERSION\s+"([^"]+)"', _src_copy(src_modules, rel))
    assert m, "no QLA2XXX_VERSION in qla_version.h"
    text = _patch_for(src_modules, rel, lambda s: s.replace(
        m.group(0), m.group(0)[:-1] + '-qlaemu"'))
    d = _src_profile(scratch_builds, "versioned", {"0001-ver.patch": text})
    mods = modbuild.ensure_modules(d)
    # qla2xxx 6.1 has no MODULE_VERSION; the string is in its banner
    ver = (m.group(1) + "-qlaemu").encode()
    assert ver in mods["qla2xxx"].read_bytes()
    assert ver not in src_modules["qla2xxx"].read_bytes()
    assert _modinfo(mods["qla2xxx"], "vermagic") == \
        _modinfo(src_modules["qla2xxx"], "vermagic")


# --------------------------------------------------------------------------
# the guest with the src-built modules
# --------------------------------------------------------------------------

@pytest.mark.guest
def test_guest_loads_src_built_modules(guest_ready, src_modules):
    script = driver.target_load_commands("debian-6.1-src") + r"""
qlaemu_section tainted cat /proc/sys/kernel/tainted
cd /sys/module
qlaemu_section taint cat qla2xxx/taint tcm_qla2xxx/taint
cd /
qlaemu_section driver sh -c 'readlink /sys/bus/pci/drivers/qla2xxx/0000:*'
qlaemu_section dmesg dmesg -r
"""
    r = vm.run(script, device_args=probe.device_args(), timeout_s=120,
               profile="debian-6.1-src")
    assert r.exit == "poweroff" and r.script_rc == 0, r.console[-3000:]
    assert int(r.sections["tainted"]) & driver.expected_taint(
        "debian-6.1-src") == driver.expected_taint("debian-6.1-src")
    assert r.sections["taint"].split() == ["OE", "OE"]
    assert r.sections["driver"].strip()
    dmesg = r.sections["dmesg"]
    notices = [ln for ln in dmesg.splitlines()
               if driver.is_kernel_load_notice(ln)]
    assert len(notices) == 2, notices
    assert "version magic" not in dmesg and "disagrees about" not in dmesg
    errors = [ln for ln in kmsg.qla_warnings(dmesg, max_level=3)
              if not driver.is_kernel_load_notice(ln)]
    assert errors == []


def test_stale_initramfs(tmp_path):
    names = ["initramfs-base.cpio.gz", "initramfs-base.key",
             "initramfs-base-p-%s.cpio.gz" % ("a" * 16),
             "initramfs-base-p-%s.key" % ("a" * 16),
             "initramfs-base-p-%s.cpio.gz" % ("b" * 16),
             "initramfs-base-p-x-%s.cpio.gz" % ("c" * 16)]
    for n in names:
        (tmp_path / n).write_text("")
    assert image.stale_initramfs(tmp_path, "p-" + "b" * 16) == \
        [tmp_path / names[2], tmp_path / names[3]]
    assert image.stale_initramfs(tmp_path, "") == []
