#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Outer-guest side of rig-fd-scope (issue 11 item 1): which fds a helper
# acts on, on real storage.  LIO's LU on two tcm_loop nexuses (rig-lib.sh);
# on nexus A's disk: a partition (an MBR written here), a dm-linear map of
# half the disk and one of the whole disk; plus nexus A's sg node and a
# regular file.  For each helper and each of these, REGISTER a key through
# the helper (prhctl, which sends the fd like QEMU does), then READ KEYS
# straight through nexus B (sg_persist): did the refused fd register
# anything on the LU?  Expected:
#
#   fd            qemu-pr-helper              prhd
#   whole disk    registered                  registered
#   sg node       registered                  registered
#   dm whole      registered                  registered
#   partition     registered (the hole)       05/20/00, nothing registered
#   dm half       registered (the hole)       05/20/00, nothing registered
#   regular file  0B/00/06 (ENOTTY), nothing  05/20/00, nothing registered
#
# and prhd logs a line naming each refused device.  The table goes to
# RESULTS/fd-scope.txt; exit 0 only if every cell is as expected.
#
#   guest-fd-scope.sh RESULTS PRHCTL NAME=HELPER-BINARY...
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=test/vm/rig-lib.sh
. "$here/rig-lib.sh"

results=$1
prhctl=$2
shift 2
fails=0
table=$results/fd-scope.txt

# write_mbr DEV START SECTORS: one Linux partition, written byte by byte
# (no partitioning tool needed in the guest).
write_mbr() {
        le32() {
                printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $((($1 >> 8) & 255)) \
                        $((($1 >> 16) & 255)) $((($1 >> 24) & 255))
        }
        {
                head -c 446 /dev/zero
                # status, CHS first (unused), type 0x83, CHS last (unused), LBA start, sectors
                # shellcheck disable=SC2059
                printf "\\000\\376\\377\\377\\203\\376\\377\\377$(le32 "$2")$(le32 "$3")"
                head -c 48 /dev/zero
                printf '\125\252'
        } | dd of="$1" bs=512 count=1 iflag=fullblock conv=notrunc,fsync 2>/dev/null
}

# keys_on_b: the keys nexus B sees, one per line (none: empty).
keys_on_b() {
        sg_persist -n -i -k "$RIG_DEV_B" 2>&1 | sed -n 's/^ *0x\([0-9a-f]*\)$/\1/p'
}

# wait_node PATH: devtmpfs creates nodes asynchronously.
wait_node() {
        for _ in $(seq 1 100); do
                [ -b "$1" ] && return 0
                sleep 0.1
        done
        rig_die "$1 did not appear"
}

lio_init
lio_lu_create
rig_log "LU: A=$RIG_DEV_A ($RIG_SG_A) B=$RIG_DEV_B ($RIG_SG_B)"
modprobe dm_mod || rig_die "cannot load dm_mod"

size=$(blockdev --getsz "$RIG_DEV_A")
write_mbr "$RIG_DEV_A" 2048 $((size - 2048))
blockdev --rereadpt "$RIG_DEV_A" || rig_die "BLKRRPART on $RIG_DEV_A failed"
part=${RIG_DEV_A}1
wait_node "$part"
# No udev in the guest: --noudevsync, and the nodes are devtmpfs's /dev/dm-N.
dmsetup create prh-half --noudevsync --table "0 $((size / 2)) linear $RIG_DEV_A 0" ||
        rig_die "dmsetup create prh-half failed"
dmsetup create prh-whole --noudevsync --table "0 $size linear $RIG_DEV_A 0" ||
        rig_die "dmsetup create prh-whole failed"
dm_half=/dev/dm-$(dmsetup info -c --noheadings -o minor prh-half)
dm_whole=/dev/dm-$(dmsetup info -c --noheadings -o minor prh-whole)
wait_node "$dm_half"
wait_node "$dm_whole"
file=/run/prh-fd-scope.img
head -c 1048576 /dev/zero > "$file"
rig_log "partition $part, dm half $dm_half ($((size / 2)) of $size sectors), dm whole $dm_whole, file $file"
[ -n "$(keys_on_b)" ] && rig_die "the fresh LU already has keys"

# One row per fd kind: LABEL PATH, and what each helper must do with it.
rows="whole-disk:$RIG_DEV_A sg-node:$RIG_SG_A dm-whole:$dm_whole partition:$part dm-half:$dm_half regular-file:$file"
# expect HELPER LABEL -> "registered" or the status/sense prhctl must report
expect() {
        case "$1:$2" in
        *:whole-disk | *:sg-node | *:dm-whole) echo registered ;;
        qemu-pr-helper:partition | qemu-pr-helper:dm-half) echo registered ;;
        qemu-pr-helper:regular-file) echo "CHECK CONDITION 0b/00/06" ;;
        prhd:*) echo "CHECK CONDITION 05/20/00" ;;
        *) echo "?" ;;
        esac
}
# what prhd's log must say about a refused fd
expect_log() {
        case "$1" in
        partition) echo "-> $(basename "$part")): a partition" ;;
        dm-half) echo "-> $(basename "$dm_half")): a device-mapper map the kernel would not pass SG_IO through" ;;
        regular-file) echo "a regular file, not a SCSI device" ;;
        esac
}

printf '%-14s %-28s %-28s\n' "fd" "qemu-pr-helper" "prhd" > "$table.body"
for h in "$@"; do
        name=${h%%=*}
        bin=${h#*=}
        sock=/run/fd-scope-$name.sock
        log=$results/$name.log
        # in the foreground, stderr kept: prhd's refusals are checked in it
        "$bin" -k "$sock" > "$log" 2>&1 &
        pid=$!
        for _ in $(seq 1 300); do
                [ -S "$sock" ] && break
                sleep 0.1
        done
        [ -S "$sock" ] || rig_die "$name did not come up on $sock"
        i=0
        for row in $rows; do
                label=${row%%:*}
                dev=${row#*:}
                i=$((i + 1))
                key=$(printf 'a%02d%x' "$i" "$(printf '%s' "$name" | cksum | cut -c1-3)")
                out=$("$prhctl" -k "$sock" "$dev" register --param-sark="0x$key" --json 2>&1)
                rc=$?
                keys=$(keys_on_b | tr '\n' ' ')
                if [ "$rc" = 0 ]; then
                        got=registered
                        case " $keys " in
                        *" $key "*) ;;
                        *) got="GOOD but nexus B sees [$keys]" ;;
                        esac
                else
                        st=$(printf '%s' "$out" | sed -n 's/.*"status":"\([^"]*\)".*/\1/p')
                        sk=$(printf '%s' "$out" | sed -n 's/.*"key":\([0-9]*\),.*"asc":\([0-9]*\),"ascq":\([0-9]*\).*/\1 \2 \3/p')
                        if [ -n "$st" ] && [ -n "$sk" ]; then
                                # shellcheck disable=SC2086
                                got="$st $(printf '%02x/%02x/%02x' $sk)"
                        else
                                got="exit $rc: $out"
                        fi
                        [ -n "$keys" ] && got="$got, but nexus B sees [$keys]"
                fi
                want=$(expect "$name" "$label")
                verdict=ok
                if [ "$got" != "$want" ]; then
                        verdict=FAIL
                        fails=$((fails + 1))
                fi
                if [ "$name" = prhd ] && [ "$want" != registered ]; then
                        sleep 0.2
                        needle=$(expect_log "$label")
                        if ! grep -qF -- "$needle" "$log"; then
                                verdict="FAIL (no log line '$needle')"
                                fails=$((fails + 1))
                        fi
                fi
                echo "fd-scope: $name $label ($dev): $got; want $want: $verdict"
                echo "$name $label $got" >> "$results/cells"
                # back to no registration: REGISTER AND IGNORE EXISTING KEY with SARK 0 on nexus A
                sg_persist -n -o -I -S 0 "$RIG_DEV_A" > /dev/null 2>&1
                [ -z "$(keys_on_b)" ] || rig_die "could not clear the registration of $name $label"
        done
        kill -TERM "$pid"
        wait "$pid" || true
done

for row in $rows; do
        label=${row%%:*}
        ref=$(sed -n "s/^qemu-pr-helper $label //p" "$results/cells")
        ours=$(sed -n "s/^prhd $label //p" "$results/cells")
        printf '%-14s %-28s %-28s\n' "$label" "${ref:--}" "${ours:--}" >> "$table.body"
done
mv "$table.body" "$table"
cat "$table"
dmsetup remove prh-half
dmsetup remove prh-whole
if [ "$fails" -ne 0 ]; then
        echo "fd-scope: FAIL: $fails cells differ from what is expected"
        exit 1
fi
echo "fd-scope: all cells as expected"
exit 0
