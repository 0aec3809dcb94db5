# Helpers for scenario scripts (sourced before /scenario.sh)
QLAEMU_DATA=${QLAEMU_DATA:-/dev/ttyS1}

# qlaemu_begin NAME / qlaemu_end NAME: bracket a hand-written section;
# write its content to "$QLAEMU_DATA" in between.
qlaemu_begin() { echo "@@QLAEMU-BEGIN $1@@" >"$QLAEMU_DATA"; }
qlaemu_end() { printf '\n@@QLAEMU-END %s@@\n' "$1" >"$QLAEMU_DATA"; }

# qlaemu_section NAME CMD [ARGS...]: stdout+stderr of CMD as section NAME.
qlaemu_section() {
    _n=$1; shift
    { echo "@@QLAEMU-BEGIN $_n@@"; "$@" 2>&1
      printf '\n@@QLAEMU-END %s@@\n' "$_n"; } >"$QLAEMU_DATA"
}

# qlaemu_section_file NAME FILE: contents of FILE as section NAME.
qlaemu_section_file() { qlaemu_section "$1" cat "$2"; }

# qlaemu_mark NAME: one line "@@QLAEMU-MARK NAME@@" on the data channel at
# once (a host-side controller can wait for it), and the same text in the
# kernel log (level 6) so that dmesg shows where the mark was set.
qlaemu_mark() {
    echo "@@QLAEMU-MARK $1@@" >"$QLAEMU_DATA"
    echo "<6>qlaemu: mark $1" >/dev/kmsg 2>/dev/null
}

# The control channel (host -> guest): ttyS2 stays open on fd 8, raw,
# no echo (see harness/qlaemu/control.py).  Absent on a kernel without a third UART.
QLAEMU_CTL=${QLAEMU_CTL:-/dev/ttyS2}
# (probe in a subshell first: a failing redirection of the special builtin
# exec would end a non-interactive shell)
if [ -c "$QLAEMU_CTL" ] && (exec 8<>"$QLAEMU_CTL") 2>/dev/null; then
    exec 8<>"$QLAEMU_CTL"
    stty raw -echo <&8 2>/dev/null
    QLAEMU_CTL_FD=8
fi

# qlaemu_wait_cmd [TIMEOUT_S]: read one line the host sent with
# GuestControl.send() and print it (without CR/LF).  Waits at most
# TIMEOUT_S seconds (default 600); status 1 and no output on timeout, EOF
# or no control channel.
qlaemu_wait_cmd() {
    [ -n "$QLAEMU_CTL_FD" ] || return 1
    _line=
    IFS= read -r -t "${1:-600}" _line <&8 || return 1
    printf '%s\n' "$(printf '%s' "$_line" | tr -d '\r')"
}

# qlaemu_port0_host: the scsi/fc host name (hostN) of port 0, the first
# ISP2532 PCI function 0 (a QLE2562 has two functions, each a host); empty
# if the driver bound none.
qlaemu_port0_host() {
    for _d in /sys/bus/pci/devices/*; do
        [ "$(cat $_d/vendor)" = 0x1077 ] && [ "$(cat $_d/device)" = 0x2532 ] &&
            [ "${_d##*.}" = 0 ] || continue
        for _h in $_d/host*; do
            [ -d "$_h" ] && { echo "${_h##*/}"; return 0; }
        done
    done
    return 1
}

# qlaemu_kv NAME DIR ATTR...: "attr=value" lines for the readable ATTRs.
qlaemu_kv() {
    _n=$1; _d=$2; shift 2
    { echo "@@QLAEMU-BEGIN $_n@@"
      for _a in "$@"; do
          [ -r "$_d/$_a" ] && echo "$_a=$(cat "$_d/$_a" 2>/dev/null)"
      done
      printf '\n@@QLAEMU-END %s@@\n' "$_n"; } >"$QLAEMU_DATA"
}

# qlaemu_insmod_dir DIR: insmod every module in DIR (extra files of the
# run, e.g. a virtio NIC's), in no particular order: load what loads until
# a pass loads none.
qlaemu_insmod_dir() {
    _left=$(ls "$1"/* 2>/dev/null)
    while [ -n "$_left" ]; do
        _next=
        for _m in $_left; do insmod $_m 2>/dev/null || _next="$_next $_m"; done
        [ "$(echo $_next)" = "$(echo $_left)" ] && break
        _left=$_next
    done
}

# qlaemu_net_up IP: the first Ethernet interface up with IP/24 (the NIC's
# modules from /lib/qlaemu/virtio), waiting (<= 10 s) for its carrier;
# prints the interface's name.
qlaemu_net_up() {
    qlaemu_insmod_dir /lib/qlaemu/virtio
    ip link set lo up
    for _i in $(ls /sys/class/net); do
        [ "$_i" = lo ] && continue
        ip link set "$_i" up && ip addr add "$1/24" dev "$_i" || continue
        _n=0
        while [ "$(cat /sys/class/net/$_i/carrier 2>/dev/null)" != 1 ] &&
              [ $_n -lt 100 ]; do
            sleep 0.1; _n=$((_n + 1))
        done
        echo "$_i carrier=$(cat /sys/class/net/$_i/carrier 2>/dev/null)"
        return 0
    done
    return 1
}
