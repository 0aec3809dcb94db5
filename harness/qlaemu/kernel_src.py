"""The guest kernel's headers and source, for building a driver under
test against exactly that kernel (:mod:`qlaemu.modbuild`).

:func:`guest_kernel` describes the selected guest kernel
(:mod:`qlaemu.kernels`) with the vermagic its modules must have;
:func:`ensure_headers` installs ``linux-headers-<release>`` of exactly its
Debian version; :func:`source_tarball` finds ``linux-source-<series>`` of
that version (installed, or downloaded and cached).
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from . import apt, host, kernels, paths, profiles
from .profiles import Profile, ProfileError


@dataclasses.dataclass
class KernelInfo:
    """The guest kernel, as far as building modules for it matters.

    Attributes:
        root: unpacked kernel package (BUILD_DIR/guest/root).
        kver: kernel release, e.g. '6.1.0-56-amd64'.
        package: e.g. 'linux-image-6.1.0-56-amd64'.
        version: Debian version of that package, e.g. '6.1.192-2'.
        upstream: upstream version, e.g. '6.1.192'.
        vermagic: vermagic of the stock qla2xxx.ko.
    """
    root: Path
    kver: str
    package: str
    version: str
    upstream: str
    vermagic: str

    @property
    def moddir(self) -> Path:
        """lib/modules/<kver> of the unpacked kernel."""
        return self.root / "lib" / "modules" / self.kver


def guest_kernel() -> KernelInfo:
    """Describe the guest kernel (unpacking its package if needed).

    Checks that the upstream version in the package's version agrees with
    the one in its /boot/config header.

    Raises:
        ProfileError: the kernel cannot be had, or its versions disagree.
    """
    try:
        root, kver = kernels.ensure_kernel_root()
        pkg, ver = kernels.kernel_package()
    except kernels.KernelError as e:
        raise ProfileError("guest kernel: %s" % e) from e
    up = apt.upstream(ver)
    cfg = root / "boot" / ("config-%s" % kver)
    try:
        m = re.search(r"^# Linux/\S+ (\S+) Kernel Configuration",
                      cfg.read_text(errors="replace"), re.M)
    except OSError:
        m = None
    if m and m.group(1) != up:
        raise ProfileError("guest kernel %s: package version %s but %s says "
                           "%s" % (kver, ver, cfg, m.group(1)))
    moddir = root / "lib" / "modules" / kver
    ko = None
    for line in (moddir / "modules.dep").read_text().splitlines():
        rel = line.split(":", 1)[0]
        if profiles.mod_name(rel) == "qla2xxx":
            ko = moddir / rel
            break
    if ko is None:
        raise ProfileError("no qla2xxx in %s/modules.dep" % moddir)
    return KernelInfo(root=root, kver=kver, package=pkg, version=ver,
                      upstream=up, vermagic=modinfo(ko, "vermagic"))


def ensure_headers(kinfo: KernelInfo) -> Path:
    """Install ``linux-headers-<kver>`` of exactly the kernel's version.

    Uses :func:`qlaemu.apt.ensure_packages` (which pulls
    ``linux-headers-<abi>-common`` and ``linux-kbuild-<mm>`` in); when the
    installed or candidate version differs from the kernel package's, that
    exact version is installed.

    Returns:
        /usr/src/linux-headers-<kver>.

    Raises:
        ProfileError: the package cannot be installed in that version.
    """
    pkg = "linux-headers-%s" % kinfo.kver
    if apt.dpkg_version(pkg) is None:
        try:
            apt.ensure_packages([pkg])
        except host.SetupError as e:
            why = ""
            if re.search(r"Depends: libc6 \(>= ", str(e)):
                why = (" -- its build tools (gcc, linux-kbuild) need a newer "
                       "C library than this host's, and the harness never "
                       "upgrades the host's; build this kernel's modules on "
                       "a host of its Debian release (docs/kernels.md)")
            raise ProfileError("cannot install %s%s: %s" % (pkg, why, e)) \
                from e
    have = apt.dpkg_version(pkg)
    if have != kinfo.version:
        host.progress("%s is %s, the kernel is %s: installing %s=%s"
                      % (pkg, have, kinfo.version, pkg, kinfo.version),
                      "driver")
        if not apt.apt_install("%s=%s" % (pkg, kinfo.version)):
            raise ProfileError("apt-get install %s=%s failed; log: %s\n%s"
                               % (pkg, kinfo.version, apt.apt_log(),
                                  host.tail(apt.apt_log())))
        have = apt.dpkg_version(pkg)
        if have != kinfo.version:
            raise ProfileError("%s %s installed, kernel is %s"
                               % (pkg, have, kinfo.version))
    hdr = Path("/usr/src") / pkg
    if not (hdr / "Module.symvers").is_file():
        raise ProfileError("%s has no Module.symvers" % hdr)
    return hdr


def _source_package(kinfo: KernelInfo, prof: Profile) -> str:
    if prof.source_package:
        return prof.source_package
    mm = ".".join(kinfo.upstream.split(".")[:2])
    return "linux-source-%s" % mm


def source_tarball(kinfo: KernelInfo, pkg: str) -> tuple:
    """The kernel source tarball of exactly the guest kernel's version.

    The installed ``/usr/src/<pkg>.tar.xz`` is used when ``pkg`` is
    installed in the kernel package's version (it is installed with
    ensure_packages when absent).  Otherwise that version's .deb is
    downloaded into CACHE_DIR/debs and its tarball copied once to
    CACHE_DIR/src/<pkg>_<version>.tar.xz.

    Returns:
        (tarball Path, Debian version str).

    Raises:
        ProfileError: no source of that version can be had.
    """
    have = apt.dpkg_version(pkg)
    if have is None:
        try:
            apt.ensure_packages([pkg])
        except host.SetupError as e:
            host.progress("cannot install %s (%s); trying a download"
                          % (pkg, e), "driver")
        have = apt.dpkg_version(pkg)
    installed = Path("/usr/src") / ("%s.tar.xz" % pkg)
    if have == kinfo.version and installed.is_file():
        return installed, have
    host.progress("%s installed in version %s, the guest kernel is %s: using "
                  "%s=%s" % (pkg, have, kinfo.version, pkg, kinfo.version),
                  "driver")
    cached = paths.CACHE_DIR / "src" / ("%s_%s.tar.xz" % (
        pkg, kinfo.version.replace(":", "%3a")))
    if cached.is_file():
        return cached, kinfo.version
    debs = paths.CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    log = apt.apt_log()
    got = list(debs.glob("%s_%s_all.deb" % (pkg, kinfo.version.replace(
        ":", "%3a"))))
    if not got:
        rc = host.run_logged(["apt-get", "download",
                              "%s=%s" % (pkg, kinfo.version)], log, cwd=debs)
        got = list(debs.glob("%s_*%s_all.deb" % (pkg, apt.upstream(
            kinfo.version))))
        if rc != 0 or not got:
            raise ProfileError(
                "the guest kernel is %s %s but %s is %s and version %s "
                "cannot be downloaded (log %s): build the driver from the "
                "matching source or use the stock profile"
                % (kinfo.package, kinfo.version, pkg, have or "not installed",
                   kinfo.version, log))
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    with open(tmp, "wb") as out:
        p1 = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(got[0])],
                              stdout=subprocess.PIPE)
        p2 = subprocess.run(["tar", "-xO", "./usr/src/%s.tar.xz" % pkg],
                            stdin=p1.stdout, stdout=out,
                            stderr=subprocess.PIPE)
        p1.stdout.close()
        p1.wait()
    if p1.returncode or p2.returncode:
        tmp.unlink(missing_ok=True)
        raise ProfileError("cannot take %s.tar.xz out of %s: %s"
                           % (pkg, got[0], p2.stderr.decode()[-500:]))
    tmp.rename(cached)
    return cached, kinfo.version


def modinfo(ko: Path, field: str) -> str:
    """``modinfo -F field ko``.

    Raises:
        ProfileError: modinfo failed.
    """
    p = subprocess.run(["modinfo", "-F", field, str(ko)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise ProfileError("modinfo %s failed: %s" % (ko, p.stderr.strip()))
    return p.stdout.strip()


def extract(tarball: Path, dest: Path, members: list, optional: list,
            log: Path) -> None:
    """Extract ``members`` (and those of ``optional`` that exist).

    Member names are relative to the tarball's top directory
    (``<tarball stem>/``), which is stripped.  Decompression uses every
    core (``xz -T0``; Debian's tarball is multi-block).
    """
    top = tarball.name.split(".tar")[0].split("_")[0]
    names = ["%s/%s" % (top, m) for m in members + optional]
    dest.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as fh:
        fh.write("\n$ xz -T0 -dc %s | tar -x -C %s --strip-components=1 %s\n"
                 % (tarball, dest, " ".join(names)))
    xz = subprocess.Popen(["xz", "-T0", "-dc", str(tarball)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", str(dest),
                          "--strip-components=1", *names],
                         stdin=xz.stdout, capture_output=True, text=True)
    xz.stdout.close()
    xz_err = xz.stderr.read().decode(errors="replace")
    xz.wait()
    with open(log, "a") as fh:
        fh.write(tar.stdout + tar.stderr + xz_err)
    missing = [m for m in members if not (dest / m).exists()]
    bad = [ln for ln in tar.stderr.splitlines()
           if "Not found in archive" not in ln
           and "Exiting with failure" not in ln]
    if xz.returncode or missing or bad:
        raise ProfileError("extracting %s from %s failed (missing %s): %s%s"
                           % (", ".join(members), tarball, missing,
                              tar.stderr[-1000:], xz_err[-500:]))
