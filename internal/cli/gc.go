package cli

import (
	"os"
	"runtime/debug"
)

// snapshotGCPercent is the garbage collector's target while the auditor runs. The audit
// builds one snapshot and then only reads it, so almost all memory is live data: Go's
// default (GOGC=100) lets the heap grow to twice that before collecting. 30 keeps the
// peak at about 1.3x the snapshot: at 20 000 volumes (hack/bench-scale.sh) peak RSS went
// from 339 MB to 232-238 MB for about 3.5 s more CPU in a run that waits ~25 s on the
// API server (GOGC=50: 257 MB; 40: 239-250 MB).
const snapshotGCPercent = 30

// tuneGC applies snapshotGCPercent unless the user set GOGC: theirs wins. GOMEMLIMIT
// (the Helm chart derives it from the container's memory limit) works on top of either.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(snapshotGCPercent)
	}
}
