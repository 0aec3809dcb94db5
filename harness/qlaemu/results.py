"""The results of runs, typed: what ``probe``, ``scenario``, ``race``,
``sweep`` and ``matrix`` return (issue #9).

Each is a dataclass whose fields are the run's facts; ``to_json()`` gives
the JSON the commands write with ``--json`` and the artifacts'
``*.json`` files (the same keys as the fields).  Nested values that are the
device's or the guest's own JSON (the device report, the initiator's
state, sysfs attributes, timeline events) stay dicts and lists: their keys
are documented where they are made (docs/scenario.md, docs/race.md,
:func:`qlaemu.evidence.timeline`).

Units are in the field names: ``_us`` microseconds, ``_ns`` nanoseconds,
``_ms`` milliseconds, ``_s`` seconds (wall clock unless stated), ``_mib``
MiB.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from .verdict import EXIT_CODES, INCONCLUSIVE


class _Json:
    """``to_json()``, ``from_json()`` and ``write()`` for the result
    dataclasses."""

    #: field name -> the result class of its list's items
    _items: dict = {}

    @classmethod
    def from_json(cls, d: dict):
        """The result from its ``to_json()`` dict (e.g. a ``--json`` file
        read back); keys that are not fields are ignored.

        Raises:
            TypeError: a required field is missing.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k, item in cls._items.items():
            if k in kw:
                kw[k] = [item.from_json(x) for x in kw[k]]
        return cls(**kw)

    def to_json(self) -> dict:
        """The result as a JSON-able dict (field name -> value)."""
        return dataclasses.asdict(self)

    def write(self, path, exclude=()) -> None:
        """Write ``to_json()`` (less the ``exclude`` keys) to ``path``,
        indented, with a final newline."""
        d = {k: v for k, v in self.to_json().items() if k not in exclude}
        Path(path).write_text(json.dumps(d, indent=2) + "\n")


@dataclass
class ProbeResult(_Json):
    """What :func:`qlaemu.probe.probe` saw in the guest.

    ``pci``: vendor, device, subsystem_vendor, subsystem_device, revision,
    class, config (hex text; 4096 bytes for PCIe), bdf.  ``fc_host`` and
    ``scsi_host``: port 0's sysfs attribute -> text.  ``ports``: one dict
    per ISP2532 function (bdf, host, fc_host attributes, active_mode,
    link_state; probe.parse_ports).  ``pcap``: the link capture
    (docs/capture.md), None if QEMU wrote none.  ``remote_ports``: dicts name,
    port_name, port_id, roles, port_state.  ``warnings``/``errors``:
    qla2xxx lines at level <= 4 / <= 3.  ``ok``: the guest powered off, the
    driver is bound and the port is Online.
    """
    mode: str
    exit: str
    duration_s: float = 0.0
    script_rc: int | None = None
    console_log: str = ""
    artifacts: str = ""
    bdf: str = ""
    pci: dict = field(default_factory=dict)
    driver: str = ""
    driver_bound: bool = False
    fc_host: dict = field(default_factory=dict)
    scsi_host: dict = field(default_factory=dict)
    remote_ports: list = field(default_factory=list)
    ports: list = field(default_factory=list)
    lio_sessions: list = field(default_factory=list)
    device_opts: str = ""
    port_wait: str = ""
    setup: str = ""
    warnings: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    dmesg: str = ""
    dmesg_raw: str = ""
    qemu_stderr: str = ""
    pcap: str | None = None
    ok: bool = False


@dataclass
class PairResult(_Json):
    """The result of :func:`qlaemu.pair.run_pair`.

    ``disk``/``sg_device``: the initiator's sdX and sgN ('' if no LUN
    appeared); ``lun_wait``: the guest's "seconds host disk sg
    settle-seconds" (waits for the LUN, then for it to answer).
    ``sg``: per sg3_utils command its parsed output (pair.parse_*), each
    with ``rc``.  ``fio``: error, read/write {bytes, bw_bytes, iops,
    runtime_ms} (the guest's clock: virtual time under -icount),
    size_mib; ``fio_virtio`` the same job on the virtio-scsi baseline disk
    (None unless asked).  ``tests``: every iscsi-test-cu test {suite,
    test, result passed/failed/skipped, reasons, and for a failure
    stacks.NOT_APPLICABLE explains, not_applicable: why}; ``suite_counts``
    their totals (not_applicable among the failed).  ``lip``: the guest's
    report of the LIP step (None if not asked); ``lip_view``
    (pairlip.parse_lip), ``lip_failures`` (the initiator's kernel lines
    since the LIP that show lost I/O); ``target_ctio_status``: the target
    card's CTIO completions by status ({'0x01': n, ...});
    ``lip_prli_to_command_us``: from the target's last PRLI LS_ACC to the
    initiator's first command after it (pairlip).
    ``initiator_errors``/``target_errors``: qla2xxx lines at level <= 3 of
    the initiator's / the target's port.  ``wall_s``: host
    seconds from the call to the result; ``guest_s``: QEMU's run (the
    initiator guest's).  Link ``remote`` only: ``driver`` (the target's
    profile), ``target_exit`` (its guest's vm exit), ``target_ready_s`` (host
    seconds until the target guest was serving), ``target_console_log``,
    ``target_sessions`` (LIO's initiator names at the end),
    ``target_setup_failure`` (driver.setup_failure, or None),
    ``link_reports`` ({"target"|"initiator": that QEMU's fc-remote report,
    docs/link.md §10, or None}); ``target_stack``: 'lio' or 'scst' (whose
    INQUIRY identity the verdict expects); ``iscsi_tests``: with iSCSI
    (pairiscsi) every test of the same suites over iSCSI, as ``tests``;
    ``fc_vs_iscsi``: the tests whose FC and iSCSI results differ
    (pairiscsi.compare); ``iscsi_error``: why the iSCSI run has no test
    (its first lines: e.g. the login failed), or None.
    """
    link: str
    exit: str
    verdict: str
    exit_code: int = 2
    reasons: list = field(default_factory=list)
    target_wwpn: int = 0
    initiator_wwpn: int = 0
    artifacts: str = ""
    console_log: str = ""
    wall_s: float = 0.0
    guest_s: float = 0.0
    marks: list = field(default_factory=list)
    lun_wait: str = ""
    disk: str = ""
    sg_device: str = ""
    disk_sysfs: dict = field(default_factory=dict)
    size_sectors: int | None = None
    sg: dict = field(default_factory=dict)
    fio: dict = field(default_factory=dict)
    fio_virtio: dict | None = None
    suites: list = field(default_factory=list)
    tests: list = field(default_factory=list)
    suite_counts: dict = field(default_factory=dict)
    lip: str | None = None
    lip_view: dict = field(default_factory=dict)
    lip_failures: list = field(default_factory=list)
    target_ctio_status: dict = field(default_factory=dict)
    lip_prli_to_command_us: float | None = None
    initiator_errors: list = field(default_factory=list)
    target_errors: list = field(default_factory=list)
    pcap: str | None = None
    driver: str = "stock"
    target_exit: str = ""
    target_ready_s: float | None = None
    target_console_log: str = ""
    target_sessions: list = field(default_factory=list)
    target_setup_failure: str | None = None
    link_reports: dict = field(default_factory=dict)
    target_stack: str = "lio"
    iscsi_tests: list | None = None
    fc_vs_iscsi: list | None = None
    iscsi_error: str | None = None

    @property
    def failed_tests(self) -> list:
        """The iscsi-test-cu tests that failed."""
        return [t for t in self.tests if t["result"] == "failed"]


@dataclass
class ScenarioResult(_Json):
    """The result of :func:`qlaemu.scenario.run_scenario`.

    ``report``: the device's JSON report (from the report file, or the
    last QMP snapshot: ``report_source`` 'file'/'qmp'/None).  ``checks``:
    [name, ok, detail] (:func:`qlaemu.verdict.checks`).  ``status``:
    'passed', 'failed', or 'error' when the run itself broke or hung.
    ``controller``: the host controller's dict (ready_s, done_s, done,
    polls, ...).  ``done_t_ns``: virtual time of the last scenario-done.
    ``pcap``: the link capture of the run (docs/capture.md), or None.
    """
    scenario: str
    name: str
    driver: str
    profile: dict = field(default_factory=dict)
    device_opts: str = ""
    kernel: dict = field(default_factory=dict)
    memory_mib: int | None = None
    icount: str | None = None
    exit: str | None = None
    script_rc: int | None = None
    report: dict = field(default_factory=dict)
    report_source: str | None = None
    initiator: dict | None = None
    ctio_status: dict = field(default_factory=dict)
    ctio_errors: list = field(default_factory=list)
    unexpected_ctios: list = field(default_factory=list)
    els: dict = field(default_factory=dict)
    iocb_counts: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    timeline: list = field(default_factory=list)
    done_seen: bool = False
    done_t_ns: int | None = None
    controller: dict = field(default_factory=dict)
    controller_error: str | None = None
    dmesg: str = ""
    dmesg_raw: str = ""
    errors: list = field(default_factory=list)
    kernel_errors: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    lio_sessions: list = field(default_factory=list)
    fc_host: dict = field(default_factory=dict)
    setup: str = ""
    setup_error: str | None = None
    duration_s: float = 0.0
    console_log: str = ""
    console_tail: str = ""
    artifacts: str = ""
    qemu_stderr: str = ""
    checks: list = field(default_factory=list)
    pcap: str | None = None
    ok: bool = False
    status: str = "error"


@dataclass
class _Run(_Json):
    """What race and sweep runs share: the driver and guest they ran, the
    verdict, and the guest's facts (:func:`qlaemu.race.guest_facts`).

    ``driver``: name, kind, dir, tree.  ``kernel``: spec, release, ...
    (:func:`qlaemu.kernels.kernel_info`).  ``timings``: build_s, wall_s,
    boot_to_ready_s, ... (seconds).  ``dmesg``: the relevant lines.
    ``pcap``: the link capture (a sweep's: the boot up to the first
    point; each point has its own).
    """
    verdict: str | None = None
    exit_code: int = EXIT_CODES[INCONCLUSIVE]
    driver: dict = field(default_factory=dict)
    kernel: dict = field(default_factory=dict)
    memory_mib: int | None = None
    seed: int = 0
    artifacts: str = ""
    timings: dict = field(default_factory=dict)
    setup_error: str | None = None
    dmesg: list = field(default_factory=list)
    topology: str | None = None
    guest_exit: str | None = None
    console_log: str | None = None
    console_tail: str = ""
    controller_error: str | None = None
    pcap: str | None = None


@dataclass
class RaceResult(_Run):
    """The verdict and evidence of :func:`qlaemu.race.run_race`.

    ``scenario``: trace, name, overrides, file.  ``ctio_status``: CTIO
    completion status ("0x01", ...) -> count.  ``forced_logouts``:
    isp_logo, isp_prlo, initiator_logo.  ``initiator``: the initiator's
    summary (evidence.analyse).  ``events``: the timeline.
    ``build_error``: the driver does not build (JUnit: skipped).
    ``ladder``: the SVG ladder of the run (qlaemu.pictures), or None and
    ``ladder_error`` why not.
    """
    label: str | None = None
    latency_us: int = 0
    first_cmd_us: int = 0
    scenario: dict = field(default_factory=dict)
    reasons: list = field(default_factory=list)
    build_error: bool = False
    stop: str | None = None
    ctio_status: dict = field(default_factory=dict)
    iocb_errors: dict = field(default_factory=dict)
    forced_logouts: dict = field(default_factory=dict)
    initiator: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    prli_latency_us: list = field(default_factory=list)
    bound_ns: int | None = None
    elapsed_ns: int | None = None
    ladder: str | None = None
    ladder_error: str | None = None


@dataclass
class ReplayResult(_Run):
    """The verdict of :func:`qlaemu.replay.run_replay`.

    ``capture``: the replayed file; ``frames``/``sent``/``matched``: its
    frames, the initiator's frames sent, the target's frames that matched
    captured ones.  ``divergences``: their number; ``counts``: by kind
    (unexpected, missing, order, els-reply, fcp-rsp, data); ``first`` and
    ``detail``: {kind, frame (capture frame number), expected, got, t_ns}.
    ``captured_around``/``live_around``: text lines of the frames around
    the first divergence in the capture and on the live link.
    ``device_opts``: the device properties of the replay (the capture's
    conditions and the command line's).
    """
    capture: str = ""
    device_opts: str = ""
    reasons: list = field(default_factory=list)
    frames: int | None = None
    sent: int | None = None
    matched: int | None = None
    divergences: int = 0
    counts: dict = field(default_factory=dict)
    first: dict | None = None
    detail: list = field(default_factory=list)
    captured_around: list = field(default_factory=list)
    live_around: list = field(default_factory=list)
    ladder: str | None = None
    ladder_error: str | None = None


@dataclass
class SweepPoint(_Json):
    """One (latency, first-command delay) point of a sweep, judged as the
    race (:func:`qlaemu.verdict.judge`).  ``elapsed_ms``: virtual time of
    the point; ``wall_s``/``polls`` are None when the guest did not get to
    the point; ``pcap`` is the point's link capture."""
    latency_us: int
    first_cmd_us: int
    verdict: str
    label: str | None = None
    reasons: list = field(default_factory=list)
    stop: str | None = None
    ctio_status: dict = field(default_factory=dict)
    iocb_errors: dict = field(default_factory=dict)
    forced_logouts: dict = field(default_factory=dict)
    logins: int | None = None
    elapsed_ms: float | None = None
    prli_latency_us: list = field(default_factory=list)
    wall_s: float | None = None
    polls: int | None = None
    pcap: str | None = None


@dataclass
class SweepResult(_Run):
    """The grid of :func:`qlaemu.sweep.run_sweep`.

    ``matrix``: {"latency": {"delay": verdict}} (str keys, as in JSON).
    ``boundary``: {"delay": {first_fail_latency_us, last_pass_latency_us,
    monotonic}}.  ``counts``: verdict -> number of points.  ``heatmap``:
    the matrix as an SVG heat map, or None and ``heatmap_error`` why not.
    """
    latencies: list = field(default_factory=list)
    delays: list = field(default_factory=list)
    scenario: str | None = None
    points: list[SweepPoint] = field(default_factory=list)
    matrix: dict = field(default_factory=dict)
    boundary: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    heatmap: str | None = None
    heatmap_error: str | None = None
    _items = {"points": SweepPoint}


@dataclass
class MatrixCell(_Json):
    """One sweep boot of the matrix: (driver, kernel, topology, variant);
    its build and wall time (s) and set-up error."""
    driver: str
    kernel: str
    topology: str
    variant: str
    wall_s: float | None = None
    build_s: float | None = None
    setup_error: str | None = None


@dataclass
class MatrixRow(_Json):
    """One point of a matrix cell: its verdict at one latency (µs).
    ``logouts``: the point's forced logouts; ``topology_seen``: the
    topology the driver brought up; ``release``: the kernel release."""
    driver: str
    kernel: str
    topology: str
    variant: str
    latency_us: int
    verdict: str
    label: str | None = None
    release: str | None = None
    ctio_status: dict = field(default_factory=dict)
    logouts: dict = field(default_factory=dict)
    topology_seen: str | None = None
    reasons: list = field(default_factory=list)


@dataclass
class MatrixResult(_Json):
    """:func:`qlaemu.matrix.run_matrix`: rows, cells, the axes it ran
    (drivers, kernels, topologies, variants, latencies, first_cmd_us,
    lips) and timings (wall_s)."""
    rows: list[MatrixRow] = field(default_factory=list)
    cells: list[MatrixCell] = field(default_factory=list)
    axes: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    _items = {"rows": MatrixRow, "cells": MatrixCell}
    _items = {"rows": MatrixRow, "cells": MatrixCell}
