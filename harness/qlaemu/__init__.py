"""qla2532-emu harness: build QEMU with the ISP2532 model, boot a guest with the
driver under test, run scenarios and report what the driver and the device saw."""
