#!/bin/bash
# Build a Debian 12 (bookworm) box for Vagrant's libvirt provider, locally, from
# Debian packages only: no box is downloaded.  Needs root and the Debian packages
# debootstrap, extlinux, syslinux-common, qemu-utils, e2fsprogs and vagrant (for
# its public "insecure" key, which every Vagrant box authorizes).
#
#   sudo vagrant/build-box.sh [OUTPUT.box]      # default /var/tmp/jepsy-vagrant/jepsy-debian12.box
#   vagrant box add --name jepsy/debian12 OUTPUT.box
#
# Why it is built this way (measured on a host like ours, see shared/VMLAB.md):
# * the host kernel does not scan partition tables of loop devices, so grub-install
#   onto a loop device fails: the ext4 is made from a directory with `mkfs.ext4 -d`
#   (no mount needed), placed at 1 MiB in a raw disk with an MBR, and booted by
#   extlinux, which is installed through a loop device with an offset;
# * clones of one image must not share SSH host keys or a machine-id: both are
#   removed here and made at first boot;
# * Vagrant configures private networks with systemd-networkd files named
#   50-vagrant-ethN.network: the image's catch-all DHCP file sorts after them
#   (99-dhcp.network), or the private interface would be taken by DHCP;
# * no NTP daemon is installed: clock faults must stick;
# * etcd-server is preinstalled (VMs have no route to package registries), its
#   service disabled: jepsy runs etcd itself, and a default etcd would hold
#   127.0.0.1:2379.  EXTRA_PACKAGES replaces that list.
#
# Environment: JEPSY_MIRROR (default: the mirror apt uses here, else deb.debian.org),
# EXTRA_PACKAGES (comma-separated, default "etcd-server,etcd-client"), DISK_GB (4).
set -euo pipefail

OUT=${1:-/var/tmp/jepsy-vagrant/jepsy-debian12.box}
DISK_GB=${DISK_GB:-4}
EXTRA_PACKAGES=${EXTRA_PACKAGES-etcd-server,etcd-client}
SUITE=bookworm
PACKAGES=systemd-sysv,udev,dbus,kmod,linux-image-amd64,openssh-server,sudo,iproute2,iptables,\
procps,iputils-ping,netbase,python3,faketime,less,ca-certificates
[ -n "$EXTRA_PACKAGES" ] && PACKAGES="$PACKAGES,$EXTRA_PACKAGES"

die() { echo "build-box: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, loop mount)"
for tool in debootstrap extlinux mkfs.ext4 sfdisk qemu-img losetup; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install debootstrap extlinux qemu-utils e2fsprogs fdisk)"
done
MBR=/usr/lib/syslinux/mbr/mbr.bin
[ -f "$MBR" ] || MBR=/usr/lib/EXTLINUX/mbr.bin
[ -f "$MBR" ] || die "syslinux's mbr.bin is missing (apt-get install syslinux-common)"
INSECURE_PUB=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | head -n 1 || true)
[ -n "$INSECURE_PUB" ] || die "vagrant's insecure public key is missing (apt-get install vagrant)"
if [ -z "${JEPSY_MIRROR:-}" ]; then
  # The first deb.debian.org-style URI apt is configured with (deb822 or one-line).
  JEPSY_MIRROR=$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?$' \
                 /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -n 1 | awk '{print $NF}' || true)
  JEPSY_MIRROR=${JEPSY_MIRROR:-http://deb.debian.org/debian}
fi

WORK=$(mktemp -d /var/tmp/jepsy-box.XXXXXX)
ROOT=$WORK/root
MNT=$WORK/mnt
LOOP=""
cleanup() {
  # Always: unmount what is mounted under WORK, free the loop device, remove WORK.
  for m in "$MNT" "$ROOT/proc" "$ROOT/sys" "$ROOT/dev/pts" "$ROOT/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount "$m" || true
  done
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

t0=$(date +%s)
echo "build-box: debootstrap $SUITE from $JEPSY_MIRROR" >&2
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$JEPSY_MIRROR" \
  > "$WORK/debootstrap.log" 2>&1 || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
t1=$(date +%s)

# ---- configure the root file system --------------------------------------------------
KVER=$(ls "$ROOT/boot" | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1)
[ -n "$KVER" ] || die "no kernel in the image"
echo debian > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
echo 'LABEL=rootfs / ext4 defaults,errors=remount-ro 0 1' > "$ROOT/etc/fstab"
mkdir -p "$ROOT/etc/systemd/network"
cat > "$ROOT/etc/systemd/network/99-dhcp.network" <<'EOF'
# Catch-all: any ethernet interface nobody else configured takes DHCP.  It sorts
# after Vagrant's 50-vagrant-ethN.network, so private networks keep their address.
[Match]
Name=eth*

[Network]
DHCP=ipv4
EOF
# Host keys are made at first boot, before sshd starts (each clone its own).
cat > "$ROOT/etc/systemd/system/ssh-hostkeys.service" <<'EOF'
[Unit]
Description=Generate SSH host keys missing on this clone
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=multi-user.target ssh.service
EOF
cat > "$ROOT/etc/ssh/sshd_config.d/jepsy.conf" <<'EOF'
UseDNS no
GSSAPIAuthentication no
PasswordAuthentication no
EOF
mkdir -p "$ROOT/boot/extlinux"
cat > "$ROOT/boot/extlinux/extlinux.conf" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 1
LABEL debian
  KERNEL /boot/vmlinuz-$KVER
  INITRD /boot/initrd.img-$KVER
  APPEND root=LABEL=rootfs ro console=ttyS0,115200 net.ifnames=0
EOF

chroot "$ROOT" /bin/sh -e <<EOF
systemctl enable systemd-networkd.service ssh-hostkeys.service ssh.service >/dev/null 2>&1
systemctl mask systemd-networkd-wait-online.service >/dev/null 2>&1
if [ -f /lib/systemd/system/etcd.service ]; then systemctl disable etcd.service >/dev/null 2>&1; fi
useradd -m -s /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' > /etc/sudoers.d/vagrant
chmod 0440 /etc/sudoers.d/vagrant
install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.ssh
EOF
install -m 0600 "$INSECURE_PUB" "$ROOT/home/vagrant/.ssh/authorized_keys"
chroot "$ROOT" chown vagrant:vagrant /home/vagrant/.ssh/authorized_keys
rm -f "$ROOT"/etc/ssh/ssh_host_*
: > "$ROOT/etc/machine-id"
rm -f "$ROOT/var/lib/dbus/machine-id"
chroot "$ROOT" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/*.bin "$ROOT"/tmp/* "$ROOT"/var/log/*.log

# ---- disk image ------------------------------------------------------------------------
mkfs.ext4 -q -L rootfs -d "$ROOT" "$WORK/part.img" "$((DISK_GB * 1024 - 1))M"
truncate -s "${DISK_GB}G" "$WORK/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk -q "$WORK/disk.raw"
dd if="$WORK/part.img" of="$WORK/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
rm -f "$WORK/part.img"
mkdir -p "$MNT"
LOOP=$(losetup --find --show --offset 1048576 "$WORK/disk.raw")
mount "$LOOP" "$MNT"
extlinux --install "$MNT/boot/extlinux" >/dev/null 2>&1
umount "$MNT"
losetup -d "$LOOP"
LOOP=""
dd if="$MBR" of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none

# ---- the box ---------------------------------------------------------------------------
mkdir -p "$WORK/box"
qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
rm -f "$WORK/disk.raw"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$DISK_GB" > "$WORK/box/metadata.json"
cat > "$WORK/box/Vagrantfile" <<'EOF'
# Box defaults: software emulation (this box boots a stock Debian kernel) and no
# synced folder (the box has no NFS or rsync setup).
Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
  end
end
EOF
mkdir -p "$(dirname "$OUT")"
tar -C "$WORK/box" -cf "$OUT.tmp" metadata.json Vagrantfile box.img
mv "$OUT.tmp" "$OUT"
t2=$(date +%s)
echo "build-box: $OUT ($(du -m "$OUT" | cut -f1) MiB, kernel $KVER): debootstrap $((t1 - t0)) s, total $((t2 - t0)) s" >&2
echo "$OUT"
