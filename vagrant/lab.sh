#!/bin/bash
# The Vagrant lab on libvirt, on a machine without systemd as PID 1, with full cleanup.
#
#   vagrant/lab.sh up [N]       checks first (root, tools, jepsy's virtualenv), then libvirt
#                               daemons, box (built once), 'vagrant up' of n1..nN (default
#                               JEPSY_NODES or 3), 'jepsy inventory from-vagrant'; prints the
#                               inventory path; Vagrant's own output goes to $STATE/vagrant.log
#   vagrant/lab.sh down         destroy the VMs and undo everything 'up' did to this host
#   vagrant/lab.sh status       what of the lab exists now
#   vagrant/lab.sh remove-box   delete the box from Vagrant and its built file (both copies)
#   vagrant/lab.sh libvirt-up | libvirt-down | box | check
# (as root; run from a user with sudo, it runs itself through sudo)
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
case "${1:-}" in
  up|down|remove-box|libvirt-up|libvirt-down|box) source "$HERE/../scripts/as-root.sh"; as_root "$@" ;;
esac
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

VLOG=$STATE/vagrant.log

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

# ---- checks, before anything slow --------------------------------------------------------
check() {  # every missing piece at once, one line each with what to do; before anything slow
  local problems=() tools=() boxtools=() t
  [ "$(id -u)" = 0 ] || problems+=("needs root (run it as root, or as a user with sudo)")
  for t in vagrant virsh libvirtd virtlogd qemu-system-x86_64 qemu-img; do
    command -v "$t" >/dev/null 2>&1 || tools+=("$t")
  done
  if command -v vagrant >/dev/null 2>&1 && ! vagrant plugin list 2>/dev/null | grep -q vagrant-libvirt; then
    tools+=("vagrant-libvirt")
  fi
  (( ${#tools[@]} )) && problems+=("missing ${tools[*]}: apt-get update && apt-get install vagrant \
vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils")
  if ! { command -v vagrant >/dev/null 2>&1 && vagrant box list 2>/dev/null | grep -q "^$BOX "; } &&
     [ ! -f "$BOX_FILE" ]; then
    for t in debootstrap extlinux mkfs.ext4 sfdisk; do command -v "$t" >/dev/null 2>&1 || boxtools+=("$t"); done
    (( ${#boxtools[@]} )) && problems+=("missing ${boxtools[*]} to build the box: apt-get install \
debootstrap extlinux syslinux-common e2fsprogs fdisk")
  fi
  [ -x "$JEPSY" ] || problems+=("no jepsy at $JEPSY: run scripts/install.sh first (it makes .venv)")
  if (( ${#problems[@]} )); then
    printf 'lab.sh: %s\n' "${problems[@]}" >&2
    return 254
  fi
}

quietly() {  # quietly WHAT CMD...: output to $VLOG; on failure, its last lines
  mkdir -p "$STATE"
  echo "==== $(date -u +%FT%TZ) $*" >> "$VLOG"
  if "${@:2}" >> "$VLOG" 2>&1; then return 0; fi
  log "$1 failed; the end of $VLOG:"
  tail -n 15 "$VLOG" >&2
  return 1
}

# ---- box and VMs -----------------------------------------------------------------------
box() {
  if vagrant box list 2>/dev/null | grep -q "^$BOX "; then return 0; fi
  if [ ! -f "$BOX_FILE" ]; then
    log "building the box (once, several minutes): $BOX_FILE"
    quietly "building the box" "$HERE/build-box.sh" "$BOX_FILE" || die "box build failed"
  fi
  log "adding the box to Vagrant"
  quietly "vagrant box add" vagrant box add --name "$BOX" "$BOX_FILE" || die "vagrant box add failed"
}

remove_box() {  # the box lives in two places: Vagrant's store and the file build-box.sh wrote
  if vagrant box list 2>/dev/null | grep -q "^$BOX "; then
    quietly "vagrant box remove" vagrant box remove --force --all "$BOX" && log "removed box $BOX from Vagrant"
  fi
  if [ -f "$BOX_FILE" ]; then rm -f "$BOX_FILE" && log "removed $BOX_FILE"; fi
  # The copy vagrant-libvirt uploads to libvirt's pool goes with 'down' (the pool is ours).
  log "box: $(du -sh ~/.vagrant.d/boxes 2>/dev/null | cut -f1 || echo 0) left in ~/.vagrant.d/boxes"
}

up() {
  local n=${1:-${JEPSY_NODES:-3}} t0
  check || exit 254
  [ "$n" -le 3 ] || log "warning: $n VMs under software emulation need about 1.6 GB of memory each"
  box
  libvirt_up
  t0=$(date +%s)
  log "vagrant up of $n nodes (minutes under software emulation; progress in $VLOG)"
  # One more provisioning pass before giving up: under load a VM's SSH can time out once,
  # and 'down' would throw away every VM booted so far (provision.sh is idempotent).
  if ! (cd "$HERE" && JEPSY_NODES=$n quietly "vagrant up" vagrant up --provider=libvirt); then
    log "vagrant up failed; provisioning every node once more"
    (cd "$HERE" && JEPSY_NODES=$n quietly "vagrant provision" vagrant up --provision --provider=libvirt) ||
      return 1
  fi
  log "vagrant up of $n nodes: $(( $(date +%s) - t0 )) s"
  # As root by default, as Jepsen does: jepsy's commands need root, and under software
  # emulation a sudo per command is slow.  JEPSY_VAGRANT_USER=vagrant exercises sudo.
  (cd "$HERE" && JEPSY_NODES=$n "$JEPSY" inventory from-vagrant . --user "${JEPSY_VAGRANT_USER:-root}")
}

down() {
  if alive "$STATE/libvirtd.pid"; then
    # Quiet about the machines never created (Vagrant says so for each one it knows of).
    (cd "$HERE" && JEPSY_NODES=${JEPSY_NODES:-5} quietly "vagrant destroy" vagrant destroy -f) ||
      log "vagrant destroy failed; removing domains directly"
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
  # A failed check changes nothing, so there is nothing to take down.
  up) shift; (up "$@") || { rc=$?; [ "$rc" = 254 ] && exit 254
                             log "up failed: taking everything down"; down; exit "$rc"; } ;;
  down) down ;;
  status)
    alive "$STATE/libvirtd.pid" && virsh_q list --all | grep "$PREFIX" || echo "libvirt of this lab is not running"
    left=$(leftovers); echo "present:${left:- nothing}" ;;
  libvirt-up) libvirt_up ;;
  libvirt-down) libvirt_down ;;
  box) box ;;
  remove-box) remove_box ;;
  check) check && log "ready: everything 'up' needs is here" ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
