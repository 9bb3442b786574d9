package catalog

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// pvDetails are the facts every PV finding carries.
func pvDetails(pv *corev1.PersistentVolume) map[string]string {
	d := map[string]string{
		"phase":         string(pv.Status.Phase),
		"reclaimPolicy": string(pv.Spec.PersistentVolumeReclaimPolicy),
		"storageClass":  pv.Spec.StorageClassName,
		"capacity":      "unknown",
	}
	if q, ok := snapshot.PVCapacity(pv); ok {
		d["capacity"] = q.String()
	}
	if ref := pv.Spec.ClaimRef; ref != nil {
		d["formerClaim"] = ref.Namespace + "/" + ref.Name
		d["claim"] = d["formerClaim"]
	} else {
		d["formerClaim"] = "none"
	}
	if src := snapshot.PVSource(pv); src != "" {
		d["source"] = src
	}
	return d
}

// addAge records how long something has lasted and which timestamp that was measured from.
func addAge(d map[string]string, key string, age snapshot.Age, now time.Time) {
	d[key] = snapshot.HumanDuration(age.Duration(now))
	d[key+"Since"] = age.Since.UTC().Format(time.RFC3339)
	d["ageSource"] = age.Source
}

// eventDetail records the newest event of the given reasons about an object.
func eventDetail(d map[string]string, evs []*corev1.Event, reasons ...string) *corev1.Event {
	for i := len(evs) - 1; i >= 0; i-- {
		for _, r := range reasons {
			if evs[i].Reason == r {
				d["lastEvent"] = r + ": " + strings.TrimSpace(evs[i].Message)
				d["lastEventTime"] = snapshot.EventTime(evs[i]).UTC().Format(time.RFC3339)
				return evs[i]
			}
		}
	}
	return nil
}

// percentSeverity grades a usage percentage against a rule's warn/critical thresholds;
// ok is false below warn (nothing to report).
func percentSeverity(pct, warn, crit float64) (sev audit.Severity, ok bool) {
	switch {
	case pct >= crit:
		return audit.Critical, true
	case pct >= warn:
		return audit.Warning, true
	}
	return 0, false
}

// firstOf joins at most n items in their order and says how many were left out, so a
// detail stays readable (and the report small) when a class has thousands of volumes.
func firstOf(items []string, n int, sep string) string {
	if len(items) <= n {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s%s… and %d more", strings.Join(items[:n], sep), sep, len(items)-n)
}
