# Run by the bundled guest's shell (busybox ash) for test/integration/v86-stick-streams.test.ts: the
# stick is read and written with dd in the background while arecord records from the headset and from
# the second microphone and aplay plays to the headset, all at once. The test prepends the settings
# (RATE CH SECS PAD RSKIP RCOUNT WSEEK WCOUNT, dd counts in 64 KiB blocks) and types this script in.
# Everything the host reads is an "@@UHCI {json}" line printed by this script in the foreground; the
# background jobs print nothing to the console (their output goes to files), so no line is interleaved.
set -o pipefail
e() { echo "@@UHCI $1"; }
ms() { /bin/uhcitool ms; }
# A file's lines as "log" events (JSON-escaped), e.g. an arecord's "overrun!!!" or a dd's error.
logf() { [ -s "$2" ] && sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/ /g' -e "s/^/@@UHCI {\"event\":\"log\",\"source\":\"$1\",\"line\":\"/" -e 's/$/"}/' "$2"; }
# The card of the USB audio device with this vendor:product (headset 1209:0006, microphone 1209:0004).
card() {
    local c u
    for c in /proc/asound/card[0-9]*; do
        u=""
        [ -r "$c/usbid" ] && read -r u < "$c/usbid"
        [ "$u" = "$1" ] && { echo "${c#/proc/asound/card}"; return 0; }
    done
    return 1
}
# The line the shell's prompt may have left unterminated.
echo
n=0
until [ -b /dev/sda ] && H=$(card 1209:0006) && M=$(card 1209:0004); do
    n=$((n + 1))
    [ $n -gt 200 ] && { e '{"event":"script-error","message":"no /dev/sda or sound cards after 20 s"}'; exit 1; }
    usleep 100000
done
F=$((RATE * SECS))
/bin/uhcitool sig "$RATE" "$CH" "$F" "$PAD" > /tmp/play.wav
# What the guest writes: random bytes; the host compares the image with the sha256 reported here.
dd if=/dev/urandom of=/tmp/w.bin bs=64k count="$WCOUNT" 2>/dev/null
W=$(sha256sum < /tmp/w.bin)
e "{\"event\":\"ready\",\"headset\":$H,\"microphone\":$M,\"frames\":$F,\"writeSha256\":\"${W%% *}\"}"
# Every block read crosses the bus (nothing cached from before).
sync
echo 3 > /proc/sys/vm/drop_caches
# The read is buffered (the kernel's read-ahead makes usb-storage's requests); the write is O_DIRECT so
# it crosses the bus as dd runs, not at the end from the page cache.
rd() {
    local t0 s rc
    t0=$(ms)
    s=$(dd if=/dev/sda bs=64k skip="$RSKIP" count="$RCOUNT" 2> /tmp/rd.err | sha256sum)
    rc=$?
    echo "$rc $t0 $(ms) ${s%% *}" > /tmp/rd.done
}
wr() {
    local t0 rc
    t0=$(ms)
    dd if=/tmp/w.bin of=/dev/sda bs=64k seek="$WSEEK" count="$WCOUNT" oflag=direct conv=fsync 2> /tmp/wr.err
    rc=$?
    echo "$rc $t0 $(ms)" > /tmp/wr.done
}
rd &
RP=$!
wr &
WP=$!
# Both transfers under way before the audio starts.
sleep 1
A=$(ms)
arecord -q -D "hw:$H,0" -t raw -f S16_LE -r "$RATE" -c "$CH" -s "$F" /tmp/c0.raw 2> /tmp/c0.err &
C0=$!
arecord -q -D "hw:$M,0" -t raw -f S16_LE -r "$RATE" -c "$CH" -s "$F" /tmp/c1.raw 2> /tmp/c1.err &
C1=$!
aplay -q -D "hw:$H,0" /tmp/play.wav 2> /tmp/p.err &
P=$!
e "{\"event\":\"streams-start\",\"ms\":$A}"
wait $C0
r0=$?
wait $C1
r1=$?
wait $P
rp=$?
B=$(ms)
x0=$(grep -c overrun /tmp/c0.err)
x1=$(grep -c overrun /tmp/c1.err)
xp=$(grep -c underrun /tmp/p.err)
e "{\"event\":\"streams-end\",\"ms\":$B,\"capture0\":{\"rc\":$r0,\"xruns\":$x0},\"capture1\":{\"rc\":$r1,\"xruns\":$x1},\"playback\":{\"rc\":$rp,\"xruns\":$xp}}"
wait $RP
wait $WP
read -r rc t0 t1 s < /tmp/rd.done
e "{\"event\":\"stick-dd\",\"dir\":\"read\",\"rc\":$rc,\"start\":$t0,\"end\":$t1,\"bytes\":$((RCOUNT * 65536)),\"sha256\":\"$s\"}"
read -r rc t0 t1 < /tmp/wr.done
e "{\"event\":\"stick-dd\",\"dir\":\"write\",\"rc\":$rc,\"start\":$t0,\"end\":$t1,\"bytes\":$((WCOUNT * 65536))}"
logf arecord0 /tmp/c0.err
logf arecord1 /tmp/c1.err
logf aplay /tmp/p.err
logf ddread /tmp/rd.err
logf ddwrite /tmp/wr.err
# The kernel's view (uhci-hcd, snd-usb-audio, usb-storage errors), for a failure's report.
dmesg > /tmp/dmesg.txt 2>&1
logf dmesg /tmp/dmesg.txt
for f in c0 c1; do
    [ -e /tmp/$f.raw ] || continue
    e "{\"event\":\"blob-begin\",\"name\":\"$f\",\"bytes\":$(wc -c < /tmp/$f.raw),\"encoding\":\"base64\"}"
    base64 /tmp/$f.raw
    e "{\"event\":\"blob-end\",\"name\":\"$f\"}"
done
e '{"event":"script-done"}'
