"""The driver under test inside the guest: the shell lines that load and
configure it, what its loading prints, and how its set-up failed.

A profile (:mod:`qlaemu.profiles`) is loaded in target mode by
``harness/guest/target-setup.sh``, which calls two functions this module
defines for it (:func:`target_functions`): stock and debian-src profiles
``modprobe`` qla2xxx and tcm_qla2xxx and configure LIO
(``harness/guest/lio-configure.sh``); an out-of-tree profile runs its
``load`` and ``configure`` scripts from ``/lib/qlaemu/driver``.

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
"""
from __future__ import annotations

import re
import shlex

from . import profiles
from .profiles import GUEST_DRIVER_DIR, Profile

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
#: The guest's LIO configuration of the port (stock and debian-src).
LIO_CONFIGURE = ". /lib/qlaemu/lio-configure.sh\n"


def _profile(profile) -> Profile:
    if isinstance(profile, Profile):
        return profile
    return profiles.load_profile(profile)


def target_functions(profile, wwn: str) -> str:
    """Shell definitions of ``qlaemu_target_load`` and
    ``qlaemu_target_configure`` for harness/guest/target-setup.sh.

    Args:
        profile: Profile, name, path or None (the default).
        wwn: the HBA's port name as the target stack spells it
            ('21:00:00:24:ff:00:00:01').

    Stock and debian-src: the modprobes and LIO's configuration.  An
    out-of-tree profile: its load script, then its configure script or,
    without one, LIO's configuration under ``set -e``.
    """
    profile = _profile(profile)
    conf = target_configure_commands(profile, wwn)
    if conf is None:
        conf = LIO_CONFIGURE
    elif not conf:
        conf = "(\nset -e\n%s)\n" % LIO_CONFIGURE
    return setup_functions(target_load_commands(profile), conf)


def setup_functions(load: str, configure: str) -> str:
    """The shell functions target-setup.sh calls, ``qlaemu_target_load``
    and ``qlaemu_target_configure``, with the bodies ``load`` and
    ``configure`` (shell lines, each ending in a newline)."""
    return ("qlaemu_target_load() {\n%s}\nqlaemu_target_configure() {\n%s}\n"
            % (load, configure))


def _env_prefix(mode: str, wwn: str | None = None, pvars=None) -> str:
    """``NAME=value ...`` for a guest script: the profile's variables
    (shell-quoted), QLAEMU_MODE and QLAEMU_WWPN."""
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
    profile = _profile(profile)
    if profile.kind != "out-of-tree":
        return "modprobe qla2xxx qlini_mode=disabled\nmodprobe tcm_qla2xxx\n"
    return "%s sh %s/load.sh\n" % (_env_prefix("target", None, profile.vars),
                                   GUEST_DRIVER_DIR)


def initiator_load_commands(profile=None) -> str:
    """Guest shell lines that load the driver for initiator mode."""
    profile = _profile(profile)
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
    profile = _profile(profile)
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
    profile = _profile(profile)
    if profile.is_stock:
        return 0
    return TAINT_OOT_MODULE | TAINT_UNSIGNED_MODULE


#: ``qlaemu-setup STEP rc=N`` lines of /tmp/setup.log
#: (harness/guest/target-setup.sh).
SETUP_STEP_RE = re.compile(r"^qlaemu-setup (\w+) rc=(\d+)$", re.M)


def setup_failure(setup_log: str, profile=None) -> str | None:
    """Why the driver's set-up failed in the guest, or None.

    Args:
        setup_log: the guest's /tmp/setup.log (the ``setup`` section).
        profile: the driver profile (its scripts are named in the text).

    Returns:
        None when every step that ran exited 0 (or the log has no step
        lines: the harness's own LIO set-up), else e.g. ``"the profile's
        configure script (configure.sh) exited 3: <its last output
        lines>"``.
    """
    steps = SETUP_STEP_RE.findall(setup_log or "")
    for step, rc in steps:
        if int(rc) == 0:
            continue
        name = getattr(profile, step, None) if profile else None
        out = [ln for ln in setup_log.splitlines()
               if not ln.startswith("+") and not SETUP_STEP_RE.match(ln)
               and ln.strip()]
        return "the profile's %s script%s exited %s: %s" % (
            step, " (%s)" % name.name if name else "", rc,
            " | ".join(out[-6:]) or "no output")
    if steps and len(steps) < 2 and steps[0][0] == "load":
        return "the driver set-up stopped after the load script"
    return None
