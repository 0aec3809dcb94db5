"""Tests of qlaemu.build and qlaemu.apt: apt sources, the overlay and its
build hooks (qemu/build-hooks.patch), the built binary.

Tests marked ``build`` need the real QEMU source tree or build (minutes on a
cold machine: ``ensure_qemu()`` runs in the fixture); deselect them with
``-m "not build"``.  The others use scratch directories only.
"""
import os
import subprocess
from pathlib import Path

import pytest

from qlaemu import apt, build, host, paths

DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

#: The QEMU files the build hooks patch (qemu/build-hooks.patch).
HOOK_FILES = ("hw/meson.build", "hw/Kconfig", "meson.build",
              "tests/qtest/meson.build", "tests/qtest/libqos/meson.build",
              "qapi/qom.json", "tests/qtest/fuzz/generic_fuzz_configs.h",
              "tests/qtest/fuzz/meson.build", "softmmu/vl.c",
              "softmmu/icount.c")

#: What the regex hooks of earlier harness versions inserted, by file.
OLD_HOOKS = {
    "hw/meson.build": "# qlaemu-overlay: hw-subdir\nsubdir('qla2532')\n",
    "hw/Kconfig": "# qlaemu-overlay: hw-kconfig\nsource qla2532/Kconfig\n",
}


@pytest.fixture
def fake_apt(tmp_path, monkeypatch):
    """Point apt.APT_ETC/APT_LISTS at scratch dirs; record apt-get calls."""
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    lists = tmp_path / "lists"
    lists.mkdir()
    for kind in ("Packages", "Sources"):
        (lists / f"deb.debian.org_debian_dists_bookworm_main_x_{kind}").touch()
    monkeypatch.setattr(apt, "APT_ETC", etc)
    monkeypatch.setattr(apt, "APT_LISTS", lists)
    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path / "build")
    calls = []
    monkeypatch.setattr(apt, "apt_update", lambda: calls.append("update"))
    return etc, calls


def test_deb822_deb_src_is_sed_copy(fake_apt):
    etc, calls = fake_apt
    (etc / "sources.list.d" / "debian.sources").write_text(DEB822)
    apt.ensure_apt_sources()
    out = etc / "sources.list.d" / "qlaemu-src.sources"
    assert out.read_text() == DEB822.replace("Types: deb\n",
                                             "Types: deb-src\n")
    assert calls == ["update"]
    apt.ensure_apt_sources()          # second run: nothing to do
    assert calls == ["update"]


def test_deb822_existing_deb_src_is_noop(fake_apt):
    etc, calls = fake_apt
    d = etc / "sources.list.d"
    (d / "debian.sources").write_text(DEB822)
    (d / "other-src.sources").write_text(
        DEB822.replace("Types: deb\n", "Types: deb-src\n"))
    apt.ensure_apt_sources()
    assert not (d / "qlaemu-src.sources").exists()
    assert calls == []


def test_one_line_format(fake_apt):
    etc, calls = fake_apt
    (etc / "sources.list").write_text(
        "# comment\n"
        "deb [signed-by=/k.gpg] http://deb.debian.org/debian bookworm main\n"
        "deb http://deb.debian.org/debian-security bookworm-security main\n"
        "deb-src http://deb.debian.org/debian-security "
        "bookworm-security main\n")
    apt.ensure_apt_sources()
    out = etc / "sources.list.d" / "qlaemu-src.list"
    assert out.read_text() == ("deb-src [signed-by=/k.gpg] "
                               "http://deb.debian.org/debian bookworm main\n")
    assert calls == ["update"]


def _pristine_tree(tmp_path):
    """The files the hooks patch, as Debian ships them, in a scratch tree
    (the real tree's files with the applied patch reverted)."""
    src = build.ensure_qemu_source()
    tree = tmp_path / "qemu"
    for rel in HOOK_FILES:
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text((src / rel).read_text())
    subprocess.run(["patch", "-p1", "-R", "--batch", "--silent", "-d", tree,
                    "-i", build.HOOKS_PATCH], check=True)
    for rel in HOOK_FILES:
        assert "qla2532" not in (tree / rel).read_text(), rel
    return tree


@pytest.mark.build
def test_hooks_apply_once_on_scratch_tree(tmp_path, monkeypatch):
    """apply_overlay twice on a pristine tree: each hook once; a moved
    repository re-points the links."""
    tree = _pristine_tree(tmp_path)
    monkeypatch.setattr(paths, "HW_DIR", tmp_path / "repo" / "hw" / "qla2532")
    build.apply_overlay(tree)
    build.apply_overlay(tree)
    _assert_hooks_once(tree)
    assert (tree / build.APPLIED_PATCH).read_bytes() == \
        build.HOOKS_PATCH.read_bytes()
    monkeypatch.setattr(paths, "HW_DIR", tmp_path / "moved" / "qla2532")
    build.apply_overlay(tree)
    assert os.readlink(tree / "hw" / "qla2532") == str(paths.HW_DIR)


@pytest.mark.build
def test_changed_hooks_replace_the_applied_ones(tmp_path, monkeypatch):
    """A new build-hooks.patch: the old one is reverted, the new applied."""
    tree = _pristine_tree(tmp_path)
    build.apply_overlay(tree)
    new = tmp_path / "new.patch"
    new.write_text(build.HOOKS_PATCH.read_text().replace(
        "# qla2532-emu: config QLA2532", "# qla2532-emu: config QLA2532 v2"))
    monkeypatch.setattr(build, "HOOKS_PATCH", new)
    build.apply_overlay(tree)
    _assert_hooks_once(tree)
    assert "config QLA2532 v2" in (tree / "hw" / "Kconfig").read_text()


@pytest.mark.build
def test_old_regex_hooks_are_reverted(tmp_path):
    """A tree edited by the regex hooks of earlier versions (marker lines)
    takes the patch after they are removed."""
    tree = _pristine_tree(tmp_path)
    for rel, text in OLD_HOOKS.items():
        f = tree / rel
        f.write_text(f.read_text() + text)
    build.apply_overlay(tree)
    _assert_hooks_once(tree)
    assert build.OLD_MARKER not in (tree / "hw" / "meson.build").read_text()


@pytest.mark.build
def test_foreign_tree_is_refused(tmp_path):
    """A tree the patch does not fit gives a SetupError naming the fix."""
    tree = _pristine_tree(tmp_path)
    (tree / "meson.build").write_text("project('not qemu')\n")
    with pytest.raises(build.SetupError, match="re-extract"):
        build.apply_overlay(tree)


def _assert_hooks_once(tree):
    assert (tree / "hw" / "meson.build").read_text().count(
        "subdir('qla2532')") == 1
    assert (tree / "hw" / "Kconfig").read_text().count(
        "source qla2532/Kconfig") == 1
    assert (tree / "meson.build").read_text().count("'hw/qla2532'") == 1
    qt = (tree / "tests" / "qtest" / "meson.build").read_text()
    assert qt.count("'qla2532-pcie-test'") == 1
    assert qt.count("files('qla2532-test.c')") == 1
    assert (tree / "tests" / "qtest" / "libqos" / "meson.build").read_text(
        ).count("files('qla2532.c')") == 1
    assert (tree / "qapi" / "qom.json").read_text().count(
        "'fc-link':                    'FcLinkProperties'") == 1
    assert (tree / "tests" / "qtest" / "fuzz" / "generic_fuzz_configs.h"
            ).read_text().count('.name = "qla2532"') == 1
    assert (tree / "softmmu" / "vl.c").read_text().count(
        'g_str_equal(type, "fc-remote")') == 1


@pytest.mark.build
def test_ensure_qemu_source_idempotent():
    src = build.ensure_qemu_source()
    src2 = build.ensure_qemu_source()
    assert src == src2 == paths.BUILD_DIR / "qemu-src"
    _assert_hooks_once(src)


@pytest.mark.build
def test_symlinks_point_into_repo():
    src = build.ensure_qemu_source()
    hw = src / "hw" / "qla2532"
    qt = src / "tests" / "qtest" / "qla2532-test.c"
    assert hw.is_symlink() and qt.is_symlink()
    assert Path(os.readlink(hw)) == paths.HW_DIR
    assert Path(os.readlink(qt)) == paths.QTEST_DIR / "qla2532-test.c"
    assert hw.resolve() == paths.HW_DIR.resolve()
    assert str(paths.HW_DIR).startswith(str(paths.REPO))


def test_qemu_data_dirs_have_firmware():
    dirs = build.qemu_data_dirs()
    assert dirs[:2] == ["/usr/share/seabios", "/usr/share/qemu"]
    for name in ("bios-256k.bin", "kvmvapic.bin", "linuxboot_dma.bin",
                 "efi-e1000.rom"):
        assert any((Path(d) / name).is_file() for d in dirs), name


@pytest.fixture(scope="module")
def qemu_binary():
    """The built qemu-system-x86_64 (builds it if needed)."""
    return build.ensure_qemu()


@pytest.mark.build
def test_device_help_lists_qla2532(qemu_binary):
    cmd = [str(qemu_binary)]
    for d in build.qemu_data_dirs():
        cmd += ["-L", d]
    out = subprocess.run(cmd + ["-device", "help"], capture_output=True,
                         text=True, timeout=60, check=True).stdout
    assert '"qla2532"' in out


@pytest.mark.build
def test_warm_ensure_packages_does_not_call_apt(qemu_binary, monkeypatch):
    def no_apt(cmd, *a, **kw):
        raise AssertionError(f"apt called on a warm machine: {cmd}")
    monkeypatch.setattr(host, "run_step", no_apt)
    monkeypatch.setattr(apt, "apt_update", lambda: no_apt(["update"]))
    apt.ensure_packages()


@pytest.mark.build
def test_qtest_registered(qemu_binary):
    """The qtest hook registered qtest-x86_64/qla2532-test with meson."""
    out = subprocess.run(["meson", "test", "-C", str(qemu_binary.parent),
                          "--list", "--no-rebuild"], capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert build.QTEST_MESON_NAME in out


@pytest.mark.build
def test_binary_starts_pc_machine_with_debian_firmware(qemu_binary):
    """-L dirs are enough to realise the pc machine and the device."""
    cmd = [str(qemu_binary)]
    for d in build.qemu_data_dirs():
        cmd += ["-L", d]
    cmd += ["-machine", "pc", "-accel", "tcg", "-display", "none",
            "-nodefaults", "-device", "qla2532", "-S", "-qmp", "stdio"]
    res = subprocess.run(cmd, input='{"execute":"qmp_capabilities"}\n'
                         '{"execute":"quit"}\n', capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
