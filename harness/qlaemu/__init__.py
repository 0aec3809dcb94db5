"""qla2532-emu harness: build QEMU with the ISP2532 model, boot a guest
with the driver under test, run scenarios and judge what the driver and
the device did.

The modules, bottom to top (each imports only modules above it in this
list; ``docs/architecture.md`` has the picture):

host plumbing
    paths (locations), host (progress, logged runs, locks), archive
    (reproducible newc archives), apt (Debian packages and sources), build
    (QEMU with the overlay), firmware (the synthetic ql2500_fw.bin)
the guest
    kernels (which Debian kernel, unpacked), profiles (driver-under-test
    profiles), kernel_src (headers and source of the guest kernel),
    patches (patch series), modbuild (driver builds), driver (loading and
    configuring the driver in the guest), image (the initramfs, with
    harness/guest/*), tools (the initiator's sg3_utils, fio and
    iscsi-test-cu as an initramfs archive, and readers of their output),
    control (data/control channels and QMP of a running guest), vm (boot,
    run a script, power off), linked (two guests whose cards share a link
    through fc-remote)
runs
    kmsg and evidence (what a run shows), capture (the link's pcap, read
    with tshark), verdict (PASS / FAIL / INCONCLUSIVE), results (the runs'
    typed results, dataclasses), pictures (SVG ladder and heat map), probe,
    scenario, race, snapshot (the saved ready point), pointrace (the race
    from it), replay, sweep, matrix, pairlip (the LIP step of a pair:
    the race with a real initiator), stacks (what LIO and SCST answer their
    own way), pair (a real initiator against the target) (the runs),
    report (text and JUnit output), bench (timing figures), fuzz and
    sanitize (the device under libFuzzer and ASan/UBSan)
the command line
    commands (one function per command), cli (the parser, ``main``)
"""
