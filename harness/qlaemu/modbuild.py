"""Building the driver under test: a debian-src profile's modules from
Debian's kernel source with its patches, or an out-of-tree profile's tree
(SCST, a qla2xxx checkout) with its build script, against the guest
kernel's headers (:mod:`qlaemu.kernel_src`).

Builds are cached in ``BUILD_DIR/driver/<profile>-<key>/`` where the key
hashes the kernel release and package version, the source / headers
versions, the make variables and the patches (names and contents) or the
tree's contents.  Layout of such a directory::

    src/            extracted (and patched) kernel source subset, or the copy
                    of the out-of-tree tree; the unstripped .ko files stay
                    here (with debug info, for decoding oopses)
    out/<name>.ko   debug-stripped modules that go into the initramfs
    build.log       patch + make output
    manifest.json   versions, patches, modules, vermagic, timings

Errors: :class:`qlaemu.profiles.BuildError` means the driver (its source
with the patches) cannot be built (``bisect-step``: exit 125, skip);
:class:`qlaemu.profiles.ProfileError` means the profile or the machine is
wrong and must stop a bisection.
"""
from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from . import apt, host, kernel_src, patches, paths, profiles
from .kernel_src import KernelInfo, modinfo
from .profiles import BuildError, Profile, ProfileError

#: Directory of the driver inside the kernel source.
QLA_SUBDIR = patches.QLA_SUBDIR
#: The Kbuild switches for the modules of a ``debian-src`` profile
#: (drivers/scsi/qla2xxx/Makefile: ``obj-$(CONFIG_SCSI_QLA_FC)`` and
#: ``obj-$(CONFIG_TCM_QLA2XXX)``).  The headers' auto.conf already sets both
#: to m (Debian builds them as modules); passing them keeps the build
#: independent of that.
SRC_MAKE_VARS = {"CONFIG_SCSI_QLA_FC": "m", "CONFIG_TCM_QLA2XXX": "m"}
#: Bumped when the build recipe changes in a way the key would not catch.
BUILD_FORMAT = 1
#: Cached build directories kept per profile (most recent first).
KEEP_BUILDS = 4
#: Files and directories skipped when an out-of-tree tree is copied/hashed.
TREE_IGNORE = (".git", ".hg", ".svn", "*.o", "*.ko", "*.mod", "*.mod.c",
               "*.mod.o", ".*.cmd", "*.a", "Module.symvers", "modules.order",
               ".tmp_versions", "*.dwo")


def _progress(msg: str) -> None:
    host.progress(msg, "driver")


def _driver_dir() -> Path:
    return paths.BUILD_DIR / "driver"


def ensure_modules(profile) -> dict:
    """Build (or find cached) the modules of ``profile``.

    Args:
        profile: a Profile, or a name/path for
            :func:`qlaemu.profiles.load_profile`.

    Returns:
        {module name: Path of the .ko to put in the guest}; empty for a
        stock profile.

    Raises:
        BuildError: the driver source cannot be built (patch, compiler).
        ProfileError: profile or environment problem.
    """
    if not isinstance(profile, Profile):
        profile = profiles.load_profile(profile)
    if profile.kind == "stock":
        return {}
    if profile.kind == "debian-src":
        return _ensure_debian_src(profile)
    return _ensure_out_of_tree(profile)


# --------------------------------------------------------------------------
# build directories
# --------------------------------------------------------------------------

def _key(parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else str(p).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def build_manifest(profile: Profile) -> dict | None:
    """manifest.json of the newest finished build of ``profile``, or None."""
    best = None
    d = _driver_dir()
    if not d.is_dir():
        return None
    for m in d.glob("%s-*/manifest.json" % profile.name):
        if not re.fullmatch(r"[0-9a-f]{16}",
                            m.parent.name[len(profile.name) + 1:]):
            continue
        if best is None or m.stat().st_mtime > best.stat().st_mtime:
            best = m
    return json.loads(best.read_text()) if best else None


def _prune(profile: Profile, keep: Path) -> None:
    """Remove old build directories of ``profile`` (keep KEEP_BUILDS)."""
    dirs = sorted((p for p in _driver_dir().glob("%s-*" % profile.name)
                   if p.is_dir() and p != keep
                   and re.fullmatch(r"[0-9a-f]{16}",
                                    p.name[len(profile.name) + 1:])),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    for p in dirs[KEEP_BUILDS - 1:]:
        shutil.rmtree(p, ignore_errors=True)


@contextlib.contextmanager
def _build_slot(prof: Profile, key: str):
    """Hold the profile's build lock over BUILD_DIR/driver/<name>-<key>.

    Yields (build dir, cached modules or None).  When nothing usable is
    cached the directory is emptied and ``src/`` created for a new build.
    """
    bdir = _driver_dir() / ("%s-%s" % (prof.name, key))
    with host.lock(prof.name, _driver_dir()):
        have = _cached(bdir)
        if have is None:
            if bdir.exists():
                shutil.rmtree(bdir)
            (bdir / "src").mkdir(parents=True)
        yield bdir, have


def _cached(bdir: Path) -> dict | None:
    """{name: Path} of a finished build directory, else None."""
    man = bdir / "manifest.json"
    if not man.is_file():
        return None
    try:
        data = json.loads(man.read_text())
        out = {n: bdir / "out" / ("%s.ko" % n) for n in data["modules"]}
    except (ValueError, KeyError):
        return None
    if all(p.is_file() for p in out.values()):
        os.utime(bdir)
        return out
    return None


def _make_argv(hdr: Path, mdir: Path, make_vars: dict,
               include_dir: Path | None) -> list:
    argv = ["make", "-C", str(hdr), "M=%s" % mdir,
            "-j%d" % (os.cpu_count() or 1)]
    argv += ["%s=%s" % kv for kv in sorted(make_vars.items())]
    if include_dir is not None:
        # NOSTDINC_FLAGS comes before LINUXINCLUDE in Kbuild's c_flags
        # (scripts/Makefile.lib), so patched headers win over the
        # headers package's; -nostdinc is what the top Makefile adds.
        argv.append("NOSTDINC_FLAGS=-nostdinc -I%s" % include_dir)
    return argv + ["modules"]


def _strip_into(src: Path, dst: Path, log: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if host.run_logged(["strip", "--strip-debug", "-o", dst, src], log) != 0:
        shutil.copy2(src, dst)


#: A compiler or linker diagnostic that fails a build (gcc, ld, modpost).
_COMPILE_ERROR_RE = re.compile(
    r"(?:^\S+:\d+:\d+: (?:fatal )?error: .*$)|(?:^ERROR: modpost: .*$)"
    r"|(?:^\S*ld: .*undefined reference.*$)|(?:^\S+: No such file or "
    r"directory$)|(?:^qlaemu: .*$)"
    # Kbuild's own refusals print a banner, then the reason (e.g.
    # "'SUBDIRS' was removed in Linux 5.3" for trees older than 5.3)
    r"|(?:(?<=ERROR ==============\n)\S+:\d+: .*$)"
    r"|(?:^(?:make(?:\[\d+\])?: |\S+:\d+: )\*\*\* (?!\[).*$)", re.M)


def first_build_error(text: str) -> str | None:
    """The first compiler, linker, modpost or make error line of a build
    log (the earliest in the log).

    Returns:
        the line (e.g. ``foo.c:12:3: error: 'x' undeclared``), or None
        when the log has none of the known forms.
    """
    m = _COMPILE_ERROR_RE.search(text)
    return m.group(0).strip() if m else None


def _compile_failure(what, rc: int, log: Path) -> BuildError:
    """The BuildError of a failed build: the first error, then the tail."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    first = first_build_error(text)
    return BuildError("building %s failed (exit %d): %s; log: %s\n%s"
                      % (what, rc, first or "no compiler error line found",
                         log, host.tail(log)), log)


def _finish_build(prof: Profile, bdir: Path, kinfo: KernelInfo, found: dict,
                  log: Path, manifest: dict, vermagic_error) -> dict:
    """Check each built module's vermagic, strip it into ``out/``, write
    ``manifest.json``.

    Args:
        found: {module name: built .ko}.
        manifest: the manifest's fields besides ``modules``.
        vermagic_error: ProfileError or BuildError, raised on a vermagic
            that is not the guest kernel's.

    Returns:
        {module name: the stripped .ko}.
    """
    out = {}
    for name, ko in found.items():
        vm = modinfo(ko, "vermagic")
        if vm != kinfo.vermagic:
            msg = "%s: vermagic %r, the guest kernel's is %r" % (
                ko, vm, kinfo.vermagic)
            raise (BuildError(msg, log) if vermagic_error is BuildError
                   else vermagic_error(msg))
        out[name] = bdir / "out" / ("%s.ko" % name)
        _strip_into(ko, out[name], log)
    manifest = dict(manifest, modules={n: str(p) for n, p in out.items()})
    (bdir / "manifest.json").write_text(json.dumps(manifest, indent=2)
                                        + "\n")
    return out


def _timed(timings: dict, name: str, fn, *args, **kw):
    """``fn(*args, **kw)``, its wall time in ``timings[name]`` (s)."""
    t = time.monotonic()
    try:
        return fn(*args, **kw)
    finally:
        timings[name] = round(time.monotonic() - t, 2)


# --------------------------------------------------------------------------
# debian-src: Debian's kernel source with the profile's patches
# --------------------------------------------------------------------------

def _source_package(kinfo: KernelInfo, prof: Profile) -> str:
    if prof.source_package:
        return prof.source_package
    mm = ".".join(kinfo.upstream.split(".")[:2])
    return "linux-source-%s" % mm


def _ensure_debian_src(prof: Profile) -> dict:
    kinfo = kernel_src.guest_kernel()
    timings = {}
    hdr = _timed(timings, "headers_s", kernel_src.ensure_headers, kinfo)
    hdr_ver = apt.dpkg_version("linux-headers-%s" % kinfo.kver)
    srcpkg = _source_package(kinfo, prof)
    tarball, src_ver = kernel_src.source_tarball(kinfo, srcpkg)
    if src_ver != kinfo.version:
        raise ProfileError("%s %s does not match the guest kernel %s %s"
                           % (srcpkg, src_ver, kinfo.package, kinfo.version))
    series = list(prof.patches) + list(prof.extra_patches)
    pdata = [(p.name, p.read_bytes()) for p in series]
    key = _key([BUILD_FORMAT, "debian-src", kinfo.kver, kinfo.version,
                kinfo.vermagic, srcpkg, src_ver, hdr_ver,
                json.dumps(prof.make_vars, sort_keys=True),
                " ".join(prof.modules), prof.patch_fuzz]
               + [x for name, data in pdata for x in (name, data)])
    with _build_slot(prof, key) as (bdir, have):
        if have is not None:
            return have
        found = _build_debian_src(prof, bdir, kinfo, hdr, tarball, series,
                                  timings)
        out = _finish_build(prof, bdir, kinfo, found, bdir / "build.log", {
            "profile": prof.name, "kind": prof.kind, "key": key,
            "kver": kinfo.kver, "kernel_package": kinfo.package,
            "kernel_version": kinfo.version, "source_package": srcpkg,
            "source_version": src_ver, "source_tarball": str(tarball),
            "headers_version": hdr_ver, "headers": str(hdr),
            "vermagic": kinfo.vermagic,
            "patches": [n for n, _ in pdata], "timings": timings,
        }, ProfileError)
        _progress("built in %s: %s" % (bdir, timings))
    _prune(prof, bdir)
    return out


def _build_debian_src(prof, bdir, kinfo, hdr, tarball, series,
                      timings) -> dict:
    """Extract, patch and build; {module name: built .ko}."""
    src = bdir / "src"
    log = bdir / "build.log"
    touched = patches.touched_paths(series, log)
    optional = sorted(r for r in touched
                      if not r.startswith(QLA_SUBDIR + "/"))
    _progress("extracting %s from %s" % (QLA_SUBDIR, tarball))
    _timed(timings, "extract_s", kernel_src.extract, tarball, src,
           ["Makefile", QLA_SUBDIR], optional, log)
    mk = (src / "Makefile").read_text()
    sv = ".".join(re.search(r"^%s = (\d+)" % v, mk, re.M).group(1)
                  for v in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
    if sv != kinfo.upstream:
        raise ProfileError("%s is Linux %s, the guest kernel %s"
                           % (tarball, sv, kinfo.upstream))
    _timed(timings, "patch_s", patches.apply_series, series, src,
           prof.patch_fuzz, log)
    inc = src / "include" if any(patches.classify(r) == "include"
                                 for r in touched) else None
    mdir = src / QLA_SUBDIR
    make_vars = dict(SRC_MAKE_VARS, **prof.make_vars)
    _progress("building %s against %s" % (", ".join(prof.modules), hdr))
    rc = _timed(timings, "build_s", host.run_logged,
                _make_argv(hdr, mdir, make_vars, inc), log)
    if rc != 0:
        raise _compile_failure(mdir, rc, log)
    found = {}
    for name in prof.modules:
        ko = mdir / ("%s.ko" % name)
        if not ko.is_file():
            raise BuildError("the build left no %s" % ko, log)
        found[name] = ko
    return found


# --------------------------------------------------------------------------
# out-of-tree: the user's tree and the profile's build script
# --------------------------------------------------------------------------

def _tree_files(tree: Path) -> list:
    """Files of ``tree`` (relative, sorted) minus :data:`TREE_IGNORE`."""
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if not any(
            fnmatch.fnmatch(d, pat) for pat in TREE_IGNORE))
        for f in sorted(filenames):
            if any(fnmatch.fnmatch(f, pat) for pat in TREE_IGNORE):
                continue
            out.append(Path(dirpath, f).relative_to(tree))
    return out


def _tree_digest(tree: Path, files: list) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(str(rel).encode() + b"\0")
        try:
            h.update((tree / rel).read_bytes())
        except OSError:
            pass
        h.update(b"\0")
    return h.hexdigest()


def _ensure_out_of_tree(prof: Profile) -> dict:
    if prof.driver_tree is None:
        raise ProfileError("profile %s needs a module tree (--driver-tree "
                           "DIR or \"tree\" in its profile.json)" % prof.name)
    tree = prof.driver_tree
    if not tree.is_dir():
        raise ProfileError("driver tree %s is not a directory" % tree)
    kinfo = kernel_src.guest_kernel()
    timings = {}
    hdr = _timed(timings, "headers_s", kernel_src.ensure_headers, kinfo)
    files = _tree_files(tree)
    script = prof.build.read_bytes() if prof.build else b""
    key = _key([BUILD_FORMAT, "out-of-tree", kinfo.kver, kinfo.version,
                kinfo.vermagic, apt.dpkg_version("linux-headers-%s"
                                                 % kinfo.kver),
                json.dumps(prof.make_vars, sort_keys=True),
                json.dumps(prof.vars, sort_keys=True),
                " ".join(prof.modules), script, _tree_digest(tree, files)]
               + [x for p in prof.extra_patches
                  for x in (p.name, p.read_bytes())])
    with _build_slot(prof, key) as (bdir, have):
        if have is not None:
            return have
        found = _build_out_of_tree(prof, bdir, kinfo, hdr, files, timings)
        out = _finish_build(prof, bdir, kinfo, found, bdir / "build.log", {
            "profile": prof.name, "kind": prof.kind, "key": key,
            "tree": str(tree), "kver": kinfo.kver, "vars": prof.vars,
            "patches": [p.name for p in prof.extra_patches],
            "kernel_version": kinfo.version, "vermagic": kinfo.vermagic,
            "headers": str(hdr), "timings": timings,
        }, BuildError)
    _prune(prof, bdir)
    return out


def _build_out_of_tree(prof, bdir, kinfo, hdr, files, timings) -> dict:
    """Copy, patch and build the tree; {module name: built .ko}."""
    tree = prof.driver_tree
    src = bdir / "src"
    log = bdir / "build.log"

    def copy():
        for rel in files:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / rel, src / rel, follow_symlinks=False)
    _timed(timings, "copy_s", copy)
    patches.apply_series(prof.extra_patches, src, 0, log)
    env = dict(prof.vars)
    env.update({"KDIR": str(hdr), "KVER": kinfo.kver, "SRC": str(src),
                "QLAEMU_KDIR": str(hdr), "QLAEMU_KVER": kinfo.kver})
    if prof.build is not None:
        argv = ["sh", str(prof.build)]
    else:
        argv = _make_argv(hdr, src, prof.make_vars, None)
    _progress("building %s (%s)" % (tree, " ".join(argv)))
    rc = _timed(timings, "build_s", host.run_logged, argv, log, cwd=src,
                env=env)
    if rc != 0:
        raise _compile_failure(tree, rc, log)
    built = {}
    for ko in sorted(src.rglob("*.ko")):
        built.setdefault(profiles.mod_name(ko.name), ko)
    names = prof.modules or tuple(sorted(built))
    if not names:
        raise BuildError("the build of %s left no .ko file" % tree, log)
    missing = [n for n in names if n not in built]
    if missing:
        raise BuildError("the build of %s left no %s.ko (found: %s)"
                         % (tree, missing[0], ", ".join(built) or "none"),
                         log)
    return {n: built[n] for n in names}
