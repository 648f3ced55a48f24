#!/usr/bin/env bash
# first-container.sh: from a fresh machine to your first containers.
# Installs Go and busybox-static with apt if they are missing, builds every
# step and the final runtime into bin/, builds an offline rootfs in ./rootfs,
# then runs a command with step 01 (chroot) and a shell with step 03 (PID 1,
# private mounts, a read-only volume). Run it as root.
set -euo pipefail
cd "$(dirname "$0")"

if [ "$(id -u)" != 0 ]; then
  echo "first-container.sh: run it as root (sudo ./first-container.sh), or in docker run --privileged" >&2
  exit 1
fi

missing=()
command -v go >/dev/null || missing+=(golang-go)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || missing+=(busybox-static)
command -v make >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" ca-certificates >/dev/null
fi

echo "== make build (static binaries in bin/)"
make build
echo "== bin/01-chroot rootfs build rootfs"
bin/01-chroot rootfs build rootfs

echo
echo "== Step 01: chroot. The command sees the rootfs as /, but shares everything else."
bin/01-chroot run --rootfs rootfs -- sh -c 'echo "in the chroot: / has $(ls / | tr "\n" " ")"; echo "my PID is $$ (the host numbers it)"'

echo
echo "== Step 03: PID, mount namespaces and pivot_root; ./docs is mounted read-only at /docs."
mkdir -p docs
shell_cmd=(sh)
if [ ! -t 0 ]; then
  shell_cmd=(sh -c 'echo "PID $$"; ps; cat /proc/self/mountinfo | cut -d" " -f5 | tr "\n" " "; echo; touch /docs/x')
else
  echo "   Try: echo \$\$   ps   cat /proc/self/mountinfo   touch /docs/x   exit"
fi
bin/03-mount-ns run --rootfs rootfs -v "$PWD/docs:/docs:ro" -- "${shell_cmd[@]}" || true
