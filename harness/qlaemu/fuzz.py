"""Coverage-guided fuzzing of the device (issue #11, docs/hardening.md).

QEMU's own libFuzzer build (``--enable-fuzzing`` with Debian's clang-14 and
libFuzzer, ASan and UBSan on) runs its ``generic-fuzz`` target with the
configuration ``qla2532`` that ``qemu/build-hooks.patch`` adds to
``tests/qtest/fuzz/generic_fuzz_configs.h``: the fuzzer reads and writes
the card's BARs and PCI configuration, answers its DMA with fuzzed bytes
and steps the virtual clock, while the simulated initiator runs a scenario
(logins, INQUIRY, WRITE with data, READ, REPORT LUNS), so the target-mode
data path is reachable once the fuzzed "driver" initialises the firmware.

:func:`run_fuzz` builds it once (``BUILD_DIR/qemu-fuzz``, about 20 min the
first time on two cores), runs a campaign over the corpus
(``BUILD_DIR/fuzz/corpus``, grown in place, seeded from the repository's
``fuzz/corpus``: the saved corpus of earlier campaigns) and keeps every
crashing, leaking or hanging input in ``BUILD_DIR/fuzz/crashes``.
libFuzzer stops at the first crash; the input is the regression case to
turn into a qtest (tests/qtest/qla2532-test.c ``iocb-hardening`` shows the
style).
"""
from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path

from . import build, host, paths

#: Debian packages of the libFuzzer build.
FUZZ_PACKAGES = ("clang-14", "libfuzzer-14-dev")
#: ``configure`` of the libFuzzer build (QEMU docs/devel/fuzzing.rst).
FUZZ_CONFIGURE_ARGS = ("--cc=clang-14", "--cxx=clang++-14",
                       "--enable-fuzzing", "--enable-sanitizers",
                       "--target-list=x86_64-softmmu", "--disable-docs",
                       "--disable-install-blobs", "--disable-werror")
#: The fuzzer binary (ninja target).
FUZZ_BINARY = "qemu-fuzz-x86_64"
#: The device's fuzz targets: ``--target`` name -> (libFuzzer target, the
#: saved corpus of its campaigns so far in the repository: read-only
#: seeds; new inputs go to the working corpus BUILD_DIR/fuzz/<dir>).
#: ``target-mode`` (tests/qtest/fuzz/qla2532_fuzz.c) brings the firmware
#: up in target mode itself and fuzzes IOCBs, mailboxes, registers and
#: time while the simulated initiator sends commands; ``generic`` is
#: QEMU's generic-fuzz configured for the device (build-hooks.patch).
TARGETS = {
    "target-mode": ("qla2532-target-fuzz", "corpus-target-mode"),
    "generic": ("generic-fuzz-qla2532", "corpus"),
}
DEFAULT_TARGET = "target-mode"
FUZZ_TARGET = TARGETS[DEFAULT_TARGET][0]
#: The saved corpus of the default target.
SEED_CORPUS = paths.REPO / "fuzz" / TARGETS[DEFAULT_TARGET][1]
#: One input may run this long (s) before libFuzzer calls it a hang.
INPUT_TIMEOUT_S = 10
#: libFuzzer's progress lines: "#4096 pulse cov: 1234 ft: 2345 corp: 67/8b
#: ... exec/s: 89 rss: 300Mb".
STATUS_RE = re.compile(r"^#(\d+)\s+\S+\s+cov: (\d+) ft: (\d+) "
                       r"corp: (\d+)/(\S+).*?exec/s: (\d+)", re.M)
#: libFuzzer's final statistics (``-print_final_stats=1``).
STAT_RE = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)


def fuzz_dir() -> Path:
    """``BUILD_DIR/fuzz``: corpus/, crashes/ and the campaign logs."""
    return Path(paths.BUILD_DIR) / "fuzz"


@dataclasses.dataclass
class FuzzResult:
    """One campaign.

    Attributes:
        target: the libFuzzer target's name.
        minutes: the campaign's length asked for (min).
        wall_s: how long it ran (s).
        executions: inputs run (libFuzzer number_of_executed_units).
        exec_per_s: average executions per second.
        coverage: edges covered at the end (libFuzzer "cov").
        features: coverage features at the end ("ft").
        corpus_files: inputs in the corpus at the end.
        corpus_bytes: their total size (bytes).
        new_units: inputs the campaign added to the corpus.
        crashes: crash-/leak-/timeout-/oom- inputs the campaign wrote
            (paths, str).
        rc: the fuzzer's exit status (0: ran out of time, no crash).
        log: the campaign's log (libFuzzer and sanitizer output).
    """
    target: str
    minutes: float
    wall_s: float
    executions: int
    exec_per_s: int
    coverage: int
    features: int
    corpus_files: int
    corpus_bytes: int
    new_units: int
    crashes: list
    rc: int
    log: str


def ensure_fuzzer() -> Path:
    """Build (incrementally) the libFuzzer QEMU; its binary's path.

    Raises:
        host.SetupError: a package, configure or the build failed.
    """
    bld = Path(paths.BUILD_DIR) / "qemu-fuzz"
    build.configured_build(bld, FUZZ_CONFIGURE_ARGS, FUZZ_PACKAGES)
    host.progress("building the libFuzzer QEMU in %s (first time ~20 min)"
                  % bld)
    build.ninja(bld, [FUZZ_BINARY], "ninja-fuzz")
    return bld / FUZZ_BINARY


def _corpus_size(d: Path) -> tuple:
    files = [p for p in d.iterdir() if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def parse_log(text: str) -> dict:
    """Figures from a libFuzzer log: the last progress line's ``cov``,
    ``ft``, ``exec/s`` and the final ``stat::`` values ({name: int})."""
    out = {k: int(v) for k, v in STAT_RE.findall(text)}
    status = STATUS_RE.findall(text)
    if status:
        last = status[-1]
        out.update(cov=int(last[1]), ft=int(last[2]),
                   last_exec_per_s=int(last[5]))
    return out


def target_info(target: str) -> tuple:
    """(libFuzzer target, saved corpus, working corpus) of ``--target``.

    Raises:
        ValueError: not one of :data:`TARGETS`.
    """
    if target not in TARGETS:
        raise ValueError("fuzz: --target must be one of %s, not %r"
                         % (", ".join(TARGETS), target))
    name, d = TARGETS[target]
    return name, paths.REPO / "fuzz" / d, fuzz_dir() / d


def run_fuzz(minutes: float, corpus: Path | None = None,
             crashes: Path | None = None,
             target: str = DEFAULT_TARGET) -> FuzzResult:
    """A campaign of ``minutes`` over ``corpus`` (grown in place).

    Args:
        minutes: wall-clock length (min, > 0).
        corpus: the corpus directory (default the target's working corpus,
            ``BUILD_DIR/fuzz/corpus-target-mode`` or ``.../corpus``).
        crashes: where crashing inputs go (default ``.../fuzz/crashes``).
        target: a key of :data:`TARGETS`.
    Returns:
        FuzzResult.
    Raises:
        ValueError: minutes <= 0, an unknown target.
        host.SetupError: the fuzzer could not be built.
    """
    if minutes <= 0:
        raise ValueError("fuzz: --minutes must be positive")
    name, seed_dir, work = target_info(target)
    binary = ensure_fuzzer()
    corpus = Path(corpus or work).resolve()
    crashes = Path(crashes or fuzz_dir() / "crashes")
    corpus.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in crashes.iterdir()}
    log = fuzz_dir() / ("campaign-%s.log" % time.strftime("%Y%m%d-%H%M%S"))
    seeds = [str(seed_dir)] if seed_dir.is_dir() else []
    argv = [str(binary), "--fuzz-target=" + name, str(corpus), *seeds,
            "-max_total_time=%d" % max(1, round(minutes * 60)),
            "-timeout=%d" % INPUT_TIMEOUT_S, "-print_final_stats=1",
            "-artifact_prefix=%s/" % crashes]
    # QEMU's objects live until exit by design: no leak reports at exit
    env = {"ASAN_OPTIONS": "detect_leaks=0",
           "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
    host.progress("fuzzing %s for %s min (log %s)" % (name, minutes, log))
    t0 = time.monotonic()
    rc = host.run_logged(argv, log, cwd=fuzz_dir(), env=env)
    wall = time.monotonic() - t0
    text = log.read_text(errors="replace")
    fig = parse_log(text)
    files, size = _corpus_size(corpus)
    new = sorted(str(p) for p in crashes.iterdir() if p.name not in before)
    execs = fig.get("number_of_executed_units", 0)
    return FuzzResult(
        target=name, minutes=minutes, wall_s=round(wall, 1),
        executions=execs,
        exec_per_s=fig.get("average_exec_per_sec",
                           round(execs / wall) if wall else 0),
        coverage=fig.get("cov", 0), features=fig.get("ft", 0),
        corpus_files=files, corpus_bytes=size,
        new_units=fig.get("new_units_added", 0), crashes=new, rc=rc,
        log=str(log))


def summary(r: FuzzResult) -> str:
    """The campaign's figures as text (multi-line)."""
    lines = ["fuzz %s: %s, %.0f s" % (
        r.target, "CRASH" if r.crashes or r.rc else "no crash",
        r.wall_s),
        "  executions %d (%d/s), coverage %d edges, %d features" % (
            r.executions, r.exec_per_s, r.coverage, r.features),
        "  corpus %d inputs, %d bytes (%d new)" % (
            r.corpus_files, r.corpus_bytes, r.new_units)]
    lines += ["  crash input: %s" % c for c in r.crashes]
    lines.append("  log: %s" % r.log)
    return "\n".join(lines)


#: libFuzzer's -print_coverage=1 lines: "COVERED_FUNC: hits: 3 edges:
#: 12/40 isp_tgt_ctio /path/hw/qla2532/isp-tgt.c:480" (UNCOVERED_FUNC
#: likewise).
COVFUNC_RE = re.compile(r"^(COVERED|UNCOVERED)_FUNC: hits: (\d+) edges: "
                        r"(\d+)/(\d+) (\S+) (\S+):\d+", re.M)


def parse_coverage(text: str) -> dict:
    """The device's share of a -print_coverage=1 report.

    Returns:
        {file name under hw/qla2532/: {"edges": covered, "edges_total":
        n, "functions": covered, "functions_total": n}}, plus "total"
        (the sums).
    """
    out = {}
    for kind, _hits, cov, tot, _fn, path in COVFUNC_RE.findall(text):
        if "hw/qla2532/" not in path:
            continue
        f = out.setdefault(path.split("hw/qla2532/")[1],
                           {"edges": 0, "edges_total": 0, "functions": 0,
                            "functions_total": 0})
        f["edges"] += int(cov)
        f["edges_total"] += int(tot)
        f["functions"] += kind == "COVERED"
        f["functions_total"] += 1
    total = {k: sum(f[k] for f in out.values())
             for k in ("edges", "edges_total", "functions",
                       "functions_total")}
    out["total"] = total
    return out


def coverage(target: str = DEFAULT_TARGET,
             corpus: Path | None = None) -> dict:
    """Edge coverage of the device's code by a corpus: every input run
    once (``-runs=0``) with libFuzzer's ``-print_coverage=1``
    (llvm-symbolizer names each function's file).  What the inputs
    reach, not the bring-up before the fuzz loop.

    Returns:
        :func:`parse_coverage` of the run, with "inputs" (files run) and
        "log" (its path).

    Raises:
        ValueError: an unknown target.
        host.SetupError: the fuzzer could not be built.
    """
    name, seed_dir, work = target_info(target)
    binary = ensure_fuzzer()
    if corpus:
        dirs = [Path(corpus).resolve()]
    else:       # the working corpus holds the seeds it started from
        dirs = [work] if work.is_dir() and any(work.iterdir()) else \
            [seed_dir]
    log = fuzz_dir() / ("coverage-%s.log" % time.strftime("%Y%m%d-%H%M%S"))
    fuzz_dir().mkdir(parents=True, exist_ok=True)
    argv = [str(binary), "--fuzz-target=" + name, "-runs=0",
            "-print_coverage=1", *map(str, dirs)]
    host.run_logged(argv, log, cwd=fuzz_dir(),
                    env={"ASAN_OPTIONS": "detect_leaks=0"})
    out = parse_coverage(log.read_text(errors="replace"))
    out["inputs"] = sum(_corpus_size(d)[0] for d in dirs)
    out["log"] = str(log)
    return out


def coverage_summary(cov: dict) -> str:
    """The coverage table as text."""
    t = cov["total"]
    lines = ["device edge coverage of %d inputs: %d / %d edges (%.1f %%), "
             "%d / %d functions" % (
                 cov.get("inputs", 0), t["edges"], t["edges_total"],
                 100.0 * t["edges"] / max(t["edges_total"], 1),
                 t["functions"], t["functions_total"])]
    for name, f in sorted(cov.items()):
        if name in ("total", "inputs", "log"):
            continue
        lines.append("  %-16s %5d / %5d edges (%3.0f %%)" % (
            name, f["edges"], f["edges_total"],
            100.0 * f["edges"] / max(f["edges_total"], 1)))
    if cov.get("log"):
        lines.append("  log: %s" % cov["log"])
    return "\n".join(lines)
