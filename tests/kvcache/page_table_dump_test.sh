#!/bin/bash
# A page-table dump written by hand with h5py (fixtures/lockstep_h5.py write_page_table_dump, the helper a
# serving process calls): `lockstep replay` lists exactly the bad entries planted inside the read window
# as failures, and every planted entry with whether it is inside the read window.
set -u
. "$(dirname "$0")/../oracle/test_lib.sh" "$@"

PYTHONPATH="$SRC/fixtures" "$PY" - "$tmp/trap.h5" <<'PYEOF' || fail "writing the dump"
import sys
import numpy as np
from lockstep_h5 import write_page_table_dump
# page 4, window 6 keys, full pool pages 1..10, SWA pool pages 1..5; a valid layout, then planted entries.
pt = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [0, 0, 0, 0]], np.int32)
swa = np.array([[1, 2, 3, 4], [5, 1, 0, 0], [0, 0, 0, 0]], np.int32)
cache_seqlens = np.array([13, 5, 0], np.int32)   # row 0 reads cols 0..3 (SWA cols 1..3), row 1 cols 0..1
pt[0, 2] = 11          # read, out of range (> 10)
swa[0, 3] = -5         # read, out of range
swa[0, 0] = 0          # NOT read: before the window of row 0 (keys >= 13 - 1 - 6 + 1 = 7)
swa[1, 1] = 0          # read, evicted
pt[1, 3] = 999         # NOT read: trailing entry of a short row
pt[2, 0] = -1          # NOT read: row with no keys
write_page_table_dump(sys.argv[1], pt, cache_seqlens, swa_page_table=swa, page_size=4, window=6,
                      full_pages=10, swa_pages=5, pid=1234)
PYEOF

"$LOCKSTEP" replay "$tmp/trap.h5" > "$tmp/out.txt"
rc=$?
cat "$tmp/out.txt"
[ "$rc" = 1 ] || fail "replay exit code $rc, expected 1 (bad entries read)"
grep "failure: bad entry read:" "$tmp/out.txt" | sed 's/^ *failure: bad entry read: //' > "$tmp/read.txt"
cat > "$tmp/want_read.txt" <<'TXT'
page_table[0, 2] = 11 (out of range, inside the read window)
swa_page_table[0, 3] = -5 (out of range, inside the read window)
swa_page_table[1, 1] = 0 (unallocated/evicted, inside the read window)
TXT
diff "$tmp/want_read.txt" "$tmp/read.txt" || fail "read entries differ from the planted ones"
# Every bad entry, read or not, is listed once as a note; the planted unread ones say so. Row 1's
# unwritten zeros (page_table[1, 2], swa_page_table[1, 2..3]) are bad too but unread.
for line in "page_table[1, 3] = 999 (out of range, outside the read window)" \
            "page_table[2, 0] = -1 (out of range, outside the read window)" \
            "swa_page_table[0, 0] = 0 (unallocated/evicted, outside the read window)"; do
  grep -qF "note: $line" "$tmp/out.txt" || fail "missing note: $line"
done
[ "$(grep -c 'inside the read window' "$tmp/out.txt")" = 6 ] || fail "expected each read entry as failure + note"
grep -q "device read walk differs" "$tmp/out.txt" && fail "device walk disagrees with the validator"
echo OK
