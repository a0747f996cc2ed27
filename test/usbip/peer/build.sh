#!/bin/bash
# Builds the USB/IP peer VM for `npm run test:usbip`: a Debian bookworm amd64 kernel and a small
# busybox initramfs that loads usbip-host, binds every QEMU-emulated USB device to it and runs
# Debian's own usbipd (a USB/IP server none of this project's code is part of). Everything comes
# from pinned bookworm .debs, fetched with `apt-get download` and unpacked with `dpkg-deb -x`
# (nothing is installed on the host). Adapted from the team's usbip-peer recipe; see README.md.
#
# Output ($W/out): vmlinuz, vmlinux (when python3 or xz can unpack it), initrd.gz, disk.img,
# VERSIONS.txt, and .build-id (a hash of this folder's build inputs: the harness rebuilds when it
# differs). Idempotent: .debs already in $W/debs are reused; the initramfs is reproducible.
#
# Env:  WORK=dir    default ~/.cache/uhci-usbip-peer (or $XDG_CACHE_HOME/uhci-usbip-peer)
#       PIN=latest  use apt's current candidates instead of the pins (when the mirror dropped one)
# Host needs: apt-get with bookworm sources and a fresh `apt-get update`, dpkg-deb, gzip, node.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
W=${WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/uhci-usbip-peer}
DEBS=$W/debs X=$W/x R=$W/rootfs OUT=$W/out
mkdir -p "$DEBS" "$OUT"
log() { printf '=== %s\n' "$*"; }
TOOLS="node $HERE/tools.mjs"

# ---------------------------------------------------------------- pinned packages
# Debian bookworm (main + bookworm-security), amd64. The kernel and usbip come from the same source
# package (linux 6.1.192-3), so usbip's user space matches the usbip-host module's sysfs interface.
KPKG=linux-image-6.1.0-57-amd64
PINNED=(
  "$KPKG=6.1.192-3"
  "usbip=2.0+6.1.192-3"
  "busybox-static=1:1.35.0-4+deb12u1+b1"
  "libc6=2.36-9+deb12u14"
  "libudev1=252.39-1~deb12u2"
  "libwrap0=7.6.q-32"
  "libnsl2=1.3.0-2"
  "libtirpc3=1.3.3+ds-1"
  "libgssapi-krb5-2=1.20.1-2+deb12u5"
  "libkrb5-3=1.20.1-2+deb12u5"
  "libk5crypto3=1.20.1-2+deb12u5"
  "libkrb5support0=1.20.1-2+deb12u5"
  "libcom-err2=1.47.0-2+b2"
  "libkeyutils1=1.6.3-2"
  "usb.ids=2025.07.26-0+deb12u1"
)
if [ "${PIN:-}" = latest ]; then
  P2=(); for pv in "${PINNED[@]}"; do n=${pv%%=*}
    v=$(apt-cache policy "$n" | sed -n 's/^ *Candidate: //p'); P2+=("$n=$v"); done
  PINNED=("${P2[@]}")
fi
KVER=${KPKG#linux-image-}

# ---------------------------------------------------------------- download
log "download (pinned versions; cached in $DEBS)"
debfile() {  # name version -> path of an already downloaded .deb with that exact version, or ""
  local f
  for f in "$DEBS/$1"_*.deb; do
    [ -e "$f" ] || continue
    [ "$(dpkg-deb -f "$f" Package)" = "$1" ] && [ "$(dpkg-deb -f "$f" Version)" = "$2" ] && { echo "$f"; return; }
  done
  echo ""
}
for pv in "${PINNED[@]}"; do
  n=${pv%%=*} v=${pv#*=}
  if [ -z "$(debfile "$n" "$v")" ]; then
    ( cd "$DEBS" && apt-get download "$n=$v" 2>&1 | grep -v 'Download is performed unsandboxed' ) || true
    [ -n "$(debfile "$n" "$v")" ] || { echo "FAILED to download $n=$v (run apt-get update; or PIN=latest $0)"; exit 1; }
  fi
done

# ---------------------------------------------------------------- extract
STAMP="$(printf '%s\n' "${PINNED[@]}")"
if [ ! -f "$X/.stamp" ] || [ "$(cat "$X/.stamp")" != "$STAMP" ]; then
  log "extracting"
  rm -rf "$X"; mkdir -p "$X"
  for pv in "${PINNED[@]}"; do dpkg-deb -x "$(debfile "${pv%%=*}" "${pv#*=}")" "$X"; done
  printf '%s\n' "$STAMP" > "$X/.stamp"
else
  log "extract: up to date"
fi
MODDIR=$X/lib/modules/$KVER
CONFIG=$X/boot/config-$KVER
for opt in CONFIG_USBIP_CORE=m CONFIG_USBIP_HOST=m CONFIG_USB=m CONFIG_USB_UHCI_HCD=m CONFIG_USB_EHCI_PCI=m \
           CONFIG_VIRTIO_NET=m CONFIG_SERIAL_8250_CONSOLE=y CONFIG_DEVTMPFS=y CONFIG_RD_GZIP=y CONFIG_PCI=y; do
  grep -qx "$opt" "$CONFIG" || { echo "kernel config lacks $opt: $(grep "^${opt%%=*}=" "$CONFIG" || echo unset)"; exit 1; }
done

# ---------------------------------------------------------------- modules
# Only what the test needs: QEMU's PIIX3 UHCI (the devices are full speed, as a USB 1.1 guest sees
# them), QEMU's EHCI for the high-speed disk (loaded after uhci-hcd, so the UHCI stays bus 1 and the
# EHCI is bus 2), the virtio NIC for user-mode networking, usbip-host. The hub driver is in usbcore.
TOP="usb-common usbcore uhci-hcd ehci-pci usbip-core usbip-host virtio_pci virtio_net ${EXTRA_MODULES:-}"
# shellcheck disable=SC2086
$TOOLS moddeps "$MODDIR" $TOP > "$W/modules.load"
log "modules: $(sed 's#.*/##' "$W/modules.load" | tr '\n' ' ')"

# ---------------------------------------------------------------- rootfs
log "assembling initramfs tree"
rm -rf "$R"
mkdir -p "$R"/{bin,sbin,dev,proc,sys,tmp,etc,root,run,var/run,usr/sbin,usr/share/misc,lib/x86_64-linux-gnu,lib64}
cp "$X/bin/busybox" "$R/bin/busybox"
for a in $("$X/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$R/bin/$a"; done
cp "$X/usr/sbin/usbip" "$X/usr/sbin/usbipd" "$R/usr/sbin/"
cp "$X/var/lib/usbutils/usb.ids" "$R/usr/share/misc/usb.ids"  # usr/share/misc/usb.ids is an absolute symlink to it
findlib() { local d; for d in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do
  [ -e "$X/$d/$1" ] && { echo "$X/$d/$1"; return 0; }; done
  echo "MISSING library $1 (add its package to PINNED)" >&2; return 1; }
todo="$R/usr/sbin/usbip $R/usr/sbin/usbipd"; done_libs=""
while [ -n "$todo" ]; do
  # shellcheck disable=SC2086
  set -- $todo; f=$1; shift; todo="$*"
  for l in $($TOOLS needed "$f"); do
    case " $done_libs " in *" $l "*) continue;; esac
    done_libs="$done_libs $l"
    src=$(findlib "$l") || exit 1
    cp -L "$src" "$R/lib/x86_64-linux-gnu/$l"
    todo="$todo $R/lib/x86_64-linux-gnu/$l"
  done
done
cp -L "$X/lib64/ld-linux-x86-64.so.2" "$R/lib64/"
echo "libraries:$done_libs + ld-linux-x86-64.so.2"
# The host is amd64 too: as root, smoke-test the extracted binaries with the extracted libc.
if [ "$(id -u)" = 0 ] && [ "$(uname -m)" = x86_64 ]; then
  chroot "$R" /usr/sbin/usbipd --version
  chroot "$R" /usr/sbin/usbip version
fi
while read -r m; do
  mkdir -p "$R/lib/modules/$KVER/$(dirname "$m")"; cp "$MODDIR/$m" "$R/lib/modules/$KVER/$m"
done < "$W/modules.load"
cp "$W/modules.load" "$R/etc/modules.load"
echo "$KVER" > "$R/etc/kver"
cp "$HERE/init" "$R/init"; chmod 755 "$R/init"
# hosts.allow/deny absent = libwrap allows everyone
echo "127.0.0.1 localhost" > "$R/etc/hosts"

log "packing"
find "$R" -exec touch -h -d @0 {} +
# busybox's own cpio (from the extracted busybox-static), so the host needs no cpio
( cd "$R" && find . | LC_ALL=C sort | "$X/bin/busybox" cpio -o -H newc -R 0:0 --ignore-devno --renumber-inodes 2>/dev/null \
    | gzip -9n > "$OUT/initrd.gz.new" )
mv "$OUT/initrd.gz.new" "$OUT/initrd.gz"
cp "$X/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
# The bzImage's payload is xz-compressed; decompressing it under TCG costs ~3 s per boot. The kernel
# has CONFIG_PVH=y, so QEMU boots the uncompressed ELF directly (-kernel vmlinux, PVH entry point).
# Optional: without python3 or xz the harness boots vmlinuz.
rm -f "$OUT/vmlinux"
if grep -qx CONFIG_PVH=y "$CONFIG"; then
  at=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$OUT/vmlinuz" 2>/dev/null | head -n1 | cut -d: -f1 || true)
  if [ -n "$at" ] && command -v xz >/dev/null; then
    tail -c +$((at + 1)) "$OUT/vmlinuz" | xz -dc --single-stream > "$OUT/vmlinux.new" 2>/dev/null || true
  fi
  if [ -s "$OUT/vmlinux.new" ] && [ "$(head -c 4 "$OUT/vmlinux.new" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
    mv "$OUT/vmlinux.new" "$OUT/vmlinux"
  else
    rm -f "$OUT/vmlinux.new"; echo "no xz: the harness boots the compressed vmlinuz (~3 s slower)"
  fi
fi

# usb-storage backing file: 8 MiB, sector 0 "USBIP-PEER TEST DISK, LBA 0", sector n "LBA n".
# The harness attaches it with snapshot=on, so a guest's writes never reach it.
[ -f "$OUT/disk.img" ] || $TOOLS disk "$OUT/disk.img"

{ echo "# built $(date -u +%FT%TZ) by test/usbip/peer/build.sh"; printf '%s\n' "${PINNED[@]}"
  echo "host qemu-system-x86: $(dpkg-query -W -f '${Version}' qemu-system-x86 2>/dev/null || echo 'not installed')"
  echo "modules:"; sed 's/^/  /' "$W/modules.load"; } > "$OUT/VERSIONS.txt"
cat "$HERE/build.sh" "$HERE/init" "$HERE/tools.mjs" | sha256sum | cut -d' ' -f1 > "$OUT/.build-id"
ls -l "$OUT"
sha256sum "$OUT/initrd.gz" "$OUT/vmlinuz" "$OUT/disk.img"
