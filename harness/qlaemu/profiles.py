"""Driver-under-test profiles: which qla2xxx the guest loads.

This module reads profiles; :mod:`qlaemu.modbuild` builds their modules,
:mod:`qlaemu.driver` loads and configures them in the guest.

A profile is a directory ``driver-under-test/<name>/`` holding a
``profile.json`` (format in ``driver-under-test/README.md``).  Three kinds:

``stock``
    the modules of the guest kernel package, as unpacked by
    :func:`qlaemu.kernels.ensure_kernel_root` (profile ``debian-6.1``, the
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

Builds and their cache are :mod:`qlaemu.modbuild`'s.

Errors: :class:`BuildError` means the driver (its source with the patches)
cannot be built -- a patch does not apply, the compiler fails, a patch
touches code this profile does not rebuild; ``./qlaemu bisect-step`` maps it
to exit code 125 ("skip this commit").  :class:`ProfileError` means the
profile or the environment is wrong (bad profile.json, missing package or
version mismatch) and must abort a bisection instead.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

from . import paths

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
#: Modules a ``debian-src`` profile builds (drivers/scsi/qla2xxx/Makefile).
SRC_MODULES = ("qla2xxx", "tcm_qla2xxx")
#: Where the guest finds an out-of-tree profile's scripts.
GUEST_DRIVER_DIR = "/lib/qlaemu/driver"


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


def mod_name(ko_path: str) -> str:
    """'kernel/drivers/x/foo-bar.ko.xz' -> 'foo_bar'."""
    return os.path.basename(ko_path).split(".ko")[0].replace("-", "_")


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


def _profile_json(name_or_path) -> Path:
    """The profile.json a name, directory or file names.

    Raises:
        ProfileError: there is none.
    """
    p = Path(name_or_path)
    if p.is_file():
        return p
    if (p / "profile.json").is_file() and (os.sep in str(name_or_path)
                                           or p.is_absolute()):
        return p / "profile.json"
    if (profiles_dir() / str(name_or_path) / "profile.json").is_file():
        return profiles_dir() / str(name_or_path) / "profile.json"
    if (p / "profile.json").is_file():
        return p / "profile.json"
    raise ProfileError("no driver profile %r (profiles: %s)" % (
        str(name_or_path), ", ".join(list_profiles()) or "none"))


def _read_json(pjson: Path) -> dict:
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
    if data.get("kind") not in KINDS:
        raise ProfileError("%s: kind must be one of %s, not %r"
                           % (pjson, ", ".join(KINDS), data.get("kind")))
    return data


def _load_profile(name_or_path, driver_tree) -> Profile:
    """load_profile() without the run-time options."""
    pjson = _profile_json(name_or_path if name_or_path is not None
                          else DEFAULT_PROFILE)
    pdir = pjson.resolve().parent
    data = _read_json(pjson)
    kind = data["kind"]
    prof = Profile(name=pdir.name, kind=kind, dir=pdir,
                   description=str(data.get("description", "")))
    make_vars = data.get("make_vars", {})
    if not isinstance(make_vars, dict) or not all(
            isinstance(k, str) and VAR_NAME_RE.fullmatch(k)
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
        _debian_src_keys(prof, data, pjson)
    else:
        _out_of_tree_keys(prof, data, pjson, driver_tree)
    if driver_tree is not None and kind != "out-of-tree":
        raise ProfileError("--driver-tree is for out-of-tree profiles; %s "
                           "is %s" % (prof.name, kind))
    return prof


def _debian_src_keys(prof: Profile, data: dict, pjson: Path) -> None:
    """The keys of a debian-src profile: patches, patch_fuzz,
    source_package."""
    pdir = prof.dir
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
                               "(it uses the harness's set-up)" % (pjson, k))


def _out_of_tree_keys(prof: Profile, data: dict, pjson: Path,
                      driver_tree) -> None:
    """The keys of an out-of-tree profile: vars, the scripts, tree."""
    pdir = prof.dir
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
