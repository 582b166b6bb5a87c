#!/bin/bash
# The Vagrant lab on libvirt, on a machine without systemd as PID 1, with full cleanup.
#
#   sudo vagrant/lab.sh up [N]      libvirt daemons, box (built once), 'vagrant up' of n1..nN
#                                   (default JEPSY_NODES or 3), then 'jepsy inventory
#                                   from-vagrant'; prints the inventory path
#   sudo vagrant/lab.sh down        destroy the VMs and undo everything 'up' did to this host
#   sudo vagrant/lab.sh status      what of the lab exists now
#   sudo vagrant/lab.sh libvirt-up | libvirt-down | box
#
# What 'up' changes on this host, and 'down' undoes (also after a failed 'up'):
# * virtlogd and libvirtd, started here as daemons (no systemd): ended by the PIDs
#   in their pid files under $STATE, never by name;
# * libvirt's storage pool $POOL (the box's volume and every VM disk in it);
# * the networks vagrant-libvirt defines (jvg-mgmt, isolated: VMs get no route out;
#   jvg-private, the cluster network), their bridges and dnsmasq;
# * the LIBVIRT_* chains libvirt adds to iptables and ip6tables (removed only if
#   they did not exist before 'up'), and net.ipv4.ip_forward (set back to what it was).
# 'down' ends by listing anything left and exits non-zero if there is.
#
# Environment: JEPSY_NODES, JEPSY_BOX (box name, default jepsy/debian12),
# JEPSY_BOX_FILE (where build-box.sh writes it), JEPSY (the jepsy command),
# JEPSY_VAGRANT_USER (who the inventory logs in as: root, or vagrant with sudo).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${JEPSY_VAGRANT_STATE:-/var/tmp/jepsy-vagrant/lab}
POOL=jvg
POOL_DIR=/var/lib/libvirt/images/jvg
NETWORKS="jvg-mgmt jvg-private"
PREFIX=jvg_
BOX=${JEPSY_BOX:-jepsy/debian12}
BOX_FILE=${JEPSY_BOX_FILE:-/var/tmp/jepsy-vagrant/jepsy-debian12.box}
JEPSY=${JEPSY:-$HERE/../.venv/bin/jepsy}
URI=qemu:///system
export LIBVIRT_DEFAULT_URI=$URI

log() { echo "lab.sh: $*" >&2; }
die() { log "$*"; exit 1; }
virsh_q() { virsh -q "$@" 2>/dev/null; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# ---- libvirt ---------------------------------------------------------------------------
libvirt_up() {
  [ "$(id -u)" = 0 ] || die "needs root"
  mkdir -p "$STATE"
  if alive "$STATE/libvirtd.pid"; then return 0; fi
  # Someone else's libvirtd: never share or touch it.
  if [ -S /run/libvirt/libvirt-sock ] && virsh -c $URI version >/dev/null 2>&1; then
    die "a libvirtd not started by this lab is running; stop it first (this lab cleans up what it starts)"
  fi
  [ -f "$STATE/ip_forward" ] || cat /proc/sys/net/ipv4/ip_forward > "$STATE/ip_forward"
  # libvirtd's runtime tree: removed at 'down' only if this lab made it.
  [ -d /run/libvirt ] || [ -f "$STATE/run-libvirt-ours" ] || touch "$STATE/run-libvirt-ours"
  if [ ! -f "$STATE/chains-before" ]; then
    { iptables-save; ip6tables-save; } 2>/dev/null | grep -c '^:LIBVIRT_' > "$STATE/chains-before" || true
  fi
  virtlogd -d -p "$STATE/virtlogd.pid" || die "virtlogd did not start"
  libvirtd -d -p "$STATE/libvirtd.pid" || die "libvirtd did not start"
  for _ in $(seq 1 50); do virsh -c $URI version >/dev/null 2>&1 && break; sleep 0.2; done
  virsh -c $URI version >/dev/null 2>&1 || die "libvirtd does not answer on $URI"
  if ! virsh_q pool-info "$POOL" >/dev/null; then
    mkdir -p "$POOL_DIR"
    virsh_q pool-define-as "$POOL" dir --target "$POOL_DIR" >/dev/null || die "cannot define pool $POOL"
  fi
  virsh_q pool-start "$POOL" >/dev/null || true
  log "libvirtd pid $(cat "$STATE/libvirtd.pid"), virtlogd pid $(cat "$STATE/virtlogd.pid"), pool $POOL"
}

stop_pid() {  # stop_pid PIDFILE NAME: TERM, wait up to 10 s, then KILL
  local f=$1 pid
  alive "$f" || { rm -f "$f"; return 0; }
  pid=$(cat "$f")
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  kill -0 "$pid" 2>/dev/null && { log "$2 (pid $pid) ignores TERM: KILL"; kill -KILL "$pid" 2>/dev/null; }
  rm -f "$f"
}

libvirt_down() {
  [ "$(id -u)" = 0 ] || die "needs root"
  if alive "$STATE/libvirtd.pid"; then
    for dom in $(virsh_q list --all --name | grep "^$PREFIX" || true); do
      log "removing domain $dom"
      virsh_q destroy "$dom" >/dev/null; virsh_q undefine "$dom" --nvram >/dev/null || virsh_q undefine "$dom" >/dev/null
    done
    if virsh_q pool-info "$POOL" >/dev/null; then
      for vol in $(virsh_q vol-list "$POOL" | awk '{print $1}'); do
        virsh_q vol-delete --pool "$POOL" "$vol" >/dev/null || log "cannot delete volume $vol"
      done
      virsh_q pool-destroy "$POOL" >/dev/null; virsh_q pool-undefine "$POOL" >/dev/null
    fi
    for net in $NETWORKS default; do
      [ "$net" = default ] && ! virsh_q net-info default | grep -q 'Active:.*yes' && continue
      virsh_q net-info "$net" >/dev/null || continue
      # Remember its bridge, so that 'leftovers' can check it is gone.
      virsh_q net-info "$net" | awk '$1 == "Bridge:" {print $2}' >> "$STATE/bridges"
      log "removing network $net"
      virsh_q net-destroy "$net" >/dev/null; [ "$net" = default ] || virsh_q net-undefine "$net" >/dev/null
    done
  fi
  stop_pid "$STATE/libvirtd.pid" libvirtd
  stop_pid "$STATE/virtlogd.pid" virtlogd
  # Our networks' dnsmasq pid files and state, which libvirt leaves behind (a dnsmasq
  # still running after its network was destroyed is ended by its PID first).
  for net in $NETWORKS; do
    stop_pid "/run/libvirt/network/$net.pid" "dnsmasq of $net"
    rm -rf "/run/libvirt/network/$net" "/run/libvirt/network/$net.pid" \
           /var/lib/libvirt/dnsmasq/"$net".*
  done
  if [ -f "$STATE/run-libvirt-ours" ] && ! [ -S /run/libvirt/libvirt-sock ]; then
    rm -rf /run/libvirt
    rm -f "$STATE/run-libvirt-ours"
  fi
  rmdir "$POOL_DIR" 2>/dev/null || true
  # libvirt's firewall chains: only if this lab brought them (none existed before).
  if [ "$(cat "$STATE/chains-before" 2>/dev/null || echo 0)" = 0 ]; then
    for cmd in iptables ip6tables; do
      for table in filter nat mangle; do
        chains=$($cmd -t $table -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^LIBVIRT_/ {print $2}')
        [ -n "$chains" ] || continue
        # Jumps into them from the built-in chains first, then the chains themselves.
        $cmd -t $table -S 2>/dev/null | grep -E '^-A [A-Z]+ .*-j LIBVIRT_' | grep -vE '^-A LIBVIRT_' |
          while read -r rule; do eval "$cmd -t $table ${rule/-A /-D }"; done
        for c in $chains; do $cmd -t $table -F "$c"; done
        for c in $chains; do $cmd -t $table -X "$c"; done
      done
    done
  fi
  if [ -f "$STATE/ip_forward" ]; then
    sysctl -q -w net.ipv4.ip_forward="$(cat "$STATE/ip_forward")"
    rm -f "$STATE/ip_forward"
  fi
  rm -f "$STATE/chains-before"
}

leftovers() {
  local left=""
  alive "$STATE/libvirtd.pid" && left="$left libvirtd"
  alive "$STATE/virtlogd.pid" && left="$left virtlogd"
  if [ "$(cat "$STATE/chains-before" 2>/dev/null || echo 0)" = 0 ]; then
    { iptables-save; ip6tables-save; } 2>/dev/null | grep -q '^:LIBVIRT_' && left="$left LIBVIRT_chains"
  fi
  for f in /var/lib/libvirt/qemu/domain-*"$PREFIX"*; do [ -e "$f" ] && left="$left $(basename "$f")"; done
  [ -n "$(find "$POOL_DIR" -mindepth 1 -print -quit 2>/dev/null)" ] && left="$left volumes-in-$POOL_DIR"
  [ -f "$STATE/ip_forward" ] && left="$left ip_forward"
  # Our networks' runtime state (and dnsmasq) under /run/libvirt/network.
  for f in /run/libvirt/network/jvg-*; do [ -e "$f" ] && left="$left $f"; done
  if [ -f "$STATE/bridges" ]; then
    for br in $(sort -u "$STATE/bridges"); do ip link show "$br" >/dev/null 2>&1 && left="$left bridge-$br"; done
    [ -n "$left" ] || rm -f "$STATE/bridges"
  fi
  echo "$left"
}

# ---- box and VMs -----------------------------------------------------------------------
box() {
  if vagrant box list 2>/dev/null | grep -q "^$BOX "; then return 0; fi
  if [ ! -f "$BOX_FILE" ]; then
    log "building the box (once): $BOX_FILE"
    "$HERE/build-box.sh" "$BOX_FILE" >/dev/null || die "box build failed"
  fi
  vagrant box add --name "$BOX" "$BOX_FILE" >&2 || die "vagrant box add failed"
}

up() {
  local n=${1:-${JEPSY_NODES:-3}} t0
  [ "$n" -le 3 ] || log "warning: $n VMs under software emulation need about 1.6 GB of memory each"
  box
  libvirt_up
  t0=$(date +%s)
  (cd "$HERE" && JEPSY_NODES=$n vagrant up --provider=libvirt >&2) || { log "vagrant up failed"; return 1; }
  log "vagrant up of $n nodes: $(( $(date +%s) - t0 )) s"
  # As root by default, as Jepsen does: jepsy's commands need root, and under software
  # emulation a sudo per command is slow.  JEPSY_VAGRANT_USER=vagrant exercises sudo.
  (cd "$HERE" && JEPSY_NODES=$n "$JEPSY" inventory from-vagrant . --user "${JEPSY_VAGRANT_USER:-root}")
}

down() {
  if alive "$STATE/libvirtd.pid"; then
    (cd "$HERE" && JEPSY_NODES=${JEPSY_NODES:-5} vagrant destroy -f >&2) || log "vagrant destroy failed; removing domains directly"
  fi
  libvirt_down
  rm -f "$HERE/.vagrant/jepsy-inventory.yaml" "$HERE/.vagrant/jepsy-inventory.known_hosts"
  local left
  left=$(leftovers)
  [ -z "$left" ] || die "left behind:$left"
  log "down: nothing left"
}

case "${1:-}" in
  # A subshell: a 'die' inside 'up' must still reach the cleanup.
  up) shift; (up "$@") || { rc=$?; log "up failed: taking everything down"; down; exit "$rc"; } ;;
  down) down ;;
  status)
    alive "$STATE/libvirtd.pid" && virsh_q list --all | grep "$PREFIX" || echo "libvirt of this lab is not running"
    left=$(leftovers); echo "present:${left:- nothing}" ;;
  libvirt-up) libvirt_up ;;
  libvirt-down) libvirt_down ;;
  box) box ;;
  *) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
