"""The field-report matrix: the race over drivers x kernels x topologies x
firmware variants x PRLI latencies (``./qlaemu matrix``).

Each cell (driver, kernel, topology, last-login-state variant) is one
sweep boot (:func:`qlaemu.sweep.run_sweep`) over the PRLI-complete
latencies at one first-command delay, with ``lips`` LIPs originated by the
initiator after each pass: pass 1 is the race at a fresh login, the passes
after it are the race after a LIP, the field report's case.  The verdict
of a point covers every pass (0x29 or a logout anywhere fails it).

Output: :func:`run_matrix` returns a results.MatrixResult with one row per
point; :func:`markdown` renders the table docs/field-report.md shows.
"""
from __future__ import annotations

import time
from pathlib import Path

from . import kernels, paths, profiles, race, sweep, verdict
from .results import (MatrixCell, MatrixResult, MatrixRow, SweepPoint,
                      SweepResult)

#: Default axes (issue #8, docs/field-report.md).
DEFAULT_DRIVERS = ("debian-6.1", "scst-legacy", "scst-32gbit")
DEFAULT_KERNELS = ("debian-6.1", "debian-5.10")
DEFAULT_TOPOLOGIES = ("loop", "p2p")
DEFAULT_VARIANTS = ("previous", "session")
DEFAULT_LATENCIES = (0, 2000, 5000)


def _cell_opts(topology: str, variant: str) -> str:
    return "%s,last-login-state=%s" % (race.TOPOLOGY_OPTS[topology],
                                       variant)


def run_matrix(driver_tree=None, drivers=DEFAULT_DRIVERS,
               kernel_specs=DEFAULT_KERNELS, topologies=DEFAULT_TOPOLOGIES,
               variants=DEFAULT_VARIANTS, latencies=DEFAULT_LATENCIES,
               first_cmd_us: int = race.DEFAULT_FIRST_CMD_US, lips: int = 1,
               progress=None) -> MatrixResult:
    """Run every cell.

    Args:
        driver_tree: the SCST checkout for the scst-* profiles (None: those
            cells are INCONCLUSIVE "no tree").
        drivers, kernel_specs, topologies, variants, latencies: the axes.
        first_cmd_us: the initiator's first command after the PRLI LS_ACC.
        lips: LIPs after the first pass (0: fresh-login race only).
        progress: called with each finished results.MatrixRow.

    Returns:
        results.MatrixResult: rows (one per cell and latency), cells (one
        per sweep boot), the axes and timings.
    """
    t0 = time.monotonic()
    rows, cells = [], []
    for kspec in kernel_specs:
        kernels.select(kspec)
        for dname in drivers:
            for topo in topologies:
                for var in variants:
                    key = {"driver": dname, "kernel": kspec,
                           "topology": topo, "variant": var}
                    t = time.monotonic()
                    r = _sweep(dname, driver_tree, topo, var, latencies,
                               first_cmd_us, lips)
                    cells.append(MatrixCell(
                        **key, wall_s=round(time.monotonic() - t, 1),
                        build_s=r.timings.get("build_s"),
                        setup_error=r.setup_error))
                    for p in r.points:
                        row = MatrixRow(
                            **key, latency_us=p.latency_us,
                            verdict=p.verdict, label=p.label or p.verdict,
                            release=r.kernel.get("release"),
                            ctio_status=p.ctio_status,
                            logouts=p.forced_logouts,
                            topology_seen=r.topology,
                            reasons=p.reasons[:3])
                        rows.append(row)
                        if progress:
                            progress(row)
    kernels.select(kernels.DEFAULT_KERNEL)
    return MatrixResult(
        rows=rows, cells=cells,
        axes={"drivers": list(drivers), "kernels": list(kernel_specs),
              "topologies": list(topologies), "variants": list(variants),
              "latencies": list(latencies), "first_cmd_us": first_cmd_us,
              "lips": lips},
        timings={"wall_s": round(time.monotonic() - t0, 1)})


def _sweep(dname, tree, topo, variant, latencies, first_cmd_us,
           lips) -> SweepResult:
    """One cell's sweep; a set-up failure becomes INCONCLUSIVE points."""
    try:
        prof = profiles.load_profile(dname)
        if prof.kind == "out-of-tree":
            if tree is None:
                raise profiles.ProfileError("no --driver-tree for %s"
                                            % dname)
            prof = profiles.load_profile(dname,
                                         driver_tree=Path(tree).resolve())
    except profiles.ProfileError as e:
        return SweepResult(setup_error=str(e), points=[
            SweepPoint(latency_us=lat, first_cmd_us=first_cmd_us,
                       verdict=verdict.INCONCLUSIVE,
                       reasons=["set-up: %s" % e]) for lat in latencies])
    r = sweep.run_sweep(latencies=latencies, delays=[first_cmd_us],
                        driver=prof,
                        scenario_overrides=race.lip_overrides(lips),
                        device_opts=_cell_opts(topo, variant),
                        run_name="matrix-%s-%s-%s-%s-%s" % (
        dname, kernels.tag(), topo, variant,
        time.strftime("%H%M%S")))
    try:
        r.kernel = kernels.kernel_info()
    except kernels.KernelError:
        r.kernel = {}
    if r.setup_error:
        for p in r.points:
            p.verdict = p.label = verdict.INCONCLUSIVE
            p.reasons = ["set-up: %s" % r.setup_error]
    return r


def markdown(m: MatrixResult) -> str:
    """The matrix as a Markdown table (one row per cell, one column per
    latency), then the cells' set-up errors."""
    lats = m.axes["latencies"]
    head = ("| driver | kernel | topology asked (seen) | last-login-state | "
            + " | ".join("%d µs" % x for x in lats) + " |")
    out = [head, "|" + "---|" * (4 + len(lats))]
    by_cell = {}
    for row in m.rows:
        key = (row.driver, row.kernel, row.topology, row.variant)
        by_cell.setdefault(key, {"seen": row.topology_seen,
                                 "release": row.release})
        by_cell[key][row.latency_us] = row
    for key, cols in by_cell.items():
        d, k, t, v = key
        seen = (cols.get("seen") or "?").split(" (")[0]
        cells = []
        for lat in lats:
            row = cols.get(lat)
            if row is None:
                cells.append("-")
                continue
            c = row.verdict
            if c == verdict.FAIL:
                c += " (%s; 0x29 ×%d, LOGO ×%d)" % (
                    row.label, row.ctio_status.get("0x29", 0),
                    row.logouts.get("isp_logo", 0))
            cells.append(c)
        out.append("| %s | %s | %s (%s) | %s | %s |" % (
            d, cols.get("release") or k, t, seen, v, " | ".join(cells)))
    errs = [c for c in m.cells if c.setup_error]
    if errs:
        out.append("")
        for c in errs:
            out.append("- %s on %s: %s" % (c.driver, c.kernel,
                                           c.setup_error[:300]))
    return "\n".join(out) + "\n"


def write(m: MatrixResult, json_path=None, md_path=None) -> None:
    """Write the JSON and/or Markdown renderings."""
    if json_path:
        m.write(json_path)
    if md_path:
        Path(md_path).write_text(markdown(m))


def artifacts_dir() -> Path:
    """Where matrix runs leave their sweeps (BUILD_DIR/artifacts)."""
    return paths.ARTIFACTS_DIR
