#!/bin/bash
# Rebuilds the uhci test guest (kernel, initramfs, SeaBIOS) from pinned Debian
# bookworm packages. Run as root on Debian 12 (network needed for apt only).
#
#   guest-image/build.sh                     build dist/ from the pins in manifest.json
#   guest-image/build.sh --update-manifest   download the current candidates and
#                                            rewrite manifest.json (then build)
#
# Environment:
#   OUT=dir          output folder (default: guest-image/dist)
#   WORK=dir         scratch folder (default: /tmp/uhci-guest-build)
#   DEB_CACHE=dir    where .debs are looked up / downloaded (default: $WORK/debs);
#                    a .deb already there with the pinned sha256 is not downloaded again
#   NO_APT_UPDATE=1  skip "apt-get update"
#   STRIP_SIG=0      keep the modules' signatures (default 1: strip them)
#   COMPRESS=zstd|xz|gzip|lz4   initramfs compression (default zstd: measured in
#                    v86 as the best size/boot-time trade-off, see README.md)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST=$HERE/manifest.json
OUT=${OUT:-$HERE/dist}
WORK=${WORK:-/tmp/uhci-guest-build}
DEB_CACHE=${DEB_CACHE:-$WORK/debs}
MODE=build
[ "${1:-}" = "--update-manifest" ] && MODE=update

# Fixed timestamp for every file in the initramfs (reproducible cpio).
SOURCE_DATE_EPOCH=1700000000
export SOURCE_DATE_EPOCH

# Modules to load; dependencies (from each module's .modinfo depends=) are added
# and ordered before their users. The host controller comes last so that the
# device drivers are ready when the devices enumerate.
WANTED_MODULES=(usb-common usbcore evdev hid usbhid hid-generic
    soundcore snd snd-timer snd-pcm snd-hwdep snd-seq-device snd-rawmidi
    snd-usbmidi-lib mc snd-usb-audio
    usb-storage sd-mod vfat nls-cp437 nls-ascii nls-utf8
    uhci-hcd)
# Module parameters, written after the name in /etc/modules.order (insmod takes them).
# usb-storage waits delay_use (1 s) after a stick enumerates before it scans it, for slow real
# sticks; the emulated one answers at once, and the wait is a second of every run with a stick.
declare -A MODULE_ARGS=([usb-storage]="delay_use=0")
# The bootable stick (stick.img, built from stick-template.img.gz + the kernel and initramfs at run
# time): a 16 MiB disk, an MBR with one active FAT16 partition from sector 2048, SYSLINUX on it.
STICK_MIB=16
STICK_PART_LBA=2048
# What /init runs when SeaBIOS booted the stick (the stick's own kernel and initramfs are read back).
STICK_PLAN="enum,mount:ro,sha:bzimage,sha:initrd.zst,umount"

# Packages for --update-manifest (name:arch; "all" = architecture-independent).
# The kernel's ABI name is resolved from linux-image-686:i386.
UPDATE_PACKAGES=(KERNEL:i386 busybox-static:i386 alsa-utils:i386 libasound2:i386
    libasound2-data:all libc6:i386 seabios:all syslinux:amd64 syslinux-common:all)

die() { echo "build.sh: ERROR: $*" >&2; exit 1; }
say() { echo "build.sh: $*" >&2; }

[ "$(id -u)" = 0 ] || die "run as root (needs apt-get and mknod)"
grep -q '^12' /etc/debian_version 2>/dev/null || say "warning: not Debian 12 ($(cat /etc/debian_version 2>/dev/null || echo unknown))"

# ------------------------------------------------------------------ host tools
need_pkgs=()
command -v dpkg-deb >/dev/null || die "dpkg-deb missing"
command -v cpio >/dev/null || need_pkgs+=(cpio)
command -v xz >/dev/null || need_pkgs+=(xz-utils)
command -v gzip >/dev/null || need_pkgs+=(gzip)
COMPRESS=${COMPRESS:-zstd}
case "$COMPRESS" in
    zstd) command -v zstd >/dev/null || need_pkgs+=(zstd) ;;
    lz4) command -v lz4 >/dev/null || need_pkgs+=(lz4) ;;
    xz|gzip) ;;
    *) die "COMPRESS must be zstd, xz, gzip or lz4" ;;
esac
command -v gcc >/dev/null || need_pkgs+=(gcc)
command -v objcopy >/dev/null || need_pkgs+=(binutils)
command -v sha256sum >/dev/null || need_pkgs+=(coreutils)
# The bootable stick: a FAT file system (dosfstools), files put on it and SYSLINUX installed (mtools,
# which the pinned syslinux installer runs), its files located in the image (python3).
command -v mkfs.fat >/dev/null || need_pkgs+=(dosfstools)
command -v mcopy >/dev/null || need_pkgs+=(mtools)
command -v python3 >/dev/null || need_pkgs+=(python3)

if ! dpkg --print-foreign-architectures | grep -qx i386; then
    say "adding architecture i386"
    dpkg --add-architecture i386
fi
if [ "${NO_APT_UPDATE:-0}" != 1 ]; then
    say "apt-get update"
    apt-get update -qq || say "warning: apt-get update reported errors (continuing; a missing pin fails below)"
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
    say "installing host tools: ${need_pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

mkdir -p "$DEB_CACHE" "$OUT"
chmod 755 "$DEB_CACHE" 2>/dev/null || true

# ------------------------------------------------------------------ manifest
# manifest.json: {"packages": [{"name", "arch", "version", "sha256", "file"}, ...]}.
# Parsed without jq/python: the package objects hold no nested braces, so
# joining all lines and breaking after each "}" gives one object per line,
# whatever the formatting (e.g. after a JSON formatter ran over the file).
manifest_objects() {
    tr -d '\n\r' < "$MANIFEST" | sed 's/}/}\n/g' | sed -n 's/.*\({[^{}]*"name"[^{}]*}\).*/\1/p'
}
manifest_field() { # object-line field
    sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" <<<"$1"
}

download() { # name arch [version] -> prints the .deb path
    local name=$1 arch=$2 ver=${3:-} spec
    if [ "$arch" = all ]; then spec=$name; else spec=$name:$arch; fi
    [ -n "$ver" ] && spec="$spec=$ver"
    (cd "$DEB_CACHE" && apt-get download -q "$spec" >&2) ||
        die "cannot download $spec. If the pinned version left the archive (Debian keeps only the newest point release), either put the pinned .deb into DEB_CACHE=$DEB_CACHE (from a snapshot archive) or run with --update-manifest to pin the current versions."
    # apt-get names files name_version(with epoch as %3a)_arch.deb
    ls -t "$DEB_CACHE"/"${name}"_*_"${arch}".deb | head -n1
}

if [ "$MODE" = update ]; then
    kabi=$(apt-cache depends linux-image-686:i386 | sed -n 's/.*Depends: \(linux-image-6[^ :]*-686\).*/\1/p' | head -n1)
    [ -n "$kabi" ] || die "cannot resolve the kernel package from linux-image-686:i386"
    say "kernel package: $kabi"
    tmp=$(mktemp)
    {
        echo "{"
        echo "  \"comment\": \"Pinned Debian bookworm packages for the uhci test guest; written by build.sh --update-manifest. build.sh checks every download against name, version, arch and sha256.\","
        echo "  \"suite\": \"bookworm\","
        echo "  \"packages\": ["
        first=1
        for p in "${UPDATE_PACKAGES[@]}"; do
            name=${p%%:*}; arch=${p##*:}
            [ "$name" = KERNEL ] && name=$kabi
            rm -f "$DEB_CACHE"/"${name}"_*_"${arch}".deb
            deb=$(download "$name" "$arch")
            ver=$(dpkg-deb -f "$deb" Version)
            sum=$(sha256sum "$deb" | cut -d' ' -f1)
            [ $first = 1 ] || echo ","
            first=0
            printf '    {\n      "name": "%s",\n      "arch": "%s",\n      "version": "%s",\n      "sha256": "%s",\n      "file": "%s"\n    }' \
                "$name" "$arch" "$ver" "$sum" "$(basename "$deb")"
        done
        echo
        echo "  ]"
        echo "}"
    } > "$tmp"
    mv "$tmp" "$MANIFEST"
    chmod 644 "$MANIFEST"
    say "wrote $MANIFEST"
fi

[ -f "$MANIFEST" ] || die "no $MANIFEST (run with --update-manifest)"

# ------------------------------------------------------------------ fetch + verify
rm -rf "$WORK/root" "$WORK/x"
mkdir -p "$WORK/x"
KPKG=""
PKG_SOURCES=()
while IFS= read -r line; do
    name=$(manifest_field "$line" name); arch=$(manifest_field "$line" arch)
    ver=$(manifest_field "$line" version); sum=$(manifest_field "$line" sha256)
    file=$(manifest_field "$line" file)
    [ -n "$name" ] && [ -n "$arch" ] && [ -n "$ver" ] && [ -n "$sum" ] || die "bad manifest line: $line"
    deb="$DEB_CACHE/$file"
    if [ -n "$file" ] && [ -f "$deb" ] && [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sum" ]; then
        say "cached  $name $ver"
    else
        say "fetch   $name:$arch=$ver"
        rm -f "$DEB_CACHE"/"${name}"_*_"${arch}".deb
        deb=$(download "$name" "$arch" "$ver")
    fi
    got_name=$(dpkg-deb -f "$deb" Package); got_ver=$(dpkg-deb -f "$deb" Version)
    got_arch=$(dpkg-deb -f "$deb" Architecture); got_sum=$(sha256sum "$deb" | cut -d' ' -f1)
    [ "$got_name" = "$name" ] || die "$deb: package is $got_name, manifest pins $name"
    [ "$got_ver" = "$ver" ] || die "$name: downloaded version $got_ver, manifest pins $ver"
    [ "$got_arch" = "$arch" ] || die "$name: architecture $got_arch, manifest pins $arch"
    [ "$got_sum" = "$sum" ] || die "$name $ver: sha256 $got_sum, manifest pins $sum"
    dpkg-deb -x "$deb" "$WORK/x"
    case "$name" in linux-image-*) KPKG=$name ;; esac
    # The Debian source package it was built from, for LICENSES.md: "Source: name (version)" when the
    # binary's name or version differs (binNMUs, signed kernels), "Source: name", or nothing.
    src_field=$(dpkg-deb -f "$deb" Source)
    src_name=${src_field%% *}; src_name=${src_name:-$name}
    src_ver=$(printf '%s' "$src_field" | sed -n 's/.*(\(.*\)).*/\1/p'); src_ver=${src_ver:-$ver}
    PKG_SOURCES+=("$name|$ver|$arch|$src_name|$src_ver")
done < <(manifest_objects)
[ -n "$KPKG" ] || die "manifest has no linux-image package"

X=$WORK/x
KVER=$(ls "$X/lib/modules" | head -n1)
[ -n "$KVER" ] || die "no kernel modules in $KPKG"
say "kernel $KVER"
grep -q '^# CONFIG_MODULE_SIG_FORCE is not set' "$X/boot/config-$KVER" || say "warning: CONFIG_MODULE_SIG_FORCE set?"

# ------------------------------------------------------------------ initramfs tree
R=$WORK/root
mkdir -p "$R"/{bin,sbin,etc,proc,sys,dev,tmp,root,usr/bin,usr/sbin,lib/i386-linux-gnu,usr/lib/i386-linux-gnu,lib/modules/"$KVER"}
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
mknod -m 600 "$R/dev/ttyS0" c 4 64
# Users and groups: ALSA's default device (dmix/dsnoop, alsa.conf) shares its ring buffer with
# ipc_gid "audio", and refuses to open without that group ("The field ipc_gid must be a valid group").
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
printf 'root:x:0:\naudio:x:29:\n' > "$R/etc/group"

# busybox + applet links
install -m 755 "$X/bin/busybox" "$R/bin/busybox"
applets=$("$R/bin/busybox" --list) || die "cannot run the i386 busybox on this host (needs IA32 emulation) to list its applets"
for a in $applets; do
    [ "$a" = busybox ] && continue
    [ -e "$R/bin/$a" ] || ln -s busybox "$R/bin/$a"
done

# alsa-utils and the libraries it needs
install -m 755 "$X/usr/bin/aplay" "$R/usr/bin/aplay"
ln -s aplay "$R/usr/bin/arecord"
install -m 755 "$X/usr/bin/amixer" "$R/usr/bin/amixer"
copy_lib() { # soname -> copies it (resolving symlinks) from the extracted packages
    local so=$1 d
    for d in lib/i386-linux-gnu usr/lib/i386-linux-gnu; do
        if [ -e "$X/$d/$so" ]; then
            cp -L "$X/$d/$so" "$R/$d/$so"
            return 0
        fi
    done
    die "library $so not found in the extracted packages"
}
declare -A seen_lib=()
queue=("$R/usr/bin/aplay" "$R/usr/bin/amixer")
while [ ${#queue[@]} -gt 0 ]; do
    f=${queue[0]}; queue=("${queue[@]:1}")
    for so in $(objdump -p "$f" | sed -n 's/^ *NEEDED *//p'); do
        [ -n "${seen_lib[$so]:-}" ] && continue
        seen_lib[$so]=1
        copy_lib "$so"
        for d in lib/i386-linux-gnu usr/lib/i386-linux-gnu; do
            [ -e "$R/$d/$so" ] && queue+=("$R/$d/$so")
        done
    done
done
interp=$(readelf -l "$R/usr/bin/aplay" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ "$interp" = /lib/ld-linux.so.2 ] || die "unexpected ELF interpreter '$interp'"
[ -e "$R/lib/i386-linux-gnu/ld-linux.so.2" ] || copy_lib ld-linux.so.2
ln -s i386-linux-gnu/ld-linux.so.2 "$R/lib/ld-linux.so.2"
LIBS=$(cd "$R" && find lib usr/lib -name '*.so*' | sort | tr '\n' ' ')
say "libraries: $LIBS"

# ALSA configuration (amixer fails without ctl/default.conf)
A=usr/share/alsa
mkdir -p "$R/$A/cards" "$R/$A/pcm" "$R/$A/ctl"
cp "$X/$A/alsa.conf" "$R/$A/"
cp "$X/$A/cards/aliases.conf" "$X/$A/cards/USB-Audio.conf" "$R/$A/cards/"
cp "$X/$A"/pcm/*.conf "$R/$A/pcm/"
cp "$X/$A/ctl/default.conf" "$R/$A/ctl/"

# uhcitool (freestanding i386 helper: test signal, evdev reader, clock)
gcc -m32 -march=i686 -ffreestanding -nostdlib -static -Os -fno-pie -no-pie \
    -fno-stack-protector -fno-asynchronous-unwind-tables -Wl,--build-id=none -s \
    -Wall -Wextra -o "$R/bin/uhcitool" "$HERE/uhcitool.c"
GCCVER=$(gcc -dumpfullversion 2>/dev/null || gcc -dumpversion)

# kernel modules + load order
MD=$X/lib/modules/$KVER/kernel
declare -A modfile=() moddeps=() placed=()
find_mod() { # name -> path
    local n=$1 alt=${1//-/_} f
    f=$(find "$MD" \( -name "$n.ko" -o -name "$alt.ko" \) | head -n1)
    [ -n "$f" ] || die "module $n not found in $KPKG"
    echo "$f"
}
mod_deps() { # path -> comma separated depends=
    objcopy -O binary --only-section=.modinfo "$1" /dev/stdout | tr '\0' '\n' | sed -n 's/^depends=//p'
}
ORDER=()
visit() { # name
    local n=${1//_/-} d
    [ "${placed[$n]:-}" = visiting ] && die "module dependency cycle at $n"
    [ -n "${placed[$n]:-}" ] && return 0
    placed[$n]=visiting
    modfile[$n]=$(find_mod "$n")
    moddeps[$n]=$(mod_deps "${modfile[$n]}")
    for d in ${moddeps[$n]//,/ }; do
        visit "$d"
    done
    placed[$n]=1
    ORDER+=("$n")
}
for m in "${WANTED_MODULES[@]}"; do visit "$m"; done
: > "$R/etc/modules.order"
# Strip the appended module signatures (default): the kernel has
# CONFIG_MODULE_SIG_FORCE unset and lockdown off, so unsigned modules load (the
# kernel is tainted 'E'); skipping the RSA/SHA-256 checks saves ~0.5 s of v86 boot.
STRIP_SIG=${STRIP_SIG:-1}
strip_sig() { # file: remove "<sig><struct module_signature (12 bytes)>~Module signature appended~\n"
    local f=$1 size siglen
    [ "$(tail -c 28 "$f")" = "~Module signature appended~" ] || return 0
    size=$(stat -c %s "$f")
    siglen=$(tail -c 32 "$f" | head -c 4 | od -An -tu1 | awk '{print $1*16777216+$2*65536+$3*256+$4}')
    [ "$siglen" -gt 0 ] && [ "$siglen" -lt 4096 ] || die "$f: odd signature length $siglen"
    truncate -s $((size - siglen - 40)) "$f"
}
for n in "${ORDER[@]}"; do
    cp "${modfile[$n]}" "$R/lib/modules/$KVER/$n.ko"
    [ "$STRIP_SIG" = 1 ] && strip_sig "$R/lib/modules/$KVER/$n.ko"
    echo "$n${MODULE_ARGS[$n]:+ ${MODULE_ARGS[$n]}}" >> "$R/etc/modules.order"
    say "module $n (depends=${moddeps[$n]})"
done
# sanity: every module's dependencies come before it
pos=0
declare -A at=()
for n in "${ORDER[@]}"; do at[$n]=$pos; pos=$((pos + 1)); done
for n in "${ORDER[@]}"; do
    for d in ${moddeps[$n]//,/ }; do
        d=${d//_/-}
        [ "${at[$d]}" -lt "${at[$n]}" ] || die "order broken: $d after $n"
    done
done

install -m 755 "$HERE/init" "$R/init"

# build info inside the image
{
    echo "{"
    echo "  \"kernel\": \"$KVER\","
    echo "  \"kernelPackage\": \"$KPKG\","
    echo "  \"modules\": [$(printf '"%s",' "${ORDER[@]}" | sed 's/,$//')],"
    echo "  \"uhcitoolGcc\": \"$GCCVER\""
    echo "}"
} > "$R/etc/uhci-guest.json"

# ------------------------------------------------------------------ pack
find "$R" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$R" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0 --reproducible) > "$WORK/initramfs.cpio"
rm -f "$OUT"/initramfs.cpio.* "$OUT"/stick-template.img.gz "$OUT"/stick.json
case "$COMPRESS" in
    zstd) INITRD=initramfs.cpio.zst
        zstd -q -19 -T1 --no-progress -c "$WORK/initramfs.cpio" > "$OUT/$INITRD"
        COMPRESSOR=$(zstd --version) ;;
    xz) INITRD=initramfs.cpio.xz
        # kernel xz decoder: CRC32 check only; small dictionary for the guest
        xz -T1 --check=crc32 --lzma2=preset=9e,dict=4MiB -c "$WORK/initramfs.cpio" > "$OUT/$INITRD"
        COMPRESSOR=$(xz --version | head -n1) ;;
    gzip) INITRD=initramfs.cpio.gz
        gzip -9 -n -c "$WORK/initramfs.cpio" > "$OUT/$INITRD"
        COMPRESSOR=$(gzip --version | head -n1) ;;
    lz4) INITRD=initramfs.cpio.lz4
        lz4 -l -12 -q -c "$WORK/initramfs.cpio" > "$OUT/$INITRD"
        COMPRESSOR=$(lz4 --version) ;;
esac
grep -q "^CONFIG_RD_$(echo "$COMPRESS" | tr a-z A-Z)=y" "$X/boot/config-$KVER" ||
    die "kernel lacks CONFIG_RD_ for $COMPRESS"

cp "$X/boot/vmlinuz-$KVER" "$OUT/bzImage"
cp "$X/usr/share/seabios/bios.bin" "$OUT/bios.bin"
cp "$X/usr/share/seabios/vgabios-stdvga.bin" "$OUT/vgabios-stdvga.bin"
find "$OUT" -maxdepth 1 -type f -exec chmod 644 {} +

# Licence notices of the GPL/LGPL parts: LICENSES.md (source packages and versions), the Debian
# copyright files and the licence texts (see licenses.sh).
rm -rf "$OUT/licenses"
printf '%s\n' "${PKG_SOURCES[@]}" | STRICT=1 "$HERE/licenses.sh" "$OUT" "$X"

CMDLINE="console=ttyS0 quiet cryptomgr.notests noisapnp tsc=reliable no_timer_check nowatchdog nmi_watchdog=0 random.trust_cpu=on mitigations=off uhci.plan=enum"

# ------------------------------------------------------------------ bootable stick (stick-template.img.gz)
# SeaBIOS boots it through its own UHCI and USB mass-storage drivers (issue 12): mbr.bin (syslinux-common)
# loads the active partition's boot sector, which SYSLINUX's installer wrote with ldlinux.sys; SYSLINUX
# loads bzimage + initrd.zst and starts /init with STICK_PLAN. The kernel and initramfs are the two
# biggest files in dist/ already, so the template carries zeros where they go (a few KB gzipped) and
# stick.json says where: the run time copies them in and checks the whole image's sha256.
say "bootable stick"
S=$WORK/stick
rm -rf "$S"; mkdir -p "$S"
IMG=$S/stick.img
PART_BYTES=$(( (STICK_MIB * 1048576) - STICK_PART_LBA * 512 ))
truncate -s $((STICK_MIB * 1048576)) "$IMG"
# FAT16, fixed volume id and label (reproducible); hidden sectors = the partition's start (the boot
# sector's BPB says where it sits on the disk, which SYSLINUX's boot sector needs to find ldlinux.sys).
mkfs.fat -F 16 -n UHCISTICK -i 55484349 -h "$STICK_PART_LBA" --offset "$STICK_PART_LBA" "$IMG" $((PART_BYTES / 1024)) >/dev/null
# MBR: SYSLINUX's mbr.bin (440 bytes of code), a fixed disk signature, one active partition of type 0x0e
# (FAT16, LBA), CHS fields for 255 heads x 63 sectors, the 0x55AA signature.
dd if="$X/usr/lib/syslinux/mbr/mbr.bin" of="$IMG" bs=440 count=1 conv=notrunc status=none
python3 - "$IMG" "$STICK_PART_LBA" $((PART_BYTES / 512)) <<'PY'
import struct, sys
path, start, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def chs(lba):
    c, rem = divmod(lba, 255 * 63)
    h, s = divmod(rem, 63)
    c = min(c, 1023)
    return bytes([h, ((c >> 2) & 0xC0) | (s + 1), c & 0xFF])
entry = bytes([0x80]) + chs(start) + bytes([0x0E]) + chs(start + count - 1) + struct.pack("<II", start, count)
with open(path, "r+b") as f:
    f.seek(440); f.write(struct.pack("<IH", 0x55484349, 0))
    f.seek(446); f.write(entry + bytes(48))
    f.seek(510); f.write(b"\x55\xaa")
PY
OFF=$((STICK_PART_LBA * 512))
STICK_CMDLINE="${CMDLINE% uhci.plan=*} uhci.plan=$STICK_PLAN uhci.boot=stick"
cat > "$S/syslinux.cfg" <<CFG
SERIAL 0 115200
PROMPT 0
TIMEOUT 0
DEFAULT linux
LABEL linux
  KERNEL /bzimage
  INITRD /initrd.zst
  APPEND $STICK_CMDLINE
CFG
cp "$OUT/bzImage" "$S/bzimage"
cp "$OUT/$INITRD" "$S/initrd.zst"
touch -d "@$SOURCE_DATE_EPOCH" "$S/syslinux.cfg" "$S/bzimage" "$S/initrd.zst"
export MTOOLS_SKIP_CHECK=1
# SYSLINUX first (ldlinux.sys, ldlinux.c32, the boot sector), then the files, each written contiguously
# into the fresh file system.
"$X/usr/bin/syslinux" --offset "$OFF" --install "$IMG"
for f in syslinux.cfg bzimage initrd.zst; do
    mcopy -m -i "$IMG@@$OFF" "$S/$f" "::/$f"
done
# Where each big file's bytes sit in the image (its cluster chain must be one run), checked byte for
# byte, then zeroed in the template.
python3 - "$IMG" "$OFF" "$S" "$OUT/stick.json" "bzimage=bzImage" "initrd.zst=$INITRD" <<'PY'
import hashlib, json, struct, subprocess, sys
img, off, sdir, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
data = bytearray(open(img, "rb").read())
bps, spc, reserved, nfats, rootents = struct.unpack_from("<HBHBH", data, off + 11)
fatsz = struct.unpack_from("<H", data, off + 22)[0]
first_data = off + (reserved + nfats * fatsz) * bps + rootents * 32
cluster = bps * spc
full = hashlib.sha256(data).hexdigest()
files = []
for spec in sys.argv[5:]:
    name, source = spec.split("=")
    chain = subprocess.run(["mshowfat", "-i", f"{img}@@{off}", f"::/{name}"], check=True,
                           capture_output=True, text=True, env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    runs = chain.split("<", 1)[1].split(">", 1)[0].split(",")
    if len(runs) != 1:
        sys.exit(f"build.sh: {name} is fragmented on the stick: {chain.strip()}")
    first = int(runs[0].split("-")[0])
    content = open(f"{sdir}/{name}", "rb").read()
    at = first_data + (first - 2) * cluster
    if bytes(data[at:at + len(content)]) != content:
        sys.exit(f"build.sh: {name} is not at byte {at} of the stick")
    data[at:at + len(content)] = bytes(len(content))
    files.append({"name": name, "source": source, "offset": at, "bytes": len(content),
                  "sha256": hashlib.sha256(content).hexdigest()})
open(img + ".template", "wb").write(data)
json.dump({"image": "stick.img", "bytes": len(data), "sha256": full, "template": "stick-template.img.gz",
           "partitionOffset": off, "files": files}, open(out, "w"), indent=2)
open(out, "a").write("\n")
PY
gzip -9 -n -c "$IMG.template" > "$OUT/stick-template.img.gz"
say "stick: $(stat -c %s "$OUT/stick-template.img.gz") bytes gzipped, $(mdir -i "$IMG@@$OFF" -b :: | tr '\n' ' ')"

{
    echo "{"
    echo "  \"kernel\": \"$KVER\","
    echo "  \"kernelPackage\": \"$KPKG\","
    echo "  \"initramfsBytesUncompressed\": $(stat -c %s "$WORK/initramfs.cpio"),"
    echo "  \"modules\": [$(printf '"%s",' "${ORDER[@]}" | sed 's/,$//')],"
    echo "  \"libraries\": [$(printf '"%s",' $LIBS | sed 's/,$//')],"
    echo "  \"uhcitoolGcc\": \"$GCCVER\","
    echo "  \"initramfs\": \"$INITRD\","
    echo "  \"compressor\": \"$COMPRESSOR\","
    echo "  \"recommendedCmdline\": \"$CMDLINE\","
    echo "  \"files\": {"
    first=1
    for f in bzImage $INITRD bios.bin vgabios-stdvga.bin stick-template.img.gz stick.json; do
        [ $first = 1 ] || echo ","
        first=0
        printf '    "%s": {"bytes": %s, "sha256": "%s"}' "$f" "$(stat -c %s "$OUT/$f")" "$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
    done
    echo
    echo "  }"
    echo "}"
} > "$OUT/build-info.json"
(cd "$OUT" && sha256sum bzImage $INITRD bios.bin vgabios-stdvga.bin stick-template.img.gz stick.json > SHA256SUMS)
say "done:"
(cd "$OUT" && ls -l bzImage $INITRD bios.bin vgabios-stdvga.bin stick-template.img.gz stick.json && cat SHA256SUMS) >&2
