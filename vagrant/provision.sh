#!/bin/sh
# Provisioning of one jepsy lab node (run as root by Vagrant's shell provisioner).
#   $1            the lab's public key (authorized for vagrant and root)
#   JEPSY_HOSTS   "address name" lines for every node, for /etc/hosts
# Idempotent: 'vagrant provision' may run it again.
set -eu

# Packages a test needs.  The jepsy/debian12 box has them all (its VMs cannot reach
# a package registry); other boxes (VirtualBox's debian/bookworm64) get them here.
NEED="openssh-server iptables iproute2 sudo faketime procps etcd-server etcd-client"
missing=""
for p in $NEED; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "provision: installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  # shellcheck disable=SC2086  # one word per package, on purpose
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
# jepsy runs etcd itself: a packaged default etcd would hold 127.0.0.1:2379.
if systemctl list-unit-files etcd.service >/dev/null 2>&1; then
  systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi

# Clock faults must stick: no NTP daemon, and no hypervisor time sync.
for s in systemd-timesyncd chrony chronyd ntp ntpsec openntpd vboxadd-service; do
  if systemctl list-unit-files "$s.service" 2>/dev/null | grep -q "^$s.service"; then
    systemctl disable --now "$s.service" >/dev/null 2>&1 || true
    systemctl mask "$s.service" >/dev/null 2>&1 || true
  fi
done

# Every node knows every node by name, at its cluster address (not 127.0.1.1).
tmp=$(mktemp)
sed -e '/# jepsy-lab begin/,/# jepsy-lab end/d' -e '/^127\.0\.1\.1[[:space:]]/d' /etc/hosts > "$tmp"
{ cat "$tmp"; echo "# jepsy-lab begin"; printf '%s\n' "$JEPSY_HOSTS"; echo "# jepsy-lab end"; } > /etc/hosts
rm -f "$tmp"

# The lab key, for the vagrant user and root.
for home in /home/vagrant /root; do
  user=$(stat -c %U "$home")
  install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
  touch "$home/.ssh/authorized_keys"
  grep -qxF "$1" "$home/.ssh/authorized_keys" || echo "$1" >> "$home/.ssh/authorized_keys"
  chown "$user:$user" "$home/.ssh/authorized_keys"
  chmod 0600 "$home/.ssh/authorized_keys"
done
echo "provision: $(hostname) ready ($(ip -4 -o addr show scope global | awk '{print $2"="$4}' | tr '\n' ' '))"
