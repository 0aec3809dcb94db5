"""Driver-under-test profiles: which qla2xxx the guest loads.

A profile is a directory ``driver-under-test/<name>/`` holding a
``profile.json`` (format in ``driver-under-test/README.md``).  Three kinds:

``stock``
    the modules of the guest kernel package, as unpacked by
    :func:`qlaemu.guest.ensure_kernel_root` (profile ``debian-6.1``, the
    default).  Nothing is built.
``debian-src``
    ``qla2xxx.ko`` and ``tcm_qla2xxx.ko`` built out of tree from Debian's
    ``linux-source-<major.minor>`` of exactly the guest kernel's version,
    with the profile's patch series applied, against the matching
    ``linux-headers-<kver>`` (profile ``debian-6.1-src``).  Only
    ``drivers/scsi/qla2xxx``, the top ``Makefile`` (for the version check)
    and the files the patches touch are extracted from the source tarball.
``out-of-tree``
    a user-supplied module tree (``--driver-tree DIR``, e.g. SCST), copied,
    built with the profile's script or ``make -C <headers> M=<copy>``; its
    ``.ko`` files go into the initramfs and the profile's ``load`` /
    ``configure`` scripts replace the harness's qla2xxx/LIO set-up.

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

Loading the src-built modules taints the kernel twice, and the kernel --
not qla2xxx -- says so, prefixed with the module name::

    qla2xxx: loading out-of-tree module taints kernel.          (KERN_WARNING)
    qla2xxx: module verification failed: signature and/or ...   (KERN_NOTICE)

Debian's kernel has ``CONFIG_MODULE_SIG=y`` without ``MODULE_SIG_FORCE``
(and no lockdown without EFI secure boot, which the guest does not use),
so an unsigned module loads (taint ``E``); an ``M=`` build has no
``intree`` modinfo tag (taint ``O``).  :func:`is_kernel_load_notice` tells
these lines apart from driver warnings and :func:`expected_taint` gives the
taint bits a profile causes.

Errors: :class:`BuildError` means the driver (its source with the patches)
cannot be built -- a patch does not apply, the compiler fails, a patch
touches code this profile does not rebuild; ``./qlaemu bisect-step`` maps it
to exit code 125 ("skip this commit").  :class:`ProfileError` means the
profile or the environment is wrong (bad profile.json, missing package or
version mismatch) and must abort a bisection instead.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from . import paths

__all__ = [
    "DEFAULT_PROFILE", "KINDS", "Profile", "DriverError", "ProfileError",
    "BuildError", "KernelInfo", "InitramfsPlan", "profiles_dir",
    "list_profiles", "load_profile", "guest_kernel", "ensure_headers",
    "source_tarball", "ensure_modules", "build_manifest", "initramfs_plan",
    "target_load_commands", "initiator_load_commands",
    "target_configure_commands", "is_kernel_load_notice",
    "stale_initramfs",
    "filter_kernel_load_notices", "expected_taint",
]

#: The profile used when none is given: the guest kernel's own modules.
DEFAULT_PROFILE = "debian-6.1"
#: Allowed values of ``kind`` in profile.json.
KINDS = ("stock", "debian-src", "out-of-tree")
#: Keys allowed in profile.json (anything else is a typo: ProfileError).
PROFILE_KEYS = frozenset((
    "kind", "description", "patches", "patch_fuzz", "source_package",
    "modules",
    "make_vars", "tree", "build", "load", "configure", "load_initiator",
    "vars"))
#: Names a profile variable may have (``vars``, ``--profile-var``): shell
#: variable names, not the harness's own QLAEMU_* nor KDIR, KVER, SRC.
VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
RESERVED_VARS = ("KDIR", "KVER", "SRC", "PATH", "HOME")
#: Directory of the driver inside the kernel source.
QLA_SUBDIR = "drivers/scsi/qla2xxx"
#: Modules a ``debian-src`` profile builds, and the Kbuild switches for them
#: (drivers/scsi/qla2xxx/Makefile: ``obj-$(CONFIG_SCSI_QLA_FC)`` and
#: ``obj-$(CONFIG_TCM_QLA2XXX)``).  The headers' auto.conf already sets both
#: to m (Debian builds them as modules); passing them keeps the build
#: independent of that.
SRC_MODULES = ("qla2xxx", "tcm_qla2xxx")
SRC_MAKE_VARS = {"CONFIG_SCSI_QLA_FC": "m", "CONFIG_TCM_QLA2XXX": "m"}
#: Where the guest finds an out-of-tree profile's scripts.
GUEST_DRIVER_DIR = "/lib/qlaemu/driver"
#: Bumped when the build recipe changes in a way the key would not catch.
BUILD_FORMAT = 1
#: Cached build directories kept per profile (most recent first).
KEEP_BUILDS = 4
#: Taint bits (include/linux/panic.h) set by loading an out-of-tree
#: (``O``, 12) or unsigned (``E``, 13) module.
TAINT_OOT_MODULE = 1 << 12
TAINT_UNSIGNED_MODULE = 1 << 13
#: Lines the kernel's module loader (kernel/module/main.c) prints for such a
#: module; the module name comes first, like a driver's own messages.
KERNEL_LOAD_NOTICE_RE = re.compile(
    r"^(?:<\d+>)?(?:\[\s*\d+\.\d+\]\s*)?[\w-]+: "
    r"(?:loading out-of-tree module taints kernel\."
    r"|module verification failed: signature and/or required key missing"
    r" - tainting kernel)\s*$")
#: Directories of the kernel tree a patch may change without effect on the
#: modules built here (documentation and the like).
IGNORED_PATCH_DIRS = ("Documentation/", "MAINTAINERS", "tools/",
                      "samples/", "LICENSES/")
#: Files and directories skipped when an out-of-tree tree is copied/hashed.
TREE_IGNORE = (".git", ".hg", ".svn", "*.o", "*.ko", "*.mod", "*.mod.c",
               "*.mod.o", ".*.cmd", "*.a", "Module.symvers", "modules.order",
               ".tmp_versions", "*.dwo")


class DriverError(RuntimeError):
    """Base class of the errors of this module."""


class ProfileError(DriverError):
    """The profile or the environment is wrong (not the driver's fault).

    A bad or missing profile.json, a missing script, a package that cannot
    be installed, source/headers/kernel versions that cannot be matched, a
    built module whose vermagic differs from the guest kernel's.
    """


class BuildError(DriverError):
    """The driver under test cannot be built (bisect: exit code 125).

    Attributes:
        log: path of the build log (patch and make output), or None.
    """

    def __init__(self, msg: str, log: Path | None = None):
        super().__init__(msg)
        self.log = log


@dataclasses.dataclass
class Profile:
    """A driver-under-test profile (see driver-under-test/README.md).

    Attributes:
        name: profile name (its directory's name).
        kind: 'stock', 'debian-src' or 'out-of-tree'.
        dir: the profile directory.
        description: free text.
        patches: patch files in the order they are applied (debian-src).
        patch_fuzz: ``patch --fuzz``; 0 (default) requires every context
            line to match (line offsets are still allowed): with patch's
            own default of 2 a hunk whose context does not match at all
            can be applied at a wrong place.
        source_package: Debian source binary package, e.g.
            'linux-source-6.1' (debian-src); None means derived from the
            guest kernel's version.
        modules: names of the modules built (debian-src) or collected
            (out-of-tree; empty = every .ko the build leaves).
        make_vars: extra ``VAR=value`` arguments for make.
        driver_tree: the out-of-tree module source (``--driver-tree``).
        build: out-of-tree build script (None: ``make -C KDIR M=tree``).
        load: guest script that loads the modules (out-of-tree).
        configure: guest script that configures target mode (out-of-tree).
        load_initiator: guest script that loads the modules for initiator
            mode (out-of-tree; default: ``load``).
        vars: {NAME: value} variables of the profile's scripts (out-of-tree):
            profile.json ``vars`` overridden by ``--profile-var NAME=VALUE``;
            exported to the host build script and to the guest scripts.
        extra_patches: a user's patch series (``--patches DIR``) applied
            with ``patch -p1`` to the driver source before the build (after
            a debian-src profile's own patches).
    """
    name: str
    kind: str
    dir: Path
    description: str = ""
    patches: list = dataclasses.field(default_factory=list)
    patch_fuzz: int = 0
    source_package: str | None = None
    modules: tuple = ()
    make_vars: dict = dataclasses.field(default_factory=dict)
    driver_tree: Path | None = None
    build: Path | None = None
    load: Path | None = None
    configure: Path | None = None
    load_initiator: Path | None = None
    vars: dict = dataclasses.field(default_factory=dict)
    extra_patches: list = dataclasses.field(default_factory=list)

    @property
    def is_stock(self) -> bool:
        """True for the guest kernel's own modules (nothing to build)."""
        return self.kind == "stock"


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


@dataclasses.dataclass
class InitramfsPlan:
    """What a profile changes in the guest's base initramfs.

    Attributes:
        wanted: stock module names whose modules.dep closure is copied
            (the harness's list plus the stock dependencies of the built
            modules).
        replace: {path relative to lib/modules/<kver>: built .ko}; a path
            of a stock module replaces it, others are added (``updates/``).
        files: {absolute guest path: host file} more files (scripts).
        key: hash of all of the above ('' for a stock profile).
        tag: '' for a stock profile, else '<profile>-<key>' (names the
            archive so profiles do not evict each other's images).
    """
    wanted: tuple
    replace: dict
    files: dict
    key: str = ""
    tag: str = ""


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def _progress(msg: str) -> None:
    """One ``[driver] ...`` progress line on stderr."""
    import sys
    print("[driver] %s" % msg, file=sys.stderr, flush=True)


def _tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def _run_logged(cmd, log: Path, cwd: Path | None = None,
                env: dict | None = None, stdin=None) -> int:
    """Run ``cmd`` appending its stdout+stderr to ``log``; return the rc."""
    argv = [str(c) for c in cmd]
    with open(log, "a") as fh:
        fh.write("\n$ %s   (cwd=%s)\n" % (" ".join(argv), cwd or os.getcwd()))
        fh.flush()
        try:
            return subprocess.call(argv, cwd=cwd, stdout=fh,
                                   stderr=subprocess.STDOUT,
                                   stdin=stdin if stdin is not None
                                   else subprocess.DEVNULL,
                                   env=dict(os.environ, **(env or {})))
        except FileNotFoundError as e:
            fh.write("%s\n" % e)
            return 127


def _dpkg_version(pkg: str) -> str | None:
    """Installed version of ``pkg``, or None when it is not installed."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg],
                       capture_output=True, text=True)
    if p.returncode != 0:
        return None
    status, _, ver = p.stdout.partition("\t")
    return ver if status.split()[-1:] == ["installed"] else None


def _upstream(debian_version: str) -> str:
    """'1:6.1.192-2' -> '6.1.192' (epoch and Debian revision removed)."""
    v = debian_version.split(":", 1)[-1]
    return v.rsplit("-", 1)[0] if "-" in v else v


def _modinfo(ko: Path, field: str) -> str:
    p = subprocess.run(["modinfo", "-F", field, str(ko)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise ProfileError("modinfo %s failed: %s" % (ko, p.stderr.strip()))
    return p.stdout.strip()


def _mod_name(ko_path: str) -> str:
    """'kernel/drivers/x/foo-bar.ko.xz' -> 'foo_bar'."""
    return os.path.basename(ko_path).split(".ko")[0].replace("-", "_")


class _Lock:
    """flock on BUILD_DIR/driver/.<name>.lock (one builder per profile)."""

    def __init__(self, name: str):
        self.path = _driver_dir() / (".%s.lock" % name)
        self.fh = None

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fh = open(self.path, "w")
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _driver_dir() -> Path:
    return paths.BUILD_DIR / "driver"


# --------------------------------------------------------------------------
# profiles
# --------------------------------------------------------------------------

def profiles_dir() -> Path:
    """``driver-under-test/`` of the checkout."""
    return paths.REPO / "driver-under-test"


def list_profiles() -> list:
    """Names of the profiles in driver-under-test/ (sorted)."""
    d = profiles_dir()
    if not d.is_dir():
        return []
    return sorted(p.name for p in d.iterdir()
                  if (p / "profile.json").is_file())


def _read_series(pdir: Path) -> list:
    """Patch files of ``pdir`` in order: its ``series`` file, else sorted."""
    series = pdir / "series"
    if series.is_file():
        out = []
        for n, line in enumerate(series.read_text().splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            name, *opts = line.split()
            if opts and opts != ["-p1"]:
                raise ProfileError("%s:%d: only -p1 patches are supported"
                                   % (series, n))
            f = pdir / name
            if not f.is_file():
                raise ProfileError("%s:%d: no such patch %s" % (series, n, f))
            out.append(f)
        return out
    return sorted(pdir.glob("*.patch"))


def _script(pdir: Path, data: dict, key: str) -> Path | None:
    val = data.get(key)
    if val is None:
        return None
    if not isinstance(val, str) or not val:
        raise ProfileError("profile %s: %r must be a file name" % (pdir, key))
    f = (pdir / val).resolve()
    if not f.is_file():
        raise ProfileError("profile %s: %s script %s does not exist"
                           % (pdir, key, f))
    return f


def parse_vars(items) -> dict:
    """``--profile-var`` values ['NAME=VALUE', ...] -> {NAME: VALUE}.

    Raises:
        ProfileError: an item without '=', a name that is not a shell
            variable name, or a reserved one (:data:`RESERVED_VARS`,
            ``QLAEMU_*``).
    """
    out = {}
    for item in items or ():
        name, eq, value = str(item).partition("=")
        _check_var(name, "--profile-var %s" % item, eq)
        out[name] = value
    return out


def _check_var(name: str, where: str, eq: str = "=") -> None:
    if not eq or not VAR_NAME_RE.fullmatch(name):
        raise ProfileError("%s: expected NAME=VALUE with a shell variable "
                           "name" % where)
    if name in RESERVED_VARS or name.startswith("QLAEMU_"):
        raise ProfileError("%s: %s is set by the harness itself"
                           % (where, name))


def load_profile(name_or_path=None, driver_tree=None, profile_vars=None,
                 patches=None) -> Profile:
    """Read a profile.

    Args:
        name_or_path: a profile name (``driver-under-test/<name>/``), a
            profile directory, or a profile.json path; None means
            :data:`DEFAULT_PROFILE`.  A :class:`Profile` is returned as it
            is (the other arguments must then be None).
        driver_tree: the module source of an out-of-tree profile
            (``--driver-tree``); overrides the profile's ``tree``.
        profile_vars: {NAME: value} overriding or adding to the profile's
            ``vars`` (``--profile-var``; out-of-tree profiles).
        patches: a directory holding a patch series (quilt ``series`` file,
            else ``*.patch`` by name) or a list of patch files
            (``--patches``), applied to the driver source before the build;
            not for a stock profile.

    Returns:
        Profile.

    Raises:
        ProfileError: unknown profile, malformed profile.json, unknown
            keys, missing patch or script, bad variable names, patches for
            a stock profile.
    """
    if isinstance(name_or_path, Profile):
        if driver_tree is not None or profile_vars or patches:
            raise ProfileError("a resolved profile takes no more options")
        return name_or_path
    prof = _load_profile(name_or_path, driver_tree)
    if profile_vars:
        if prof.kind != "out-of-tree":
            raise ProfileError("--profile-var is for out-of-tree profiles "
                               "(their scripts read it); %s is %s"
                               % (prof.name, prof.kind))
        for k in profile_vars:
            _check_var(k, "--profile-var %s" % k)
        prof.vars = dict(prof.vars, **{k: str(v)
                                       for k, v in profile_vars.items()})
    if patches:
        if prof.is_stock:
            raise ProfileError("--patches needs a profile that builds the "
                               "driver; %s is the stock modules (use "
                               "debian-6.1-src or --driver-tree)" % prof.name)
        if isinstance(patches, (str, Path)):
            pdir = Path(patches)
            if not pdir.is_dir():
                raise ProfileError("--patches %s is not a directory" % pdir)
            found = _read_series(pdir)
            if not found:
                raise ProfileError("--patches %s holds no series file and "
                                   "no *.patch" % pdir)
        else:
            found = [Path(f) for f in patches]
            for f in found:
                if not f.is_file():
                    raise ProfileError("no such patch %s" % f)
        prof.extra_patches = [f.resolve() for f in found]
    return prof


def _load_profile(name_or_path, driver_tree) -> Profile:
    """load_profile() without the run-time options."""
    if name_or_path is None:
        name_or_path = DEFAULT_PROFILE
    p = Path(name_or_path)
    if p.is_file():
        pjson = p
    elif (p / "profile.json").is_file() and (os.sep in str(name_or_path)
                                             or p.is_absolute()):
        pjson = p / "profile.json"
    elif (profiles_dir() / str(name_or_path) / "profile.json").is_file():
        pjson = profiles_dir() / str(name_or_path) / "profile.json"
    elif (p / "profile.json").is_file():
        pjson = p / "profile.json"
    else:
        raise ProfileError("no driver profile %r (profiles: %s)" % (
            str(name_or_path), ", ".join(list_profiles()) or "none"))
    pdir = pjson.resolve().parent
    try:
        data = json.loads(pjson.read_text())
    except (OSError, ValueError) as e:
        raise ProfileError("cannot read %s: %s" % (pjson, e)) from e
    if not isinstance(data, dict):
        raise ProfileError("%s: not a JSON object" % pjson)
    unknown = sorted(set(data) - PROFILE_KEYS)
    if unknown:
        raise ProfileError("%s: unknown keys %s (allowed: %s)" % (
            pjson, ", ".join(unknown), ", ".join(sorted(PROFILE_KEYS))))
    kind = data.get("kind")
    if kind not in KINDS:
        raise ProfileError("%s: kind must be one of %s, not %r"
                           % (pjson, ", ".join(KINDS), kind))
    prof = Profile(name=pdir.name, kind=kind, dir=pdir,
                   description=str(data.get("description", "")))
    make_vars = data.get("make_vars", {})
    if not isinstance(make_vars, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
            for k in make_vars):
        raise ProfileError("%s: make_vars must map variable names to "
                           "values" % pjson)
    prof.make_vars = {k: str(v) for k, v in make_vars.items()}
    mods = data.get("modules", [])
    if not isinstance(mods, list) or not all(isinstance(m, str)
                                             for m in mods):
        raise ProfileError("%s: modules must be a list of names" % pjson)
    prof.modules = tuple(m.replace("-", "_") for m in mods)
    if kind == "stock":
        extra = sorted(set(data) & {"patches", "patch_fuzz", "tree",
                                    "build", "load", "configure",
                                    "load_initiator", "vars"})
        if extra:
            raise ProfileError("%s: a stock profile takes no %s"
                               % (pjson, ", ".join(extra)))
    elif kind == "debian-src":
        pat = data.get("patches", "patches")
        if isinstance(pat, str):
            d = (pdir / pat)
            prof.patches = _read_series(d) if d.is_dir() else []
        elif isinstance(pat, list):
            prof.patches = []
            for f in pat:
                fp = pdir / str(f)
                if not fp.is_file():
                    raise ProfileError("%s: no such patch %s" % (pjson, fp))
                prof.patches.append(fp)
        else:
            raise ProfileError("%s: patches must be a directory or a list"
                               % pjson)
        prof.patches = [f.resolve() for f in prof.patches]
        fuzz = data.get("patch_fuzz", 0)
        if not isinstance(fuzz, int) or isinstance(fuzz, bool) \
                or not 0 <= fuzz <= 3:
            raise ProfileError("%s: patch_fuzz must be 0..3" % pjson)
        prof.patch_fuzz = fuzz
        prof.source_package = data.get("source_package")
        prof.modules = prof.modules or SRC_MODULES
        for k in ("tree", "build", "load", "configure", "load_initiator",
                  "vars"):
            if k in data:
                raise ProfileError("%s: a debian-src profile takes no %r "
                                   "(it uses the harness's set-up)"
                                   % (pjson, k))
    else:   # out-of-tree
        if "patches" in data or "patch_fuzz" in data:
            raise ProfileError("%s: patches are for debian-src profiles; "
                               "patch the driver tree itself" % pjson)
        pvars = data.get("vars", {})
        if not isinstance(pvars, dict):
            raise ProfileError("%s: vars must map names to values" % pjson)
        for k in pvars:
            _check_var(k, "%s: vars" % pjson)
        prof.vars = {k: str(v) for k, v in pvars.items()}
        prof.build = _script(pdir, data, "build")
        prof.load = _script(pdir, data, "load")
        prof.configure = _script(pdir, data, "configure")
        prof.load_initiator = _script(pdir, data, "load_initiator")
        if prof.load is None:
            raise ProfileError("%s: an out-of-tree profile needs a 'load' "
                               "script" % pjson)
        tree = driver_tree if driver_tree is not None else data.get("tree")
        if tree is not None:
            tp = Path(tree)
            if not tp.is_absolute() and driver_tree is None:
                tp = pdir / tp
            prof.driver_tree = tp.resolve()
    if driver_tree is not None and kind != "out-of-tree":
        raise ProfileError("--driver-tree is for out-of-tree profiles; %s "
                           "is %s" % (prof.name, kind))
    return prof


# --------------------------------------------------------------------------
# kernel, headers, source
# --------------------------------------------------------------------------

def guest_kernel() -> KernelInfo:
    """Describe the guest kernel (unpacking its package if needed).

    Checks that the upstream version in the package's version agrees with
    the one in its /boot/config header.

    Raises:
        ProfileError: the kernel cannot be had, or its versions disagree.
    """
    from . import guest
    try:
        root, kver = guest.ensure_kernel_root()
        pkg, ver = guest.kernel_package()
    except guest.GuestError as e:
        raise ProfileError("guest kernel: %s" % e) from e
    up = _upstream(ver)
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
        if _mod_name(rel) == "qla2xxx":
            ko = moddir / rel
            break
    if ko is None:
        raise ProfileError("no qla2xxx in %s/modules.dep" % moddir)
    return KernelInfo(root=root, kver=kver, package=pkg, version=ver,
                      upstream=up, vermagic=_modinfo(ko, "vermagic"))


def _apt_install(spec: str, log: Path) -> None:
    """``apt-get install -y spec`` (spec may be 'pkg=version')."""
    from . import build
    build.ensure_apt_sources()
    cmd = ["apt-get", *build.APT_OPTS, "install", "-y",
           "--no-install-recommends", spec]
    if _run_logged(cmd, log, env=build.APT_ENV) != 0:
        raise ProfileError("apt-get install %s failed; log: %s\n%s"
                           % (spec, log, _tail(log)))


def ensure_headers(kinfo: KernelInfo) -> Path:
    """Install ``linux-headers-<kver>`` of exactly the kernel's version.

    Uses :func:`qlaemu.build.ensure_packages` (which pulls
    ``linux-headers-<abi>-common`` and ``linux-kbuild-<mm>`` in); when the
    installed or candidate version differs from the kernel package's, that
    exact version is installed.

    Returns:
        /usr/src/linux-headers-<kver>.

    Raises:
        ProfileError: the package cannot be installed in that version.
    """
    from . import build
    pkg = "linux-headers-%s" % kinfo.kver
    if _dpkg_version(pkg) is None:
        try:
            build.ensure_packages([pkg])
        except build.SetupError as e:
            why = ""
            if re.search(r"Depends: libc6 \(>= ", str(e)):
                why = (" -- its build tools (gcc, linux-kbuild) need a newer "
                       "C library than this host's, and the harness never "
                       "upgrades the host's; build this kernel's modules on "
                       "a host of its Debian release (docs/kernels.md)")
            raise ProfileError("cannot install %s%s: %s" % (pkg, why, e)) \
                from e
    have = _dpkg_version(pkg)
    if have != kinfo.version:
        _progress("%s is %s, the kernel is %s: installing %s=%s"
                  % (pkg, have, kinfo.version, pkg, kinfo.version))
        _apt_install("%s=%s" % (pkg, kinfo.version),
                     paths.BUILD_DIR / "logs" / "apt.log")
        have = _dpkg_version(pkg)
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
    from . import build
    have = _dpkg_version(pkg)
    if have is None:
        try:
            build.ensure_packages([pkg])
        except build.SetupError as e:
            _progress("cannot install %s (%s); trying a download" % (pkg, e))
        have = _dpkg_version(pkg)
    installed = Path("/usr/src") / ("%s.tar.xz" % pkg)
    if have == kinfo.version and installed.is_file():
        return installed, have
    _progress("%s installed in version %s, the guest kernel is %s: using %s=%s"
              % (pkg, have, kinfo.version, pkg, kinfo.version))
    cached = paths.CACHE_DIR / "src" / ("%s_%s.tar.xz" % (
        pkg, kinfo.version.replace(":", "%3a")))
    if cached.is_file():
        return cached, kinfo.version
    debs = paths.CACHE_DIR / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    log = paths.BUILD_DIR / "logs" / "apt.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    got = list(debs.glob("%s_%s_all.deb" % (pkg, kinfo.version.replace(
        ":", "%3a"))))
    if not got:
        rc = _run_logged(["apt-get", "download", "%s=%s" % (pkg,
                                                            kinfo.version)],
                         log, cwd=debs)
        got = list(debs.glob("%s_*%s_all.deb" % (pkg, _upstream(
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


# --------------------------------------------------------------------------
# patches
# --------------------------------------------------------------------------

_PATCH_FILE_RE = re.compile(r"^(?:---|\+\+\+) (\S+)")


def patch_paths(patch: Path) -> list:
    """Kernel-tree paths a -p1 patch reads or writes (sorted, unique).

    Raises:
        BuildError: a path is absolute or leaves the tree.
    """
    out = set()
    text = patch.read_text(errors="replace")
    for line in text.splitlines():
        m = _PATCH_FILE_RE.match(line)
        if not m or m.group(1) == "/dev/null":
            continue
        parts = m.group(1).split("/", 1)
        if len(parts) != 2:
            continue
        rel = parts[1]
        if rel.startswith("/") or ".." in rel.split("/"):
            raise BuildError("%s: bad path %s" % (patch, m.group(1)))
        out.add(rel)
    return sorted(out)


def _classify(rel: str) -> str:
    """'driver', 'include' or 'ignored' for a patched path, else 'other'."""
    if rel.startswith(QLA_SUBDIR + "/"):
        return "driver"
    if rel.startswith("include/"):
        return "include"
    if any(rel == d or rel.startswith(d) for d in IGNORED_PATCH_DIRS):
        return "ignored"
    return "other"


# --------------------------------------------------------------------------
# builds
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
def _build_slot(prof: "Profile", key: str):
    """Hold the profile's build lock over BUILD_DIR/driver/<name>-<key>.

    Yields (build dir, cached modules or None).  When nothing usable is
    cached the directory is emptied and ``src/`` created for a new build.
    """
    bdir = _driver_dir() / ("%s-%s" % (prof.name, key))
    with _Lock(prof.name):
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


def _extract(tarball: Path, dest: Path, members: list, optional: list,
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
    if _run_logged(["strip", "--strip-debug", "-o", dst, src], log) != 0:
        shutil.copy2(src, dst)


def _apply_patches(series, src: Path, fuzz: int, log: Path) -> None:
    """Apply ``series`` (patch files, in order) to ``src`` with -p1.

    ``--forward`` and ``--fuzz=fuzz`` (0: every context line must match;
    offsets are allowed).

    Raises:
        BuildError: a patch does not apply (the tree does not take it).
    """
    for p in series:
        _progress("applying %s" % p.name)
        rc = _run_logged(["patch", "-p1", "--batch", "--forward",
                          "--fuzz=%d" % fuzz, "--no-backup-if-mismatch",
                          "-d", src, "-i", p], log)
        if rc != 0:
            raise BuildError("patch %s does not apply (exit %d); log: "
                             "%s\n%s" % (p, rc, log, _tail(log, 20)), log)


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


def _compile_failure(what, rc: int, log: Path) -> "BuildError":
    """The BuildError of a failed build: the first error, then the tail."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        text = ""
    first = first_build_error(text)
    return BuildError("building %s failed (exit %d): %s; log: %s\n%s"
                      % (what, rc, first or "no compiler error line found",
                         log, _tail(log)), log)


def _ensure_debian_src(prof: Profile) -> dict:
    kinfo = guest_kernel()
    timings = {}
    t = time.monotonic()
    hdr = ensure_headers(kinfo)
    timings["headers_s"] = round(time.monotonic() - t, 2)
    hdr_ver = _dpkg_version("linux-headers-%s" % kinfo.kver)
    srcpkg = _source_package(kinfo, prof)
    tarball, src_ver = source_tarball(kinfo, srcpkg)
    if src_ver != kinfo.version:
        raise ProfileError("%s %s does not match the guest kernel %s %s"
                           % (srcpkg, src_ver, kinfo.package, kinfo.version))
    series = list(prof.patches) + list(prof.extra_patches)
    patches = [(p.name, p.read_bytes()) for p in series]
    key = _key([BUILD_FORMAT, "debian-src", kinfo.kver, kinfo.version,
                kinfo.vermagic, srcpkg, src_ver, hdr_ver,
                json.dumps(prof.make_vars, sort_keys=True),
                " ".join(prof.modules), prof.patch_fuzz]
               + [x for name, data in patches for x in (name, data)])
    with _build_slot(prof, key) as (bdir, have):
        if have is not None:
            return have
        src = bdir / "src"
        log = bdir / "build.log"
        touched = {}
        for p in series:
            for rel in patch_paths(p):
                touched.setdefault(rel, p.name)
        other = sorted((r, n) for r, n in touched.items()
                       if _classify(r) == "other")
        if other:
            raise BuildError(
                "patches change files outside %s and include/, which this "
                "profile does not rebuild: %s" % (QLA_SUBDIR, ", ".join(
                    "%s (%s)" % ro for ro in other)), log)
        optional = sorted(r for r in touched
                          if not r.startswith(QLA_SUBDIR + "/"))
        _progress("extracting %s from %s" % (QLA_SUBDIR, tarball))
        t = time.monotonic()
        _extract(tarball, src, ["Makefile", QLA_SUBDIR], optional, log)
        timings["extract_s"] = round(time.monotonic() - t, 2)
        mk = (src / "Makefile").read_text()
        sv = ".".join(re.search(r"^%s = (\d+)" % v, mk, re.M).group(1)
                      for v in ("VERSION", "PATCHLEVEL", "SUBLEVEL"))
        if sv != kinfo.upstream:
            raise ProfileError("%s is Linux %s, the guest kernel %s"
                               % (tarball, sv, kinfo.upstream))
        t = time.monotonic()
        _apply_patches(series, src, prof.patch_fuzz, log)
        timings["patch_s"] = round(time.monotonic() - t, 2)
        inc = src / "include" if any(_classify(r) == "include"
                                     for r in touched) else None
        mdir = src / QLA_SUBDIR
        make_vars = dict(SRC_MAKE_VARS, **prof.make_vars)
        _progress("building %s against %s" % (", ".join(prof.modules), hdr))
        t = time.monotonic()
        rc = _run_logged(_make_argv(hdr, mdir, make_vars, inc), log)
        timings["build_s"] = round(time.monotonic() - t, 2)
        if rc != 0:
            raise _compile_failure(mdir, rc, log)
        out = {}
        for name in prof.modules:
            ko = mdir / ("%s.ko" % name)
            if not ko.is_file():
                raise BuildError("the build left no %s" % ko, log)
            vm = _modinfo(ko, "vermagic")
            if vm != kinfo.vermagic:
                raise ProfileError("%s: vermagic %r, the guest kernel's is "
                                   "%r" % (ko, vm, kinfo.vermagic))
            out[name] = bdir / "out" / ("%s.ko" % name)
            _strip_into(ko, out[name], log)
        manifest = {
            "profile": prof.name, "kind": prof.kind, "key": key,
            "kver": kinfo.kver, "kernel_package": kinfo.package,
            "kernel_version": kinfo.version, "source_package": srcpkg,
            "source_version": src_ver, "source_tarball": str(tarball),
            "headers_version": hdr_ver, "headers": str(hdr),
            "vermagic": kinfo.vermagic,
            "patches": [n for n, _ in patches],
            "modules": {n: str(p) for n, p in out.items()},
            "timings": timings,
        }
        (bdir / "manifest.json").write_text(json.dumps(manifest, indent=2)
                                            + "\n")
        _progress("built in %s: %s" % (bdir, timings))
    _prune(prof, bdir)
    return out


def _tree_files(tree: Path) -> list:
    """Files of ``tree`` (relative, sorted) minus :data:`TREE_IGNORE`."""
    import fnmatch
    out = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if not any(
            fnmatch.fnmatch(d, pat) for pat in TREE_IGNORE))
        for f in sorted(filenames):
            if any(fnmatch.fnmatch(f, pat) for pat in TREE_IGNORE):
                continue
            out.append(Path(dirpath, f).relative_to(tree))
    return out


def _ensure_out_of_tree(prof: Profile) -> dict:
    if prof.driver_tree is None:
        raise ProfileError("profile %s needs a module tree (--driver-tree "
                           "DIR or \"tree\" in its profile.json)" % prof.name)
    tree = prof.driver_tree
    if not tree.is_dir():
        raise ProfileError("driver tree %s is not a directory" % tree)
    kinfo = guest_kernel()
    timings = {}
    t = time.monotonic()
    hdr = ensure_headers(kinfo)
    timings["headers_s"] = round(time.monotonic() - t, 2)
    files = _tree_files(tree)
    h = hashlib.sha256()
    for rel in files:
        h.update(str(rel).encode() + b"\0")
        try:
            h.update((tree / rel).read_bytes())
        except OSError:
            pass
        h.update(b"\0")
    script = prof.build.read_bytes() if prof.build else b""
    key = _key([BUILD_FORMAT, "out-of-tree", kinfo.kver, kinfo.version,
                kinfo.vermagic, _dpkg_version("linux-headers-%s"
                                              % kinfo.kver),
                json.dumps(prof.make_vars, sort_keys=True),
                json.dumps(prof.vars, sort_keys=True),
                " ".join(prof.modules), script, h.hexdigest()]
               + [x for p in prof.extra_patches
                  for x in (p.name, p.read_bytes())])
    with _build_slot(prof, key) as (bdir, have):
        if have is not None:
            return have
        src = bdir / "src"
        log = bdir / "build.log"
        t = time.monotonic()
        for rel in files:
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(tree / rel, src / rel, follow_symlinks=False)
        timings["copy_s"] = round(time.monotonic() - t, 2)
        _apply_patches(prof.extra_patches, src, 0, log)
        env = dict(prof.vars)
        env.update({"KDIR": str(hdr), "KVER": kinfo.kver, "SRC": str(src),
                    "QLAEMU_KDIR": str(hdr), "QLAEMU_KVER": kinfo.kver})
        if prof.build is not None:
            argv = ["sh", str(prof.build)]
        else:
            argv = _make_argv(hdr, src, prof.make_vars, None)
        _progress("building %s (%s)" % (tree, " ".join(argv)))
        t = time.monotonic()
        rc = _run_logged(argv, log, cwd=src, env=env)
        timings["build_s"] = round(time.monotonic() - t, 2)
        if rc != 0:
            raise _compile_failure(tree, rc, log)
        found = {}
        for ko in sorted(src.rglob("*.ko")):
            found.setdefault(_mod_name(ko.name), ko)
        names = prof.modules or tuple(sorted(found))
        if not names:
            raise BuildError("the build of %s left no .ko file" % tree, log)
        out = {}
        for name in names:
            if name not in found:
                raise BuildError("the build of %s left no %s.ko (found: %s)"
                                 % (tree, name, ", ".join(found) or "none"),
                                 log)
            vm = _modinfo(found[name], "vermagic")
            if vm != kinfo.vermagic:
                raise BuildError("%s: vermagic %r, the guest kernel's is %r"
                                 % (found[name], vm, kinfo.vermagic), log)
            out[name] = bdir / "out" / ("%s.ko" % name)
            _strip_into(found[name], out[name], log)
        manifest = {
            "profile": prof.name, "kind": prof.kind, "key": key,
            "tree": str(tree), "kver": kinfo.kver, "vars": prof.vars,
            "patches": [p.name for p in prof.extra_patches],
            "kernel_version": kinfo.version, "vermagic": kinfo.vermagic,
            "headers": str(hdr),
            "modules": {n: str(p) for n, p in out.items()},
            "timings": timings,
        }
        (bdir / "manifest.json").write_text(json.dumps(manifest, indent=2)
                                            + "\n")
    _prune(prof, bdir)
    return out


def ensure_modules(profile) -> dict:
    """Build (or find cached) the modules of ``profile``.

    Args:
        profile: a Profile, or a name/path for :func:`load_profile`.

    Returns:
        {module name: Path of the .ko to put in the guest}; empty for a
        stock profile.

    Raises:
        BuildError: the driver source cannot be built (patch, compiler).
        ProfileError: profile or environment problem.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if profile.kind == "stock":
        return {}
    if profile.kind == "debian-src":
        return _ensure_debian_src(profile)
    return _ensure_out_of_tree(profile)


# --------------------------------------------------------------------------
# guest side
# --------------------------------------------------------------------------

def _dep_names(moddir: Path) -> dict:
    """{module name: path relative to moddir} from modules.dep."""
    out = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" in line:
            rel = line.split(":", 1)[0]
            out[_mod_name(rel)] = rel
    return out


def initramfs_plan(profile, moddir: Path, wanted=()) -> InitramfsPlan:
    """What the base initramfs needs for ``profile`` (builds if needed).

    For the hook in :func:`qlaemu.guest.ensure_base_initramfs`: compute the
    stock closure of ``plan.wanted``, then copy each ``plan.replace`` file
    over (or next to) it and each ``plan.files`` file into the image, run
    depmod as today, and fold ``plan.key`` into the archive's key.

    Args:
        profile: Profile, name, path or None (default profile).
        moddir: lib/modules/<kver> of the unpacked guest kernel.
        wanted: the harness's module names (guest.MODULES).

    Returns:
        InitramfsPlan.

    Raises:
        BuildError, ProfileError: as :func:`ensure_modules`.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    wanted = tuple(wanted)
    if profile.is_stock:
        return InitramfsPlan(wanted=wanted, replace={}, files={})
    built = ensure_modules(profile)
    stock = _dep_names(moddir)
    extra = []
    replace = {}
    for name, ko in sorted(built.items()):
        for dep in filter(None, _modinfo(ko, "depends").split(",")):
            dep = dep.replace("-", "_")
            if dep not in built and dep not in wanted and dep not in extra:
                extra.append(dep)
        rel = stock.get(name)
        if rel is not None:
            rel = re.sub(r"\.ko\.(xz|zst|gz)$", ".ko", rel)
        else:
            rel = "updates/qlaemu/%s.ko" % name
        replace[rel] = ko
    files = {}
    for attr in ("load", "configure", "load_initiator"):
        f = getattr(profile, attr)
        if f is not None:
            files["%s/%s.sh" % (GUEST_DRIVER_DIR, attr)] = f
    h = hashlib.sha256()
    for rel, f in sorted(replace.items()) + sorted(files.items()):
        h.update(rel.encode() + b"\0" + Path(f).read_bytes() + b"\0")
    h.update(" ".join(extra).encode())
    key = h.hexdigest()[:16]
    return InitramfsPlan(wanted=wanted + tuple(extra), replace=replace,
                         files=files, key=key,
                         tag="%s-%s" % (profile.name, key))


def stale_initramfs(guest_dir: Path, tag: str) -> list:
    """Older images of the profile of ``tag`` in ``guest_dir`` (to delete).

    ``initramfs-base-<profile>-<key>.{cpio.gz,key}`` files of the same
    profile with another key; never the stock ``initramfs-base.*``.
    """
    if not tag:
        return []
    prof = tag.rsplit("-", 1)[0]
    pat = re.compile(r"initramfs-base-%s-([0-9a-f]{16})\.(cpio\.gz|key)"
                     % re.escape(prof))
    return sorted(f for f in Path(guest_dir).glob("initramfs-base-*")
                  if (m := pat.fullmatch(f.name))
                  and "%s-%s" % (prof, m.group(1)) != tag)


def _env_prefix(mode: str, wwn: str | None = None, pvars=None) -> str:
    """``NAME=value ...`` for a guest script: the profile's variables
    (shell-quoted), QLAEMU_MODE and QLAEMU_WWPN."""
    import shlex
    s = "".join("%s=%s " % (k, shlex.quote(v))
                for k, v in sorted((pvars or {}).items()))
    s += "QLAEMU_MODE=%s" % mode
    if wwn:
        s += " QLAEMU_WWPN=%s" % wwn
    return s


def target_load_commands(profile=None) -> str:
    """Guest shell lines that load the driver for target mode.

    Stock and debian-src: ``modprobe qla2xxx qlini_mode=disabled`` and
    ``modprobe tcm_qla2xxx`` (the built modules replace the stock ones in
    the image, so the same commands load them).  Out-of-tree: the
    profile's load script with ``QLAEMU_MODE=target``.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if profile.kind != "out-of-tree":
        return "modprobe qla2xxx qlini_mode=disabled\nmodprobe tcm_qla2xxx\n"
    return "%s sh %s/load.sh\n" % (_env_prefix("target", None, profile.vars),
                                   GUEST_DRIVER_DIR)


def initiator_load_commands(profile=None) -> str:
    """Guest shell lines that load the driver for initiator mode."""
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if profile.kind != "out-of-tree":
        return "modprobe qla2xxx\n"
    script = "load_initiator" if profile.load_initiator else "load"
    return "%s sh %s/%s.sh\n" % (_env_prefix("initiator", None,
                                             profile.vars),
                                 GUEST_DRIVER_DIR, script)


def target_configure_commands(profile, wwn: str) -> str | None:
    """Guest shell lines that configure the target port ``wwn``.

    Args:
        profile: Profile, name, path or None.
        wwn: the HBA's port name as the target stack spells it
            ('21:00:00:24:ff:00:00:01').

    Returns:
        None for stock and debian-src profiles (the harness's LIO set-up
        applies), '' for an out-of-tree profile without a configure script
        (its load script does everything), else the call of the profile's
        configure script with ``QLAEMU_MODE=target QLAEMU_WWPN=<wwn>``.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if profile.kind != "out-of-tree":
        return None
    if profile.configure is None:
        return ""
    return "%s sh %s/configure.sh\n" % (
        _env_prefix("target", wwn, profile.vars), GUEST_DRIVER_DIR)


def is_kernel_load_notice(line: str) -> bool:
    """True for the module loader's taint notices about a module.

    ``<name>: loading out-of-tree module taints kernel.`` and ``<name>:
    module verification failed: signature and/or required key missing -
    tainting kernel`` are printed by the kernel (kernel/module/main.c) when
    an unsigned, out-of-tree-built module loads; they start with the
    module's name but are not the driver's warnings.  Accepts a bare line
    or one with a ``<N>`` level and/or ``[  t]`` time prefix.
    """
    return bool(KERNEL_LOAD_NOTICE_RE.match(line.strip()))


def filter_kernel_load_notices(lines) -> list:
    """``lines`` without those :func:`is_kernel_load_notice` accepts."""
    return [ln for ln in lines if not is_kernel_load_notice(ln)]


def expected_taint(profile=None) -> int:
    """Taint bits (/proc/sys/kernel/tainted) that ``profile``'s modules set.

    0 for stock; ``O`` (out-of-tree, bit 12) and ``E`` (unsigned, bit 13)
    for the built profiles.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile)
    if profile.is_stock:
        return 0
    return TAINT_OOT_MODULE | TAINT_UNSIGNED_MODULE
