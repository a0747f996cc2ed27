#!/bin/bash
# Writes the licence notices of the guest image's third-party parts into OUT:
#   OUT/LICENSES.md           what each Debian package put into the image, its licence, and the exact
#                             Debian source package and version it was built from (where to get it)
#   OUT/licenses/<pkg>.copyright   each package's Debian copyright file (/usr/share/doc/<pkg>/copyright)
#   OUT/licenses/{GPL-2,GPL-3,LGPL-2,LGPL-2.1,LGPL-3}   the licence texts those files refer to
# build.sh calls it after every build; it reads one line per package on stdin:
#   binary-name|binary-version|arch|source-name|source-version
# (build.sh takes the source from each .deb's Source field).
#
#   licenses.sh OUT DOC_ROOT     DOC_ROOT holds usr/share/doc/<pkg>/copyright (the extracted .debs)
#
# Environment: STRICT=1 (build.sh) makes a missing copyright file an error; NOTE=text adds a paragraph.
set -euo pipefail

OUT=${1:?usage: licenses.sh OUT DOC_ROOT < packages}
DOC_ROOT=${2:?usage: licenses.sh OUT DOC_ROOT < packages}
COMMON=/usr/share/common-licenses
TEXTS=(GPL-2 GPL-3 LGPL-2 LGPL-2.1 LGPL-3)

die() { echo "licenses.sh: ERROR: $*" >&2; exit 1; }

mkdir -p "$OUT/licenses"
for t in "${TEXTS[@]}"; do
    [ -f "$COMMON/$t" ] || die "$COMMON/$t missing (Debian's base-files ships it)"
    cp "$COMMON/$t" "$OUT/licenses/$t"
done

# What a binary package contributes to the image, and under which licence (by source package).
contents() {
    case "$1" in
        linux-image-*) echo 'the kernel (`bzImage`, also on the bootable stick) and the modules in the initramfs (`build-info.json` lists them)' ;;
        busybox-static) echo '`/bin/busybox` (shell and applets) in the initramfs' ;;
        alsa-utils) echo '`aplay`, `arecord` (a link to aplay) and `amixer` in the initramfs' ;;
        libasound2) echo '`libasound.so.2` in the initramfs' ;;
        libasound2-data) echo 'ALSA configuration files (`/usr/share/alsa`) in the initramfs' ;;
        libc6) echo '`libc.so.6`, `libm.so.6`, `ld-linux.so.2` in the initramfs' ;;
        seabios) echo '`bios.bin` and `vgabios-stdvga.bin`' ;;
        syslinux) echo 'on the bootable stick (`stick-template.img.gz`): `ldlinux.sys` and the boot sector its installer writes' ;;
        syslinux-common) echo 'on the bootable stick (`stick-template.img.gz`): `mbr.bin` (the MBR code) and `ldlinux.c32`' ;;
        *) echo 'files in the image' ;;
    esac
}
licence() {
    case "$1" in
        linux | linux-signed-*) echo 'GPL-2.0 (Linux: `COPYING`; the user-space API headers carry the Linux-syscall-note) — [GPL-2](licenses/GPL-2)' ;;
        busybox) echo 'GPL-2.0 (version 2 only) — [GPL-2](licenses/GPL-2)' ;;
        alsa-utils) echo 'GPL-2.0-or-later — [GPL-2](licenses/GPL-2)' ;;
        alsa-lib) echo 'LGPL-2.1-or-later — [LGPL-2.1](licenses/LGPL-2.1)' ;;
        glibc) echo 'LGPL-2.1-or-later, some parts under other free licences listed in its copyright file — [LGPL-2.1](licenses/LGPL-2.1)' ;;
        syslinux) echo 'GPL-2.0-or-later — [GPL-2](licenses/GPL-2)' ;;
        seabios) echo 'LGPL-3.0 (a few files LGPL-2 or CPL, listed in its copyright file) — [LGPL-3](licenses/LGPL-3), which adds to [GPL-3](licenses/GPL-3)' ;;
        *) echo 'see its copyright file' ;;
    esac
}
# snapshot.debian.org keeps every source version ever uploaded.
snapshot() { # source version
    local v=${2//:/%3A}
    echo "https://snapshot.debian.org/package/$1/${v//+/%2B}/"
}

rows=""
missing=""
while IFS='|' read -r name ver arch src srcver; do
    [ -n "$name" ] || continue
    copyright="$DOC_ROOT/usr/share/doc/$name/copyright"
    if [ -f "$copyright" ]; then
        cp "$copyright" "$OUT/licenses/$name.copyright"
        file="[licenses/$name.copyright](licenses/$name.copyright)"
    else
        [ "${STRICT:-0}" = 1 ] && die "$copyright missing"
        file="not included (see the note below)"
        missing="$missing $name"
    fi
    from="\`$src\` $srcver"
    case "$src" in
        # The signed kernel packages wrap the image built from the linux source package, whose version is
        # the binary's.
        linux-signed-*) from="$from, wrapping the kernel built from \`linux\` $ver ([source]($(snapshot linux "$ver")))" ;;
        *) from="$from ([source]($(snapshot "$src" "$srcver")))" ;;
    esac
    rows="$rows| \`$name\` $ver ($arch) | $(contents "$name") | $(licence "$src") | $from | $file |"$'\n'
done

{
    cat <<'EOF'
# Licences of the bundled guest image

The files in this folder are a Linux guest for testing the UHCI controller. They contain software from
Debian 12 (bookworm) packages, each under its own licence, listed below with the exact Debian source
package and version it was built from; the complete corresponding source of every version is kept by
Debian's snapshot archive (the "source" links; `apt-get source <package>=<version>` against it works
too). The licence texts are in [licenses/](licenses/), and each package's Debian copyright file (its
authors, copyright holders and licence terms, file by file) is in `licenses/<package>.copyright`.

The uhci project's own parts of the image — `/init` and `/bin/uhcitool` (built from `init` and
`uhcitool.c` in guest-image/, freestanding, no libraries) — are under the project's MIT licence
(`LICENSE` at the top of the package).

| Debian binary package | in this image | licence | built from Debian source package | copyright file |
| --- | --- | --- | --- | --- |
EOF
    printf '%s' "$rows"
    if [ -n "$missing" ]; then
        echo
        echo "Note: the Debian copyright file of${missing} is not included in this build; the next"
        echo "\`guest-image/build.sh\` run copies it from the package."
    fi
    if [ -n "${NOTE:-}" ]; then
        echo
        echo "$NOTE"
    fi
    echo
    echo "Written by \`guest-image/licenses.sh\` (called by \`guest-image/build.sh\`)."
} > "$OUT/LICENSES.md"
