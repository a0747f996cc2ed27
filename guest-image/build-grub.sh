#!/bin/bash
# Builds the GRUB test guest: a 1.44 MB floppy that boots GRUB 2.06 (Debian bookworm's i386-pc build)
# with GRUB's own UHCI, USB hub, mass-storage and keyboard drivers, and a script that lists the USB
# disks, reads /GRUB.TXT from each (sha256 and contents) and /GRUB.BIN (sha256), reads a line typed on a USB keyboard and
# prints every step on the serial console. test/integration/v86-grub-stick.test.ts boots it in v86.
#
#   guest-image/build-grub.sh          -> guest-image/dist/grub-floppy.img.gz (+ LICENSES-grub.md)
#
# Why a floppy: Debian builds no i386-multiboot GRUB (the platform v86's `multiboot` option could
# start directly), so the i386-pc core image is booted the BIOS way; SeaBIOS boots a floppy without
# anything else, and GRUB is built without `biosdisk`, so every disk it lists comes through its own
# USB drivers, none through the BIOS.
#
# Run as root on Debian 12 (network for `apt-get download` only); nothing is installed: the two
# pinned .debs (grub-manifest.json: name, version, arch, sha256) are unpacked into WORK and their
# grub-mkimage and module directory used from there. The output is reproducible (grub-mkimage writes
# no time stamp, the memdisk tar has fixed owners and mtimes, gzip -n).
#
# Environment: OUT= (default guest-image/dist), WORK= (default /tmp/uhci-grub-build),
# DEB_CACHE= (default $WORK/debs; a .deb already there with the pinned sha256 is used as it is).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MANIFEST=$HERE/grub-manifest.json
OUT=${OUT:-$HERE/dist}
WORK=${WORK:-/tmp/uhci-grub-build}
DEB_CACHE=${DEB_CACHE:-$WORK/debs}
SOURCE_DATE_EPOCH=1700000000
export SOURCE_DATE_EPOCH

# The modules in the core image (their dependencies are added by grub-mkimage from moddep.lst).
# No biosdisk: GRUB must reach the stick through uhci + usb (+ its hub driver) + usbms only.
MODULES=(uhci usb usbms usb_keyboard usbtest part_msdos fat serial terminfo memdisk tar normal
    echo test cat ls hashsum gcry_sha256 read sleep)

die() { echo "build-grub.sh: ERROR: $*" >&2; exit 1; }
say() { echo "build-grub.sh: $*" >&2; }

[ -f "$MANIFEST" ] || die "no $MANIFEST"
mkdir -p "$DEB_CACHE"
rm -rf "$WORK/x" "$WORK/memdisk"
mkdir -p "$WORK/x" "$WORK/memdisk/boot/grub"

# ------------------------------------------------------------------ fetch + verify the pinned .debs
# grub-manifest.json holds one object per package, each on its own lines, without nested braces.
field() { sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" <<<"$1"; }
PKGS=()
while IFS= read -r obj; do
    name=$(field "$obj" name); arch=$(field "$obj" arch); ver=$(field "$obj" version)
    sum=$(field "$obj" sha256); file=$(field "$obj" file)
    [ -n "$name" ] && [ -n "$arch" ] && [ -n "$ver" ] && [ -n "$sum" ] && [ -n "$file" ] ||
        die "bad manifest entry: $obj"
    deb=$DEB_CACHE/$file
    if [ -f "$deb" ] && [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sum" ]; then
        say "cached  $name $ver"
    else
        say "fetch   $name:$arch=$ver"
        rm -f "$deb"
        (cd "$DEB_CACHE" && apt-get download -q "$name:$arch=$ver" >&2) ||
            die "cannot download $name:$arch=$ver (Debian keeps only the newest point release: put the pinned .deb into DEB_CACHE=$DEB_CACHE, e.g. from snapshot.debian.org, or re-pin grub-manifest.json)"
    fi
    [ "$(dpkg-deb -f "$deb" Package)" = "$name" ] || die "$deb is not $name"
    [ "$(dpkg-deb -f "$deb" Version)" = "$ver" ] || die "$name: version $(dpkg-deb -f "$deb" Version), pinned $ver"
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || die "$name: not $arch"
    [ "$(sha256sum "$deb" | cut -d' ' -f1)" = "$sum" ] || die "$name $ver: sha256 differs from the pin"
    dpkg-deb -x "$deb" "$WORK/x"
    PKGS+=("$name|$ver|$arch")
done < <(tr -d '\n\r' < "$MANIFEST" | sed 's/}/}\n/g' | sed -n 's/.*\({[^{}]*"name"[^{}]*}\).*/\1/p')
[ ${#PKGS[@]} -gt 0 ] || die "no packages in $MANIFEST"

MKIMAGE=$WORK/x/usr/bin/grub-mkimage
MODDIR=$WORK/x/usr/lib/grub/i386-pc
[ -x "$MKIMAGE" ] || die "grub-mkimage missing from grub-common"
[ -f "$MODDIR/boot.img" ] || die "boot.img missing from grub-pc-bin"

# ------------------------------------------------------------------ the script GRUB runs
# Lines starting "@@GRUB" are what the test parses; everything else on the console is GRUB's own
# output (the `usb` and `ls` listings, hashsum's "<sha256>  <file>", the file's bytes). GRUB.BIN, when
# a stick has one, is only hashed: a larger file (many READ(10) sectors) whose bytes are not text.
# `terminal_input --append`: GRUB's uhci module enumerates the root ports when it loads, before this
# script runs, and a USB keyboard found then is already an active input; a plain `terminal_input
# serial` switched it off again (GRUB got its first key report and never polled it again), while one
# behind a hub, found later by the `usb` command, stayed active.
cat > "$WORK/memdisk/boot/grub/grub.cfg" <<'EOF'
serial --unit=0 --speed=115200
terminal_input --append serial
terminal_output serial
terminfo -g 200x50 serial dumb
echo "@@GRUB begin"
echo "@@GRUB usb-list"
usb
echo "@@GRUB ls"
ls
echo "@@GRUB ls-end"
for dev in usb0 usb1 usb2 usb3 usb4 usb5; do
  for part in "$dev,msdos1" "$dev"; do
    if test -f "($part)/GRUB.TXT"; then
      echo "@@GRUB file $part"
      hashsum --hash sha256 "($part)/GRUB.TXT"
      echo "@@GRUB cat $part"
      cat "($part)/GRUB.TXT"
      echo "@@GRUB bin $part"
      if test -f "($part)/GRUB.BIN"; then hashsum --hash sha256 "($part)/GRUB.BIN"; fi
      echo "@@GRUB file-end $part"
      break
    fi
  done
done
echo "@@GRUB type"
read typed
echo "@@GRUB typed [$typed]"
echo "@@GRUB done"
EOF
# GRUB's kernel reads $prefix/grub.cfg through the normal module; the prefix is the memdisk.
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --format=ustar \
    -C "$WORK/memdisk" -cf "$WORK/memdisk.tar" boot

"$MKIMAGE" -d "$MODDIR" -O i386-pc -o "$WORK/core.img" -m "$WORK/memdisk.tar" \
    -p "(memdisk)/boot/grub" "${MODULES[@]}"

# ------------------------------------------------------------------ the floppy
# boot.img (the MBR-style sector, which falls back to CHS reads for a floppy drive) followed by
# core.img: grub-mkimage already wrote core.img's sector count into its first sector's blocklist,
# which starts at sector 1, right after boot.img.
FLOPPY=$WORK/grub-floppy.img
cat "$MODDIR/boot.img" "$WORK/core.img" > "$FLOPPY"
size=$(stat -c %s "$FLOPPY")
[ "$size" -le 1474560 ] || die "GRUB image is $size bytes, more than a 1.44 MB floppy"
truncate -s 1474560 "$FLOPPY"
mkdir -p "$OUT/licenses"
gzip -n -9 -c "$FLOPPY" > "$OUT/grub-floppy.img.gz"
say "core.img $(stat -c %s "$WORK/core.img") bytes; floppy sha256 $(sha256sum "$FLOPPY" | cut -d' ' -f1)"

# A record the test checks the unpacked floppy against, and the facts of the build.
cat > "$OUT/grub.json" <<EOF
{
  "comment": "Written by guest-image/build-grub.sh. The floppy is grub-floppy.img.gz unpacked.",
  "floppyBytes": 1474560,
  "floppySha256": "$(sha256sum "$FLOPPY" | cut -d' ' -f1)",
  "coreImgBytes": $(stat -c %s "$WORK/core.img"),
  "grubVersion": "$(dpkg-deb -f "$DEB_CACHE"/grub-pc-bin_*_amd64.deb Version)",
  "platform": "i386-pc",
  "modules": "$(printf '%s ' "${MODULES[@]}" | sed 's/ $//')",
  "grubCfgSha256": "$(sha256sum "$WORK/memdisk/boot/grub/grub.cfg" | cut -d' ' -f1)"
}
EOF

# ------------------------------------------------------------------ licence notice (GPL-3+)
cp "$WORK/x/usr/share/doc/grub-pc-bin/copyright" "$OUT/licenses/grub-pc-bin.copyright"
[ -f /usr/share/common-licenses/GPL-3 ] && cp /usr/share/common-licenses/GPL-3 "$OUT/licenses/GPL-3"
{
    echo "# Licence of the bundled GRUB floppy"
    echo
    echo "\`grub-floppy.img.gz\` holds GNU GRUB 2.06 as Debian 12 (bookworm) builds it for i386-pc: \`boot.img\`"
    echo "and a core image that \`grub-mkimage\` made from the modules of the binary package below, with a"
    echo "memdisk holding the test script (\`guest-image/build-grub.sh\`, the uhci project's, MIT). GRUB is"
    echo "free software under the GNU General Public License, version 3 or later: [GPL-3](licenses/GPL-3);"
    echo "its authors and copyright holders, file by file, are in"
    echo "[licenses/grub-pc-bin.copyright](licenses/grub-pc-bin.copyright). The complete corresponding"
    echo "source is Debian's \`grub2\` source package of the same version, kept by Debian's snapshot archive"
    echo "(\`apt-get source grub2=VERSION\` works against it too):"
    echo
    echo "| Debian binary package | in the floppy | built from Debian source package |"
    echo "| --- | --- | --- |"
    for p in "${PKGS[@]}"; do
        IFS='|' read -r name ver arch <<<"$p"
        case "$name" in
            grub-pc-bin) what='`boot.img`, the kernel and the modules of the core image' ;;
            grub-common) what='nothing (its `grub-mkimage` assembled the core image at build time)' ;;
            *) what='see its copyright file' ;;
        esac
        v=${ver//:/%3A}
        echo "| \`$name\` $ver ($arch) | $what | \`grub2\` $ver ([source](https://snapshot.debian.org/package/grub2/${v//+/%2B}/)) |"
    done
    echo
    echo "Written by \`guest-image/build-grub.sh\`."
} > "$OUT/LICENSES-grub.md"
say "wrote $OUT/grub-floppy.img.gz, $OUT/grub.json, $OUT/LICENSES-grub.md"
