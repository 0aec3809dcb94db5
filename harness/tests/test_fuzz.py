"""The fuzzing command (harness/qlaemu/fuzz.py, issue #11).

The campaign itself needs the libFuzzer build of QEMU (about 20 min the
first time): ``test_short_campaign`` runs only with ``QLAEMU_FUZZ=1`` and
skips, saying so, otherwise.  The crash inputs it finds are turned into
qtests (tests/qtest/qla2532-test.c), which run in every CI.
"""
import os

import pytest

from qlaemu import cli, commands, fuzz

#: A libFuzzer log's end: progress lines, then the final statistics.
LOG = """\
INFO: Seed: 12345
#2      INITED cov: 101 ft: 102 corp: 1/1b exec/s: 0 rss: 300Mb
#4096   pulse  cov: 811 ft: 1422 corp: 57/2310b lim: 4 exec/s: 204 rss: 320Mb
#8192   pulse  cov: 905 ft: 1710 corp: 73/3551b lim: 8 exec/s: 210 rss: 330Mb
Done 8301 runs in 40 second(s)
stat::number_of_executed_units: 8301
stat::average_exec_per_sec:     207
stat::new_units_added:          72
stat::slowest_unit_time_sec:    1
stat::peak_rss_mb:              331
"""


def test_parse_log_takes_the_last_progress_and_the_final_stats():
    f = fuzz.parse_log(LOG)
    assert f["cov"] == 905 and f["ft"] == 1710
    assert f["last_exec_per_s"] == 210
    assert f["number_of_executed_units"] == 8301
    assert f["average_exec_per_sec"] == 207
    assert f["new_units_added"] == 72
    assert fuzz.parse_log("") == {}


def test_bad_minutes_is_a_usage_error(capsys):
    with pytest.raises(ValueError, match="positive"):
        fuzz.run_fuzz(0)
    assert cli.main(["fuzz", "--minutes", "-1"]) == 2
    assert "positive" in capsys.readouterr().err


def test_cli_fuzz_arguments():
    args = cli.build_parser().parse_args(["fuzz", "--minutes", "5"])
    assert args.minutes == 5 and args.corpus is None
    assert args.func is commands.cmd_fuzz
    assert cli.build_parser().parse_args(["fuzz"]).minutes == 30


def test_summary_names_crashes():
    r = fuzz.FuzzResult(target="qla2532-target-fuzz", minutes=1, wall_s=60,
                        executions=10, exec_per_s=1,
                        coverage=5, features=6, corpus_files=2,
                        corpus_bytes=30, new_units=1,
                        crashes=["/x/crash-abc"], rc=1, log="/x/log")
    text = fuzz.summary(r)
    assert "CRASH" in text and "crash input: /x/crash-abc" in text
    assert "10 (1/s)" in text and "qla2532-target-fuzz" in text


COVERAGE = "\n".join([
    "COVERAGE:",
    "COVERED_FUNC: hits: 12 edges: 30/40 isp_tgt_ctio "
    "/b/../qemu-src/hw/qla2532/isp-tgt.c:480",
    "UNCOVERED_FUNC: hits: 0 edges: 0/10 isp_tgt_abts "
    "/b/../qemu-src/hw/qla2532/isp-tgt.c:700",
    "COVERED_FUNC: hits: 1 edges: 5/5 isp_reset "
    "/b/../qemu-src/hw/qla2532/isp-fw.c:300",
    "COVERED_FUNC: hits: 9 edges: 7/9 pci_dma_rw "
    "/b/../qemu-src/include/sysemu/dma.h:10", ""])


def test_parse_coverage_counts_the_device_only():
    c = fuzz.parse_coverage(COVERAGE)
    assert c["isp-tgt.c"] == {"edges": 30, "edges_total": 50,
                              "functions": 1, "functions_total": 2}
    assert c["isp-fw.c"]["edges"] == 5
    assert c["total"] == {"edges": 35, "edges_total": 55, "functions": 2,
                          "functions_total": 3}
    text = fuzz.coverage_summary(dict(c, inputs=7))
    assert "7 inputs: 35 / 55 edges (63.6 %)" in text
    assert "isp-tgt.c" in text and "dma.h" not in text


def test_targets_and_their_corpora():
    name, seeds, work = fuzz.target_info("target-mode")
    assert name == "qla2532-target-fuzz"
    assert seeds.name == "corpus-target-mode" and work.name == seeds.name
    assert fuzz.target_info("generic")[0] == "generic-fuzz-qla2532"
    with pytest.raises(ValueError, match="--target"):
        fuzz.target_info("nope")
    args = cli.build_parser().parse_args(["fuzz", "--target", "generic",
                                          "--coverage"])
    assert args.target == "generic" and args.coverage
    assert cli.build_parser().parse_args(["fuzz"]).target == "target-mode"


@pytest.mark.skipif(os.environ.get("QLAEMU_FUZZ") != "1",
                    reason="QLAEMU_FUZZ=1 not set: the libFuzzer build of "
                    "QEMU takes ~20 min; run ./qlaemu fuzz instead")
def test_short_campaign(tmp_path):
    """One minute of the target-mode fuzzer from an empty corpus: no crash,
    and the fuzzer reaches the device (coverage grows, inputs kept)."""
    r = fuzz.run_fuzz(1, corpus=tmp_path / "corpus",
                      crashes=tmp_path / "crashes")
    assert r.rc == 0 and not r.crashes, fuzz.summary(r)
    assert r.executions > 0 and r.corpus_files > 1, fuzz.summary(r)
