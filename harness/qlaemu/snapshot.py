"""Snapshot start (issue #11): the guest saved at its ready point, and
runs started from it instead of a boot.

The *ready point* of a (QEMU, kernel, guest image, driver profile, device
options, ``-icount``, RAM) is where every target run of the harness is
the same: the driver under test is up in target mode, the target is
enabled, the link is up and the simulated initiator has logged in with an
idle scenario (one TEST UNIT READY, :data:`POINT_DELAY_US` after its
login).  The device stops the VM there itself (``stop-after-done-ns``
after that scenario is done), so the point is a virtual time, not a host
moment.  The first run of a key boots to it and
saves the state with QMP ``migrate`` to ``state.mig`` (the device's saved
state is docs/migration.md), then goes on from the paused VM; later runs
start QEMU with ``-incoming`` on that file and go on from the same state.
What a run does from the point on -- ``qom-set`` the run's latency,
scenario and capture, a LIP, ``cont`` -- is the same in both cases, so the
two give the same timeline (a test asserts it).

Snapshots live in ``BUILD_DIR/snapshots/<key>/`` (``$QLAEMU_SNAPSHOT_DIR``
overrides the parent): ``state.mig``, ``meta.json`` (what the key is made
of, the point's virtual time, save time and size), ``idle.json`` (the
scenario the point was reached with, which the device's saved state names)
and the boot's data-channel and console logs up to the point, which a run
from the snapshot prepends to its own.  A key changes whenever an input
does; stale snapshots are not removed automatically (``rm -r`` the
directory).
"""
import dataclasses
import hashlib
import json
import os
import shlex
import shutil
import time
from pathlib import Path

from . import image, kernels, paths, probe, scenario, vm

#: Bump when what a snapshot holds or how runs use it changes.
FORMAT = 1
#: Seconds allowed for saving or loading the state.
MIGRATE_TIMEOUT_S = 120.0
#: Seconds between two ``query-migrate`` while the VM is paused.
MIGRATE_POLL_S = 0.02
STATE_NAME = "state.mig"
META_NAME = "meta.json"
IDLE_NAME = "idle.json"
BOOT_DATA_NAME = "boot.data.log"
BOOT_CONSOLE_NAME = "boot.console.log"


class SnapshotError(RuntimeError):
    """Saving or loading the ready point failed (the run is
    INCONCLUSIVE; the message names the cause)."""


def snapshot_root() -> Path:
    """Where snapshots are kept (``$QLAEMU_SNAPSHOT_DIR`` or
    ``BUILD_DIR/snapshots``)."""
    env = os.environ.get("QLAEMU_SNAPSHOT_DIR")
    return Path(env) if env else paths.BUILD_DIR / "snapshots"


def file_digest(path) -> str:
    """sha256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclasses.dataclass
class Snapshot:
    """One ready point in the cache.

    Attributes:
        key: hex digest of :attr:`inputs`.
        dir: its directory.
        inputs: what the key is made of (JSON-able dict).
    """
    key: str
    dir: Path
    inputs: dict

    @property
    def state(self) -> Path:
        return self.dir / STATE_NAME

    @property
    def idle(self) -> Path:
        return self.dir / IDLE_NAME

    def exists(self) -> bool:
        """The state and its metadata are both there (a save that did not
        finish leaves neither)."""
        return self.state.is_file() and (self.dir / META_NAME).is_file()

    def meta(self) -> dict:
        """meta.json, or {} if unreadable."""
        try:
            return json.loads((self.dir / META_NAME).read_text())
        except (OSError, ValueError):
            return {}

    def incoming_args(self) -> list:
        """QEMU arguments that load the state (with ``-S``: paused after
        the load)."""
        return ["-S", "-incoming",
                "exec:cat %s" % shlex.quote(str(self.state))]

    def boot_data(self) -> str:
        """The data channel of the boot, up to the point."""
        try:
            return (self.dir / BOOT_DATA_NAME).read_text(errors="replace")
        except OSError:
            return ""


def for_inputs(files: dict, values: dict) -> Snapshot:
    """The snapshot of these inputs (existing or not).

    Args:
        files: {name: path} of the files whose bytes the state depends on
            (QEMU binary, kernel image, base initramfs, ...).
        values: {name: JSON-able value} of everything else (guest script,
            device options, -icount, RAM, names).

    Raises:
        SnapshotError: an input file cannot be read.
    """
    inputs = {"format": FORMAT, "values": values, "files": {}}
    for name, p in sorted(files.items()):
        try:
            inputs["files"][name] = {"path": str(p),
                                     "sha256": file_digest(p)}
        except OSError as e:
            raise SnapshotError("snapshot input %s (%s): %s"
                                % (name, p, e)) from e
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True)
                         .encode()).hexdigest()[:24]
    return Snapshot(key=key, dir=snapshot_root() / key, inputs=inputs)


def prepare_dir(snap: Snapshot, idle_text: str) -> None:
    """Create the snapshot's directory with its idle scenario (a run
    boots with ``scenario=`` this file, so the saved state names it)."""
    snap.dir.mkdir(parents=True, exist_ok=True)
    if not snap.idle.is_file() or snap.idle.read_text() != idle_text:
        snap.idle.write_text(idle_text)


def wait_migration(ctl, what: str) -> dict:
    """Poll ``query-migrate`` (the VM is paused) until it completes.

    Raises:
        SnapshotError: it failed, or did not complete in
            :data:`MIGRATE_TIMEOUT_S`.
    """
    deadline = time.monotonic() + MIGRATE_TIMEOUT_S
    while True:
        ret = ctl.qmp("query-migrate")["return"]
        status = ret.get("status")
        if status == "completed":
            return ret
        if status in ("failed", "cancelled"):
            raise SnapshotError("%s failed: %s" % (
                what, ret.get("error-desc", status)))
        if time.monotonic() >= deadline:
            raise SnapshotError("%s did not complete in %.0f s (status %s)"
                                % (what, MIGRATE_TIMEOUT_S, status))
        time.sleep(MIGRATE_POLL_S)


def save(ctl, snap: Snapshot, point_ns: int | None, console_log: Path,
         data_text: str) -> dict:
    """Save the paused VM as ``snap`` (QMP ``migrate`` to a temporary file
    renamed on success) with its metadata and the boot's logs.  The VM
    stays paused and can go on (``cont``).

    Returns:
        {"save_s": seconds, "bytes": size of the state}.

    Raises:
        SnapshotError: the migration failed.
    """
    t0 = time.monotonic()
    snap.dir.mkdir(parents=True, exist_ok=True)
    tmp = snap.dir / (STATE_NAME + ".tmp")
    tmp.unlink(missing_ok=True)
    ctl.qmp("migrate", uri="exec:cat > %s" % shlex.quote(str(tmp)))
    wait_migration(ctl, "saving the ready point")
    tmp.replace(snap.state)
    (snap.dir / BOOT_DATA_NAME).write_text(data_text)
    try:
        shutil.copyfile(console_log, snap.dir / BOOT_CONSOLE_NAME)
    except OSError:
        pass
    info = {"save_s": round(time.monotonic() - t0, 3),
            "bytes": snap.state.stat().st_size}
    meta = dict(snap.inputs, key=snap.key, point_ns=point_ns,
                saved=time.strftime("%Y-%m-%dT%H:%M:%S"), **info)
    (snap.dir / META_NAME).write_text(json.dumps(meta, indent=2) + "\n")
    return info


def wait_loaded(ctl) -> dict:
    """Wait until a QEMU started with :meth:`Snapshot.incoming_args` has
    loaded the state (it stays paused).

    Returns:
        {"load_s": seconds from the first query}.

    Raises:
        SnapshotError: the load failed (a state QEMU refuses: another
            QEMU build, a changed scenario file, a device state check).
    """
    t0 = time.monotonic()
    wait_migration(ctl, "loading the ready point")
    return {"load_s": round(time.monotonic() - t0, 3)}


def reach_point(ctl, snap: Snapshot, hba_path: str,
                ready_timeout_s: float, console_log: Path) -> dict:
    """Bring a run's paused VM to the ready point of ``snap``; it is left
    paused there.

    With a saved state (QEMU started with :meth:`Snapshot.incoming_args`):
    wait for the load.  Without: ``cont``, wait for the device's STOP (the
    idle scenario done, ``stop-after-done-ns`` later), check that the
    guest marked ``ready`` before it, save.  A guest not yet ready at the
    device's stop is run on to ``ready`` and stopped by QMP there (the
    point is then a host moment: recorded as ``"point": "host"``).

    Returns:
        {"start": "snapshot" or "boot", "load_s" or "save_s", "bytes",
        "point": "device" or "host", "point_ns": virtual time}.

    Raises:
        SnapshotError: no stop, no ready, or the save/load failed.
        control.GuestExited: QEMU exited (a state it refused to load).
    """
    if snap.exists():
        info = wait_loaded(ctl)
        info.update(start="snapshot", point_ns=snap.meta().get("point_ns"),
                    bytes=snap.state.stat().st_size)
        return info
    ctl.qmp("cont")
    if ctl.wait_event("STOP", ready_timeout_s) is None:
        raise SnapshotError("the device did not stop the VM at the ready "
                            "point within %.0f s (no login of the idle "
                            "initiator?)" % ready_timeout_s)
    point = "device"
    try:
        ctl.wait_mark("ready", 2.0)
    except TimeoutError:
        point = "host"
        ctl.qmp("cont")
        ctl.wait_mark("ready", ready_timeout_s)
        ctl.qmp("stop")
    point_ns = scenario.device_report(ctl).get("virtual_time_ns")
    info = save(ctl, snap, point_ns, console_log, ctl.data())
    info.update(start="boot", point=point, point_ns=point_ns)
    return info


#: Virtual time from the idle initiator's login to its one command (µs):
#: the guest marks ``ready`` well within it (it enables the target, which
#: brings the link up, then writes its set-up log), so the device's stop
#: :data:`qlaemu.race.SETTLE_NS` after that command is the ready point.
POINT_DELAY_US = 5_000_000


def idle_text() -> str:
    """The scenario the ready point is reached with: the initiator logs
    in, sends one TEST UNIT READY :data:`POINT_DELAY_US` later, and is
    done (the device then stops the VM: the point)."""
    return json.dumps({"name": "ready-point",
                       "first-command-delay-us": POINT_DELAY_US,
                       "commands": [{"op": "test-unit-ready"}],
                       "repeat-after-relogin": False}, indent=2) + "\n"


def for_target_run(prof, device_opts: str, icount,
                   wwpn: int = probe.DEFAULT_WWPN,
                   wwnn: int = probe.DEFAULT_WWNN) -> Snapshot:
    """The snapshot of a target run (:func:`qlaemu.scenario.run_scenario`)
    of driver profile ``prof`` with these qla2532 properties, ``-icount``
    and names; its directory is created with the idle scenario.

    The key covers the QEMU binary, the guest kernel and base initramfs
    (bytes), the guest script, the device options, ``-icount``, the guest
    RAM and the format.

    Raises:
        SnapshotError: an input cannot be read; image/kernel/QEMU errors of
            the modules that build them.
    """
    files = {"qemu": vm.qemu_binary(), "kernel": kernels.kernel_image(),
             "initramfs": image.ensure_base_initramfs(
                 None if prof.is_stock else prof)}
    values = {"script": scenario.guest_script(wwpn, scenario.GUEST_WAIT_S,
                                              profile=prof),
              "profile": prof.name, "device_opts": device_opts,
              "icount": icount or "", "memory_mib": vm.memory(),
              "wwpn": wwpn, "wwnn": wwnn}
    snap = for_inputs(files, values)
    prepare_dir(snap, idle_text())
    return snap


# --------------------------------------------------------------------------
# Runs from the point (race --snapshot, sweep --snapshot)
# --------------------------------------------------------------------------

def point_opts(device_opts: str, settle_ns: int) -> str:
    """The qla2532 properties of a run from the ready point (race and
    sweep share its snapshot): no PRLI latency until the point sets one,
    and the device stops the VM ``settle_ns`` after each scenario."""
    return ("prli-complete-latency-us=0,stop-after-done-ns=%d" % settle_ns
            + ("," + device_opts if device_opts else ""))


def problem(snap: Snapshot, warm: bool, r) -> str | None:
    """Why a run from the ready point ``snap`` failed before its
    scenario (``r``: a results.ScenarioResult), or None: QEMU refused the
    saved state, or saving / reaching it failed."""
    if warm and r.exit == "qemu-error":
        lines = [ln for ln in (r.qemu_stderr or "").splitlines()
                 if ln.strip()]
        return ("QEMU could not load the saved ready point %s (%s); "
                "remove that directory to boot and save it again"
                % (snap.dir, lines[-1] if lines else "no message"))
    err = r.controller_error or ""
    if "SnapshotError" in err:
        return "snapshot: " + err.strip().splitlines()[-1]
    return None


def point_controller(snap: Snapshot, hba_path: str, props, report: Path,
                     decide, timeout_s: float, ready_timeout_s: float,
                     console_log: Path):
    """The host side of one run from the ready point: reach it
    (:func:`reach_point`; the VM is paused there), ``qom-set`` ``props``
    ([(property, value)] in order) on the device at ``hba_path``,
    ``cont``, wait for the device's STOP without sending anything, let
    ``decide(ctl, stop_event_or_None) -> (report, stop, polls)`` judge
    (it may poll if no STOP came), write the report to ``report``,
    ``cont`` and send finish.  A SnapshotError stops QEMU (the run is
    INCONCLUSIVE with it in ``controller_error``)."""
    def controller(ctl):
        info = reach_point(ctl, snap, hba_path, ready_timeout_s,
                           console_log)
        t_point = ctl.elapsed_s()
        for prop, value in props:
            ctl.qmp("qom-set", path=hba_path, property=prop, value=value)
        ctl.qmp("cont")
        budget = max(10.0, timeout_s - ctl.elapsed_s() - 30)
        stopped = ctl.wait_event("STOP", budget)
        rep, stop, polls = decide(ctl, stopped)
        report.write_text(json.dumps(rep))
        t_done = ctl.elapsed_s()
        if stopped is not None:
            ctl.qmp("cont")
        ctl.send("finish")
        return dict(info, stop=stop, polls=polls,
                    ready_s=round(t_point, 2), verdict_s=round(t_done, 2),
                    done=stop == "done",
                    stopped_by_device=stopped is not None)
    return controller
