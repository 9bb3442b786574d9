package cost

import (
	"sort"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Waste buckets: the kinds of volume nobody uses.
const (
	BucketReleased        = "released"
	BucketAvailable       = "available"
	BucketUnused          = "unused"
	BucketRetainedOrdinal = "retained-ordinal"
)

// wasteBuckets maps each waste rule to the bucket its volumes count in.
var wasteBuckets = map[string]string{
	"pv-released-retained":    BucketReleased,
	"pv-released-stuck":       BucketReleased,
	"pv-available-unreserved": BucketAvailable,
	"pvc-unused":              BucketUnused,
	"sts-retained-ordinal":    BucketRetainedOrdinal,
}

// WasteBucket returns the bucket of a waste rule's findings; ok is false for other rules.
func WasteBucket(ruleID string) (bucket string, ok bool) {
	bucket, ok = wasteBuckets[ruleID]
	return bucket, ok
}

// TopWasteLimit is how many of the most expensive wasted volumes TopWaste lists per currency.
const TopWasteLimit = 10

type wasteCandidate struct {
	audit.WastedVolume
	micros int64
	bytes  int64
}

// ApplyWaste puts a price on the findings of the waste rules and adds their volumes up as
// waste. Each finding about a priced volume gets details monthlyCost ("350.00") and
// currency; findings are changed in place, so pass the report's slices. Each volume counts
// once, in the bucket of the first finding about it, even when two rules report it.
// Findings about volumes the breakdown does not hold (outside the run's namespaces) are
// left as they are. It may be called more than once; volumes already counted are not
// counted again.
func ApplyWaste(b *Breakdown, findings ...[]audit.Finding) {
	if b.wasted == nil {
		b.wasted = map[int]bool{}
		b.buckets = map[string]*acc{}
	}
	for _, group := range findings {
		for i := range group {
			f := &group[i]
			bucket, ok := wasteBuckets[f.RuleID]
			if !ok {
				continue
			}
			idx, ok := b.volumeOf(f.Object)
			if !ok {
				continue
			}
			v := &b.vols[idx]
			if v.priced {
				if f.Details == nil {
					f.Details = map[string]string{}
				}
				f.Details["monthlyCost"] = FormatAmount(v.quote.Amount())
				f.Details["currency"] = v.quote.Currency
			}
			if b.wasted[idx] {
				continue
			}
			b.wasted[idx] = true
			a := b.buckets[bucket]
			if a == nil {
				a = &acc{}
				b.buckets[bucket] = a
			}
			a.add(v)
			if v.priced && v.quote.Micros > 0 {
				b.wasteSum.add(v.quote.Currency, v.quote.Micros)
				b.top = append(b.top, wasteCandidate{
					WastedVolume: audit.WastedVolume{Object: f.Object, Bucket: bucket, RuleID: f.RuleID,
						GiB: gibOf(v.bytes), Monthly: v.quote.Amount(), Currency: v.quote.Currency},
					micros: v.quote.Micros, bytes: v.bytes,
				})
			}
		}
	}
	b.Cost.Waste = money(b.wasteSum)
	b.Cost.WasteByBucket = lines(b.buckets, sortedKeys(b.Cost.Monthly))
	b.Cost.TopWaste = topWaste(b.top)
}

// volumeOf finds the volume a finding is about: a PV by name, a claim by namespace/name
// (a bound claim is its PV).
func (b *Breakdown) volumeOf(o audit.ObjectRef) (int, bool) {
	switch snapshot.Kind(o.Kind) {
	case snapshot.PersistentVolumes:
		idx, ok := b.byPV[o.Name]
		return idx, ok
	case snapshot.PersistentVolumeClaims:
		idx, ok := b.byClaim[snapshot.Key{Namespace: o.Namespace, Name: o.Name}]
		return idx, ok
	}
	return 0, false
}

// topWaste keeps the TopWasteLimit most expensive volumes of each currency: by currency
// (alphabetically; amounts in different currencies are not compared), then most expensive
// first, then largest, then by object.
func topWaste(cs []wasteCandidate) []audit.WastedVolume {
	sorted := append([]wasteCandidate(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		switch {
		case a.Currency != b.Currency:
			return a.Currency < b.Currency
		case a.micros != b.micros:
			return a.micros > b.micros
		case a.bytes != b.bytes:
			return a.bytes > b.bytes
		}
		return a.Object.String() < b.Object.String()
	})
	out := []audit.WastedVolume{}
	per := map[string]int{}
	for _, c := range sorted {
		if per[c.Currency] < TopWasteLimit {
			per[c.Currency]++
			out = append(out, c.WastedVolume)
		}
	}
	return out
}
