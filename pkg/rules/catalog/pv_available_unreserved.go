package catalog

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

var pvAvailableUnreserved = &rules.Rule{
	ID:       "pv-available-unreserved",
	Title:    "Available Retain PersistentVolume that the next matching claim will get, data included",
	Action:   "Delete the PV if its data is not needed, or reserve it with a claimRef",
	Severity: audit.Warning,
	Category: rules.Lifecycle,
	Reads:    []snapshot.Kind{snapshot.PersistentVolumes, snapshot.PersistentVolumeClaims, snapshot.StatefulSets},
	Optional: []snapshot.Kind{snapshot.StorageClasses},
	Doc: `A PersistentVolume in phase **Available** with no ` + "`claimRef`" + ` and reclaim policy
` + "`Retain`" + ` is free for *any* claim. The PV controller prefers an existing matching PV over
provisioning a new one, so the next claim with the same StorageClass, a request the PV can
hold, compatible access modes and volume mode is bound to it **with whatever data is on
it** — for example ` + "`data-web-5`" + ` after a StatefulSet scales up. This usually happens when
someone "frees" a Released PV by removing its whole ` + "`claimRef`" + `.

The finding is **critical** when a Pending claim, or a StatefulSet's volumeClaimTemplate
(its next scale-up), would bind the PV right now; the details name it. A claim or template
that names no StorageClass at all gets the default class (the newest class marked
` + "`storageclass.kubernetes.io/is-default-class: \"true\"`" + `, as admission and, since 1.28, the PV
controller assign it), so it is matched against PVs of that class; only when no class is
marked default does it match PVs without a class. When StorageClasses could not be read,
such claims and templates are not counted as takers (the PV is still reported, as a warning).

Not reported: a PV whose ` + "`claimRef`" + ` names a claim but has no UID (pre-bound, reserved
for that claim only), and PVs still in phase ` + "`Pending`" + `.

**How to fix by hand.** Take the PV out of circulation without touching its data:
- Reserve it for the claim that should get it:
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"claimRef\":{\"namespace\":\"<ns>\",\"name\":\"<claim>\"}}}'`" + `
- or reserve it for a placeholder nobody uses:
  ` + "`kubectl patch pv <pv> -p '{\"spec\":{\"claimRef\":{\"namespace\":\"storage-auditor-reserved\",\"name\":\"<pv>\"}}}'`" + `
- or, once the data is backed up or unneeded, ` + "`kubectl delete pv <pv>`" + `.

**Fix** (` + "`auditor run --fix`" + `, safe): reserves the PV for the placeholder claim
` + "`storage-auditor-reserved/<pv>`" + ` — a ` + "`claimRef`" + ` without UID naming a claim nothing creates — and
records it in the annotation ` + "`storage-auditor.dev/reserved-for`" + `. The PV stays Available, keeps its
data, and no claim can bind it. Before patching, the PV is read again: it must still be
Available with no ` + "`claimRef`" + `, unchanged since the audit, and the placeholder claim must not
exist. ` + "`auditor fix release-pv <pv>`" + ` removes the reservation (and only a reservation the
auditor made).`,
	Check: func(p *rules.Pass) error {
		snap := p.Snapshot
		candidates := newPVTakers(snap)
		for _, pv := range snap.PersistentVolumes {
			if pv.Status.Phase != corev1.VolumeAvailable || pv.Spec.ClaimRef != nil ||
				pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
				continue
			}
			d := pvDetails(pv)
			addAge(d, "availableFor", snapshot.PVPhaseAge(pv), p.Now)
			sev := audit.Warning
			takers := candidates.of(pv)
			msg := fmt.Sprintf("PV %s (%s, class %q) is Available to any matching claim and keeps its data (reclaim policy Retain): reserve it with a claimRef or delete it once the data is not needed",
				pv.Name, d["capacity"], pv.Spec.StorageClassName)
			if len(takers) > 0 {
				sev = audit.Critical
				d["wouldBind"] = firstOf(takers, 5, "; ")
				msg = fmt.Sprintf("PV %s (%s, class %q) is Available with its old data and would be bound by %s: reserve it with a claimRef or delete it now",
					pv.Name, d["capacity"], pv.Spec.StorageClassName, takers[0])
			}
			p.Report(audit.Finding{Severity: sev, Object: rules.Ref(snapshot.PersistentVolumes, pv), Message: msg, Details: d,
				Fixes: []audit.Fix{reservePVFix(pv)}})
		}
		return nil
	},
}

// pvTaker is something that would bind an Available PV it matches: a Pending claim without
// a volumeName, or a StatefulSet's volumeClaimTemplate (on its next scale-up). What the PV
// controller matches on (snapshot.ClaimMatch, shared with `auditor preflight scale`) is
// read and parsed once.
type pvTaker struct {
	order int // pending claims in snapshot order first, then templates in StatefulSet order
	match snapshot.ClaimMatch
	desc  string // set for claims; for templates on first use (see describe)
	st    *appsv1.StatefulSet
	tpl   string
}

// takerKey is what a PV must equal exactly: its class and volume mode (unset is Filesystem).
type takerKey struct {
	class string
	mode  corev1.PersistentVolumeMode
}

// pvTakers finds the takers of a PV without comparing it with every Pending claim and
// template: they are grouped by class and volume mode, and sorted by request within a
// group, so only those whose request the PV can hold are looked at.
type pvTakers struct {
	snap  *snapshot.Snapshot
	byKey map[takerKey][]*pvTaker
}

func newPVTakers(snap *snapshot.Snapshot) *pvTakers {
	t := &pvTakers{snap: snap, byKey: map[takerKey][]*pvTaker{}}
	// A claim or template without storageClassName gets the default class (admission;
	// retroactively for Pending claims since 1.28); only with no default does it keep
	// matching PVs of class "". Without StorageClasses we cannot tell: such takers are left
	// out rather than guessed.
	defaultClass, defaultKnown := snap.DefaultClassName()
	n := 0
	add := func(pvc *corev1.PersistentVolumeClaim, tk *pvTaker) {
		m, ok := snapshot.NewClaimMatch(pvc, defaultClass, defaultKnown)
		if !ok {
			return
		}
		tk.order, n = n, n+1
		tk.match = m
		k := takerKey{m.Class, m.VolumeMode}
		t.byKey[k] = append(t.byKey[k], tk)
	}
	for _, pvc := range snap.PersistentVolumeClaims {
		if pvc.Status.Phase == corev1.ClaimPending && pvc.Spec.VolumeName == "" && pvc.DeletionTimestamp == nil {
			add(pvc, &pvTaker{desc: "pending claim " + pvc.Namespace + "/" + pvc.Name})
		}
	}
	for _, st := range snap.StatefulSets {
		for i := range st.Spec.VolumeClaimTemplates {
			tpl := &st.Spec.VolumeClaimTemplates[i]
			add(tpl, &pvTaker{st: st, tpl: tpl.Name})
		}
	}
	for _, l := range t.byKey {
		sort.SliceStable(l, func(i, j int) bool { return l[i].match.Request.Cmp(l[j].match.Request) < 0 })
	}
	return t
}

// of returns the takers that would bind pv, described, in the order of pvTaker.order. A
// taker matches when the PV has its class, volume mode, at least its request, every access
// mode it asks for, and labels its selector matches.
func (t *pvTakers) of(pv *corev1.PersistentVolume) []string {
	capa, ok := snapshot.PVCapacity(pv)
	if !ok {
		return nil
	}
	group := t.byKey[takerKey{pv.Spec.StorageClassName, volumeMode(pv.Spec.VolumeMode)}]
	fit := sort.Search(len(group), func(i int) bool { return group[i].match.Request.Cmp(capa) > 0 })
	var hits []*pvTaker
	for _, tk := range group[:fit] {
		if tk.match.Matches(pv) {
			hits = append(hits, tk)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].order < hits[j].order })
	out := make([]string, len(hits))
	for i, tk := range hits {
		out[i] = tk.describe(t.snap)
	}
	return out
}

// describe names the taker. A template's claim is that of the first ordinal above the live
// range whose claim does not exist yet (lower ones re-attach their retained claims).
func (tk *pvTaker) describe(snap *snapshot.Snapshot) string {
	if tk.desc == "" {
		st := tk.st
		next := snapshot.OrdinalStart(st) + snapshot.Replicas(st)
		for snap.PVC(st.Namespace, fmt.Sprintf("%s-%s-%d", tk.tpl, st.Name, next)) != nil {
			next++
		}
		tk.desc = fmt.Sprintf("StatefulSet %s/%s on scale-up (claim %s-%s-%d)", st.Namespace, st.Name, tk.tpl, st.Name, next)
	}
	return tk.desc
}

// hasAccessModes is snapshot.PVHasAccessModes.
func hasAccessModes(pv *corev1.PersistentVolume, modes []corev1.PersistentVolumeAccessMode) bool {
	return snapshot.PVHasAccessModes(pv, modes)
}

// volumeMode is snapshot.VolumeModeOf.
func volumeMode(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	return snapshot.VolumeModeOf(m)
}
