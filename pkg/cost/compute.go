package cost

import (
	"math"
	"slices"
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Names of the lines that gather volumes without a namespace, class or workload.
const (
	// NoClaim is the byNamespace line of PVs whose claimRef is empty: never bound, or
	// freed by hand. Such PVs are cluster-scoped and always covered.
	NoClaim = "(no claim)"
	// NoClass is the byStorageClass line of volumes with storageClassName "".
	NoClass = "(no class)"
	// NoWorkload is the byWorkload line of volumes no workload uses.
	NoWorkload = "(no workload)"
)

// Breakdown is the cost section being built, plus the per-volume prices ApplyWaste needs
// to put a cost on findings.
type Breakdown struct {
	// Cost is the report's cost section.
	Cost *audit.Cost

	vols    []volume
	byPV    map[string]int
	byClaim map[snapshot.Key]int

	// Waste, filled by ApplyWaste.
	wasted   map[int]bool
	buckets  map[string]*acc
	wasteSum amounts
	top      []wasteCandidate
}

// volume is one costed volume: a PV, or a claim that has none yet.
type volume struct {
	bytes  int64
	quote  Quote
	priced bool
}

// acc accumulates one line.
type acc struct {
	micros  amounts
	volumes int
	bytes   int64
}

func (a *acc) add(v *volume) {
	a.volumes++
	a.bytes += v.bytes
	if v.priced {
		a.micros.add(v.quote.Currency, v.quote.Micros)
	}
}

// amounts are micros per currency. A line almost always has one currency, so a short
// slice scanned in place is cheaper than a map per line.
type amounts []amount

type amount struct {
	currency string
	micros   int64
}

func (as *amounts) add(currency string, micros int64) {
	if micros == 0 {
		return
	}
	for i := range *as {
		if (*as)[i].currency == currency {
			(*as)[i].micros += micros
			return
		}
	}
	*as = append(*as, amount{currency, micros})
}

// currencies returns the currencies, sorted.
func (as amounts) currencies() []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.currency
	}
	sort.Strings(out)
	return out
}

// Compute prices every volume of snap with m: each PV at its spec.capacity, and each claim
// that has no PV yet (Pending; Lost claims have lost theirs) at its request, so no disk is
// counted twice. PVs count in their claimRef's namespace (also once Released: the
// namespace that left them behind), PVs without a claimRef under NoClaim.
//
// inScope, when not nil, limits the section to the namespaces it accepts (the run's
// namespace filter); it is asked about claim namespaces only, PVs without a claimRef are
// cluster-scoped and always covered, as findings on them are.
func Compute(snap *snapshot.Snapshot, m *Model, inScope func(namespace string) bool) *Breakdown {
	if m == nil {
		m = DefaultModel()
	}
	if inScope == nil {
		inScope = func(string) bool { return true }
	}
	b := &Breakdown{
		vols:    make([]volume, 0, len(snap.PersistentVolumes)+len(snap.PersistentVolumeClaims)/8),
		byPV:    make(map[string]int, len(snap.PersistentVolumes)),
		byClaim: make(map[snapshot.Key]int, len(snap.PersistentVolumeClaims)),
	}
	var (
		total      = &acc{}
		namespaces = map[string]*acc{}
		classes    = map[string]*acc{}
		workloads  = map[snapshot.WorkloadRef]*acc{} // named at the end: no string per volume
		users      []snapshot.WorkloadRef
		unpriced   int
		rates      = map[[2]string]*rate{} // (class, provisioner) → rate; params follow the class
	)
	line := func(m map[string]*acc, name string) *acc {
		a := m[name]
		if a == nil {
			a = &acc{}
			m[name] = a
		}
		return a
	}
	price := func(class, provisioner string, params map[string]string, bytes int64) volume {
		v := volume{bytes: bytes}
		key := [2]string{class, provisioner}
		r, seen := rates[key]
		if !seen {
			r = m.match(class, provisioner, params)
			rates[key] = r
		}
		if r != nil {
			if micros, ok := r.monthly(bytes); ok {
				v.quote = Quote{Micros: micros, Currency: r.currency, Source: r.source}
				v.priced = true
			}
		}
		return v
	}
	record := func(v volume, ns, class string, claim *corev1.PersistentVolumeClaim) int {
		idx := len(b.vols)
		b.vols = append(b.vols, v)
		vp := &b.vols[idx]
		if !v.priced {
			unpriced++
		}
		total.add(vp)
		line(namespaces, ns).add(vp)
		if class == "" {
			class = NoClass
		}
		line(classes, class).add(vp)
		users = workloadsOf(snap, claim, users[:0])
		if len(users) == 0 {
			users = append(users, noWorkload)
		}
		for _, w := range users {
			a := workloads[w]
			if a == nil {
				a = &acc{}
				workloads[w] = a
			}
			a.add(vp)
		}
		return idx
	}

	for _, pv := range snap.PersistentVolumes {
		ns := NoClaim
		if ref := pv.Spec.ClaimRef; ref != nil && ref.Namespace != "" {
			if !inScope(ref.Namespace) {
				continue
			}
			ns = ref.Namespace
		}
		claim := snap.ClaimOf(pv)
		var bytes int64
		if q, ok := snapshot.PVCapacity(pv); ok {
			bytes = q.Value()
		}
		prov, params := pvProvisioner(snap, pv)
		idx := record(price(pv.Spec.StorageClassName, prov, params, bytes), ns, pv.Spec.StorageClassName, claim)
		b.byPV[pv.Name] = idx
		if claim != nil {
			b.byClaim[snapshot.KeyOf(claim)] = idx // so far byClaim holds exactly the claims with a PV
		}
	}
	for _, pvc := range snap.PersistentVolumeClaims {
		k := snapshot.KeyOf(pvc)
		if _, hasPV := b.byClaim[k]; hasPV {
			continue
		}
		switch {
		case pvc.Status.Phase == corev1.ClaimLost, !inScope(pvc.Namespace):
			continue
		case pvc.Spec.VolumeName != "" && snap.PV(pvc.Spec.VolumeName) != nil:
			continue // binding in progress: the PV is counted
		}
		var bytes int64
		if q, ok := snapshot.ClaimRequest(pvc); ok {
			bytes = q.Value()
		}
		class := snapshot.ClaimClass(pvc)
		var prov string
		var params map[string]string
		if sc := snap.StorageClass(class); sc != nil {
			prov, params = sc.Provisioner, sc.Parameters
		}
		b.byClaim[k] = record(price(class, prov, params, bytes), pvc.Namespace, class, pvc)
	}

	order := total.micros.currencies()
	b.Cost = &audit.Cost{
		Monthly:        money(total.micros),
		Waste:          audit.Money{},
		ByNamespace:    lines(namespaces, order),
		ByStorageClass: lines(classes, order),
		ByWorkload:     lines(workloadNames(workloads), order),
		WasteByBucket:  []audit.CostLine{},
		TopWaste:       []audit.WastedVolume{},
		Volumes:        len(b.vols),
		Unpriced:       unpriced,
	}
	return b
}

// pvProvisioner returns what prices a PV: its class's provisioner and parameters, or when
// the class is gone (or was never set) its CSI driver or in-tree plugin. When the
// StorageClasses were not read, a named class's parameters are unknown: guessing the
// driver's defaults would price an io2 volume as gp3, so only entries matching the class
// name can price it, and otherwise it counts as unpriced.
func pvProvisioner(snap *snapshot.Snapshot, pv *corev1.PersistentVolume) (string, map[string]string) {
	if name := pv.Spec.StorageClassName; name != "" {
		if sc := snap.StorageClass(name); sc != nil {
			return sc.Provisioner, sc.Parameters
		}
		if !snap.Loaded(snapshot.StorageClasses) {
			return "", nil
		}
	}
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.CSI != nil:
		return s.CSI.Driver, nil
	case s.AWSElasticBlockStore != nil:
		return provEBSInTree, nil
	case s.GCEPersistentDisk != nil:
		return provGCEPDInTree, nil
	case s.AzureDisk != nil:
		return provAzureInTree, nil
	}
	return "", nil
}

// noWorkload stands for NoWorkload among workload references.
var noWorkload = snapshot.WorkloadRef{Kind: NoWorkload}

// workloadsOf appends to buf the workloads that use a claim, each once: its StatefulSet
// (volumeClaimTemplate) and the workloads whose pod templates name it, a ReplicaSet or Job
// given as the Deployment or CronJob that controls it.
func workloadsOf(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim, buf []snapshot.WorkloadRef) []snapshot.WorkloadRef {
	if pvc == nil {
		return buf
	}
	add := func(w snapshot.WorkloadRef) {
		if !slices.Contains(buf, w) { // a claim has few users: a scan beats a map
			buf = append(buf, w)
		}
	}
	if st, _, _, ok := snap.StatefulSetClaim(pvc); ok {
		add(snapshot.WorkloadRef{Kind: "StatefulSet", Namespace: st.Namespace, Name: st.Name})
	}
	for _, w := range snap.WorkloadsUsingClaim(pvc.Namespace, pvc.Name) {
		if parent := parentOf(snap, w); parent != nil {
			w.Kind, w.Name = parent.Kind, parent.Name
		}
		add(w)
	}
	return buf
}

// workloadNames keys the workload lines by name: Kind/namespace/name, or NoWorkload.
func workloadNames(m map[snapshot.WorkloadRef]*acc) map[string]*acc {
	out := make(map[string]*acc, len(m))
	for w, a := range m {
		if w == noWorkload {
			out[NoWorkload] = a
			continue
		}
		out[w.Kind+"/"+w.Namespace+"/"+w.Name] = a
	}
	return out
}

type workloadParent struct{ Kind, Name string }

// parentOf returns the Deployment of a ReplicaSet or the CronJob of a Job, or nil.
func parentOf(snap *snapshot.Snapshot, w snapshot.WorkloadRef) *workloadParent {
	var want string
	switch w.Kind {
	case "ReplicaSet":
		want = "Deployment"
	case "Job":
		want = "CronJob"
	default:
		return nil
	}
	o := snap.Object(snapshot.Kind(w.Kind), w.Namespace, w.Name)
	if o == nil {
		return nil
	}
	if ref := snapshot.ControllerOf(o); ref != nil && ref.Kind == want {
		return &workloadParent{Kind: ref.Kind, Name: ref.Name}
	}
	return nil
}

// money converts an accumulator's micros into the report's amounts.
func money(as amounts) audit.Money {
	m := make(audit.Money, len(as))
	for _, a := range as {
		m[a.currency] = float64(a.micros) / 1e6
	}
	return m
}

func gibOf(bytes int64) float64 { return math.Round(float64(bytes)/gib*100) / 100 }

// lines turns accumulators into sorted lines (see sortLines).
func lines(m map[string]*acc, order []string) []audit.CostLine {
	out := make([]audit.CostLine, 0, len(m))
	for name, a := range m {
		out = append(out, audit.CostLine{Name: name, Monthly: money(a.micros), Volumes: a.volumes, GiB: gibOf(a.bytes)})
	}
	sortLines(out, order)
	return out
}

// sortLines orders lines most expensive first. Amounts in different currencies cannot be
// compared, so lines compare by their amount in each currency of order in turn (the
// section's currencies, alphabetically), then by size, then by name.
func sortLines(ls []audit.CostLine, order []string) {
	sort.Slice(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		for _, c := range order {
			if a.Monthly[c] != b.Monthly[c] {
				return a.Monthly[c] > b.Monthly[c]
			}
		}
		if a.GiB != b.GiB {
			return a.GiB > b.GiB
		}
		return a.Name < b.Name
	})
}

// FormatAmount writes an amount with two decimals, as finding details carry it ("2800.00").
func FormatAmount(amount float64) string { return strconv.FormatFloat(amount, 'f', 2, 64) }
