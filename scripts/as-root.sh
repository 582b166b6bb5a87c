# Sourced by the scripts that need root: `as_root "$@"` at their top.
# Root goes on; a user with sudo runs the same script again through sudo (so the
# README's commands work as written both ways); anyone else gets one line and 254.
# Debian installs no sudo by default, so root never calls it.
as_root() {
  [[ $(id -u) -eq 0 ]] && return 0
  local self
  self=$(readlink -f "$0")
  if command -v sudo >/dev/null 2>&1; then
    exec sudo -- bash "$self" "$@"
  fi
  echo "$(basename "$self"): needs root (namespaces, bridges, mounts, packages) and sudo is" \
       "not installed: run it from a root shell (su -), as: $self" >&2
  exit 254
}
