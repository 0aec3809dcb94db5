"""The guest's initramfs: busybox, the guest kernel's modules, the
driver under test, the firmware file and the guest-side scripts.

Image layout (all under ``BUILD_DIR/guest``)::

    initramfs-base[@<kernel>][-<profile>-<key>].cpio.gz
                               busybox, module closure, firmware, /init,
                               harness/guest/* in /lib/qlaemu
    <same>.key                 hash of the inputs of the above

Per run a second, uncompressed newc archive holding ``/scenario.sh`` (and
caller-supplied files) is appended to the base archive
(:func:`run_initrd`); Linux unpacks concatenated initramfs archives in
order.  The guest-side scripts are files in ``harness/guest/``: ``init``
(PID 1), ``functions.sh`` (the data and control channel helpers, sourced
before /scenario.sh) and the scripts a run's /scenario.sh sources
(:func:`script` writes that small file: variables, then ``. /lib/qlaemu/
NAME.sh``).
"""
import dataclasses
import hashlib
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import (archive, firmware, host, kernel_src, kernels, modbuild, paths,
               profiles)

#: The guest-side scripts (harness/guest): init, functions.sh, banner.txt
#: and the scripts runs source from /lib/qlaemu.
GUEST_FILES = paths.REPO / "harness" / "guest"

#: Modules wanted in the guest; their modules.dep closure (and softdeps) is
#: copied.  target_core_mod contains the rd_mcp ramdisk backstore.
MODULES = ("qla2xxx", "tcm_qla2xxx", "target_core_mod", "target_core_file",
           "target_core_iblock", "configfs", "scsi_transport_fc", "sd_mod",
           "sg", "crc64_rocksoft_generic")

#: Modules of MODULES that some kernels do not have (crc64_rocksoft is a
#: softdep of 6.1's t10-pi; 5.10 has no such module).
OPTIONAL_MODULES = ("crc64_rocksoft_generic",)

#: Bumped whenever the image changes in a way the hash of its inputs would
#: not catch.
IMAGE_FORMAT = 4   # 4: reproducible archives (archive.pack_newc)

#: Where the driver profile's scripts go in the guest.
GUEST_DRIVER_DIR = profiles.GUEST_DRIVER_DIR


class GuestError(RuntimeError):
    """The guest image cannot be prepared (dpkg-deb, depmod, cpio)."""


def banner() -> str:
    """The interactive shell's banner (harness/guest/banner.txt)."""
    return (GUEST_FILES / "banner.txt").read_text()


def script(name: str, variables: dict, prologue: str = "") -> str:
    """A run's /scenario.sh that sources ``/lib/qlaemu/<name>.sh``.

    Args:
        name: a script of harness/guest (without ``.sh``).
        variables: {NAME: value} assigned first (values shell-quoted).
        prologue: more shell text before the ``.`` line (e.g. function
            definitions of the driver profile).

    Raises:
        ValueError: no such script.
    """
    if not (GUEST_FILES / (name + ".sh")).is_file():
        raise ValueError("no guest script %s.sh in %s" % (name, GUEST_FILES))
    lines = ["%s=%s" % (k, shlex.quote(str(v)))
             for k, v in variables.items()]
    return "\n".join(lines) + "\n" + prologue + ". /lib/qlaemu/%s.sh\n" % name


def _guest_dir() -> Path:
    return paths.BUILD_DIR / "guest"


# --------------------------------------------------------------------------
# Module closure
# --------------------------------------------------------------------------

def _norm(name: str) -> str:
    return name.replace("-", "_")


def module_closure(moddir: Path, wanted=MODULES) -> list:
    """Modules (paths relative to ``moddir``) needed to load ``wanted``.

    Follows modules.dep and the ``softdep`` lines of modules.softdep (names
    resolved through modules.alias, e.g. crc_t10dif -> crct10dif_generic).
    A wanted module the kernel has built in (modules.builtin: e.g. Debian
    6.12's virtio_pci, which qlaemu.pair asks for) needs nothing.

    Args:
        moddir: lib/modules/<kver> holding modules.dep.
        wanted: module names ('-' and '_' equivalent).

    Returns:
        sorted list of relative .ko paths.

    Raises:
        GuestError: if a wanted module is not in modules.dep.
    """
    deps = {}
    byname = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" not in line:
            continue
        mod, rest = line.split(":", 1)
        deps[mod] = rest.split()
        base = os.path.basename(mod)
        byname[_norm(base.split(".ko")[0])] = mod
    aliases = {}
    alias_file = moddir / "modules.alias"
    if alias_file.is_file():
        for line in alias_file.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "alias":
                aliases.setdefault(parts[1], []).append(_norm(parts[2]))
    softdeps = {}
    sd_file = moddir / "modules.softdep"
    if sd_file.is_file():
        for line in sd_file.read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and parts[0] == "softdep":
                names = [p for p in parts[2:] if not p.endswith(":")]
                softdeps[_norm(parts[1])] = names

    builtin = set()
    bi_file = moddir / "modules.builtin"
    if bi_file.is_file():
        builtin = {_norm(os.path.basename(x).split(".ko")[0])
                   for x in bi_file.read_text().split()}

    def resolve(name):
        if _norm(name) in byname:
            return [byname[_norm(name)]]
        return [byname[n] for n in aliases.get(name, []) if n in byname]

    todo = []
    for w in wanted:
        found = resolve(w)
        if not found and (_norm(w) in OPTIONAL_MODULES
                          or _norm(w) in builtin):
            continue
        if not found:
            raise GuestError("module %s not in %s/modules.dep" % (w, moddir))
        todo.extend(found)
    seen = set()
    while todo:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        todo.extend(deps.get(mod, []))
        name = _norm(os.path.basename(mod).split(".ko")[0])
        for sd in softdeps.get(name, []):
            todo.extend(resolve(sd))
    return sorted(seen)


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


def _dep_names(moddir: Path) -> dict:
    """{module name: path relative to moddir} from modules.dep."""
    out = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        if ":" in line:
            rel = line.split(":", 1)[0]
            out[profiles.mod_name(rel)] = rel
    return out


def initramfs_plan(profile, moddir: Path, wanted=()) -> InitramfsPlan:
    """What the base initramfs needs for ``profile`` (builds if needed).

    For :func:`ensure_base_initramfs`: compute the
    stock closure of ``plan.wanted``, then copy each ``plan.replace`` file
    over (or next to) it and each ``plan.files`` file into the image, run
    depmod as today, and fold ``plan.key`` into the archive's key.

    Args:
        profile: Profile, name, path or None (default profile).
        moddir: lib/modules/<kver> of the unpacked guest kernel.
        wanted: the harness's module names (:data:`MODULES`).

    Returns:
        InitramfsPlan.

    Raises:
        profiles.BuildError, profiles.ProfileError: as
            :func:`qlaemu.modbuild.ensure_modules`.
    """
    if not isinstance(profile, profiles.Profile):
        profile = profiles.load_profile(profile)
    wanted = tuple(wanted)
    if profile.is_stock:
        return InitramfsPlan(wanted=wanted, replace={}, files={})
    built = modbuild.ensure_modules(profile)
    stock = _dep_names(moddir)
    extra = []
    replace = {}
    for name, ko in sorted(built.items()):
        for dep in filter(None, kernel_src.modinfo(ko, "depends").split(",")):
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

# --------------------------------------------------------------------------
# What a driver profile changes in the image
# --------------------------------------------------------------------------

# --------------------------------------------------------------------------
# The archives
# --------------------------------------------------------------------------


def _busybox() -> Path:
    """The static busybox binary (from busybox-static)."""
    for p in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.isfile(p):
            with open(p, "rb") as f:
                head = f.read(4096)
            if b"ld-linux" not in head:   # no PT_INTERP: static
                return Path(p)
    raise GuestError("static busybox not found: "
                     "apt-get install busybox-static")


def _pack(stage: Path, out: Path, gzip: bool) -> None:
    """:func:`archive.pack_newc`, its failure a :class:`GuestError`."""
    try:
        archive.pack_newc(stage, out, gzip)
    except archive.ArchiveError as e:
        raise GuestError(str(e)) from e


#: C sources of guest tools (qlbsg), built static on the host
GUEST_TOOLS = GUEST_FILES / "tools"


def guest_tool(name: str) -> bytes:
    """The static x86-64 binary of harness/guest/tools/<name>.c, built with
    the host's gcc on first use and cached under BUILD_DIR/guest/tools by
    the source's hash; tests put it in a run with ``vm.run(extra_files=)``
    and ``chmod +x`` it.

    Raises:
        GuestError: no such tool, or gcc failed (its output in the
            message; apt-get install gcc libc6-dev).
    """
    src = GUEST_TOOLS / (name + ".c")
    if not src.is_file():
        raise GuestError("no guest tool %s in %s" % (name, GUEST_TOOLS))
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = paths.BUILD_DIR / "guest" / "tools" / ("%s-%s" % (name, digest))
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        p = subprocess.run(["gcc", "-static", "-O2", "-Wall", "-o", str(tmp),
                            str(src)], capture_output=True, text=True)
        if p.returncode:
            raise GuestError("building guest tool %s failed: %s"
                             % (name, p.stderr.strip()))
        tmp.rename(out)
    return out.read_bytes()


def _guest_files() -> list:
    """The files of harness/guest (sorted Paths)."""
    return sorted(p for p in GUEST_FILES.iterdir() if p.is_file())


def _base_inputs(root: Path, kver: str, mods: list) -> str:
    """Hash of everything that goes into the base initramfs."""
    h = hashlib.sha256()
    h.update(("%d %s\n" % (IMAGE_FORMAT, kver)).encode())
    h.update((root / ".qlaemu-deb").read_bytes())
    h.update("\n".join(mods).encode())
    h.update(_busybox().read_bytes())
    h.update(firmware.make_ql2500_fw())
    for f in _guest_files():
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _image_name(tag: str) -> str:
    """initramfs-base[@<kernel>][-<profile tag>] (no suffix)."""
    kt = kernels.tag()
    return "initramfs-base" + ("" if kt == kernels.DEFAULT_KERNEL
                               else "@" + kt) + ("-" + tag if tag else "")


def ensure_base_initramfs(profile=None) -> Path:
    """Build BUILD_DIR/guest/initramfs-base*.cpio.gz if its inputs changed.

    Args:
        profile: driver-under-test profile (a profiles.Profile, or a name
            or path for profiles.load_profile); None is the default (stock)
            profile.  A non-stock profile's image is
            initramfs-base-<profile>-<key>.cpio.gz.

    Returns:
        path of the archive.

    Raises:
        GuestError: on any failure of the tools involved.
        kernels.KernelError: the guest kernel cannot be had.
        profiles.BuildError, profiles.ProfileError: the driver under test
            cannot be built.
    """
    root, kver = kernels.ensure_kernel_root()
    moddir = root / "lib" / "modules" / kver
    plan = initramfs_plan(profile, moddir, MODULES)
    mods = module_closure(moddir, plan.wanted)
    key = _base_inputs(root, kver, mods) + plan.key
    name = _image_name(plan.tag)
    base = _guest_dir() / (name + ".cpio.gz")
    key_file = _guest_dir() / (name + ".key")
    if base.is_file() and key_file.is_file() and key_file.read_text() == key:
        return base
    stage = Path(tempfile.mkdtemp(prefix="stage.", dir=_guest_dir()))
    try:
        _stage_base(stage)
        _stage_modules(stage / "lib" / "modules" / kver, moddir, mods, plan)
        for gpath, src in plan.files.items():   # the profile's scripts
            dst = stage / gpath.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            dst.chmod(0o755)
        # modules.dep etc. for exactly the modules we ship (uncompressed).
        _sh(["depmod", "-b", str(stage), kver])
        _pack(stage, base, gzip=True)
        key_file.write_text(key)
        for old in stale_initramfs(_guest_dir(), plan.tag):
            old.unlink(missing_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return base


def _stage_base(stage: Path) -> None:
    """busybox, /init, the firmware file and the guest scripts."""
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev",
              "tmp", "run", "root", "etc", "lib/firmware", "lib/qlaemu"):
        (stage / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(_busybox(), stage / "bin" / "busybox")
    os.symlink("busybox", stage / "bin" / "sh")
    (stage / "lib" / "firmware" / "ql2500_fw.bin").write_bytes(
        firmware.make_ql2500_fw())
    for f in _guest_files():
        if f.name == "init":
            dst = stage / "init"
        elif f.name == "banner.txt":
            dst = stage / "etc" / "qlaemu-banner"
        else:
            dst = stage / "lib" / "qlaemu" / f.name
        shutil.copyfile(f, dst)
    (stage / "init").chmod(0o755)
    (stage / "etc" / "profile").write_text(
        "export PATH=/sbin:/bin:/usr/sbin:/usr/bin\n"
        ". /lib/qlaemu/functions.sh\nPS1='qlaemu# '\n")
    if os.geteuid() == 0:
        os.mknod(stage / "dev" / "console", 0o600 | 0o020000,
                 os.makedev(5, 1))


def _stage_modules(smod: Path, moddir: Path, mods: list,
                   plan: "InitramfsPlan") -> None:
    """The stock module closure (decompressed), then the profile's."""
    for rel in mods:
        dst = smod / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        tool = {".xz": "xz", ".zst": "zstd"}.get(Path(rel).suffix)
        if tool:
            with open(dst.with_suffix(""), "wb") as f:
                subprocess.run([tool, "-dc", str(moddir / rel)], stdout=f,
                               check=True)
        else:
            shutil.copy2(moddir / rel, dst)
    for rel, src in plan.replace.items():
        dst = smod / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    for f in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (moddir / f).is_file():
            shutil.copy2(moddir / f, smod / f)


def _sh(cmd, **kw) -> subprocess.CompletedProcess:
    return host.run_captured(cmd, error=GuestError, **kw)


def run_initrd(run_dir: Path, stem: str, script: str,
               extra_files: dict | None, profile=None,
               archives=()) -> Path:
    """Base archive, ``archives`` (more initramfs archives, e.g.
    qlaemu.tools'), then a per-run newc archive with /scenario.sh and
    extras.

    Returns:
        run_dir/<stem>.initrd (the concatenation); <stem>.overlay.cpio is
        kept next to it.
    """
    base = ensure_base_initramfs(profile)
    stage = run_dir / (stem + ".overlay")
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir()
    (stage / "scenario.sh").write_text(script)
    (stage / "scenario.sh").chmod(0o755)
    for name, data in (extra_files or {}).items():
        dst = stage / name.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(data if isinstance(data, bytes) else data.encode())
    overlay = run_dir / (stem + ".overlay.cpio")
    _pack(stage, overlay, gzip=False)
    initrd = run_dir / (stem + ".initrd")
    with open(initrd, "wb") as out:
        for a in (base, *archives):
            b = Path(a).read_bytes()
            out.write(b + b"\0" * (-len(b) % 4))
        out.write(overlay.read_bytes())
    shutil.rmtree(stage)
    return initrd


def prepare(profile=None) -> None:
    """Make the kernel root and base initramfs (idempotent)."""
    ensure_base_initramfs(profile)
