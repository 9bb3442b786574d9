package preflight

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// retainedOrdinalRule is the rule whose ignore annotation marks a retained claim as kept on
// purpose (its doc recommends it for "a planned scale-up that must reuse the data").
const retainedOrdinalRule = "sts-retained-ordinal"

// Scale checks scaling StatefulSet namespace/name to replicas. For every ordinal the
// scale-up adds and every volumeClaimTemplate it checks what the pod will get:
//   - a claim that exists (a retained ordinal) is re-attached with its old data
//     (stale-pvc-reuse: critical, info when annotated to be kept on purpose);
//   - a new claim is bound to an existing Available PV when one matches
//     (stale-pv-bind: critical for Retain volumes), to a PV reserved for it (reserved-pv),
//     or gets a new volume from its class (provisioning: can the class provision at all);
//
// then whether the nodes the pods can land on have attach slots for their volumes
// (attach-headroom), whether the namespace's storage quotas admit the new claims (quota),
// and what the new volumes cost (cost). A scale-down is described (scale) and priced.
// Errors are for input that cannot be checked: the StatefulSet is not in the snapshot.
func (c *Checker) Scale(namespace, name string, replicas int) (*Result, error) {
	snap := c.Snapshot
	for _, k := range []snapshot.Kind{snapshot.StatefulSets, snapshot.PersistentVolumeClaims} {
		if !snap.Loaded(k) {
			return nil, fmt.Errorf("cannot check a scale-up without %s objects: %s", k, unreadable(snap, k))
		}
	}
	if replicas < 0 {
		return nil, fmt.Errorf("--replicas %d: want 0 or more", replicas)
	}
	st := snap.StatefulSet(namespace, name)
	if st == nil {
		return nil, fmt.Errorf("StatefulSet %s/%s not found in %s", namespace, name, snap.Source)
	}
	cur := snapshot.Replicas(st)
	subject := fmt.Sprintf("scale StatefulSet %s/%s from %d to %d replicas", namespace, name, cur, replicas)
	b := c.newBuilder()
	if replicas <= cur {
		b.scaleDown(st, replicas)
		return b.finish(subject), nil
	}
	s := &scaleUp{b: b, st: st, from: cur, to: replicas, taken: map[string]bool{}, quota: newQuotaNeed(),
		drivers: map[string]*driverNeed{}, fresh: map[string][]string{}}
	s.defaultClass, s.defaultKnown = snap.DefaultClassName()
	start := snapshot.OrdinalStart(st)
	for i := start + cur; i < start+replicas; i++ {
		s.ordinal(i)
	}
	s.provisioning()
	s.attachHeadroom()
	b.quotaChecks(namespace, s.quota, fmt.Sprintf("scaling %s to %d (%d new claim(s))", name, replicas, s.newClaims))
	s.costCheck()
	return b.finish(subject), nil
}

// scaleUp is the state of one scale-up check.
type scaleUp struct {
	b        *builder
	st       *appsv1.StatefulSet
	from, to int

	defaultClass string
	defaultKnown bool
	taken        map[string]bool // PVs given to earlier new claims
	quota        *quotaNeed
	newClaims    int
	// drivers counts, per CSI driver, the volumes each new pod attaches.
	drivers map[string]*driverNeed
	// fresh lists the new claims that get a new volume, by class.
	fresh map[string][]string
	// freshBytes, priced and unpriced volumes for the cost check.
	freshBytes   int64
	freshCount   int
	reused       int
	unpriced     []string
	priceSources map[string]bool
}

// driverNeed is what the new pods ask of one driver's attach slots.
type driverNeed struct {
	pods    int // new pods with at least one volume of the driver
	perPod  int // the most volumes of the driver one new pod has
	volumes int
}

// ordinal checks what pod <sts>-<i> gets for each template.
func (s *scaleUp) ordinal(i int) {
	snap := s.b.c.Snapshot
	st := s.st
	existing := map[string]*corev1.PersistentVolumeClaim{}
	for _, oc := range snap.OrdinalClaims(st, i) {
		existing[oc.Template] = oc.Claim
	}
	perDriver := map[string]int{}
	for ti := range st.Spec.VolumeClaimTemplates {
		tpl := &st.Spec.VolumeClaimTemplates[ti]
		if pvc := existing[tpl.Name]; pvc != nil {
			perDriver[s.retained(pvc, tpl, i)]++
			continue
		}
		perDriver[s.newClaim(tpl, i)]++
	}
	for d, n := range perDriver {
		if d == "" {
			continue
		}
		dn := s.drivers[d]
		if dn == nil {
			dn = &driverNeed{}
			s.drivers[d] = dn
		}
		dn.pods++
		dn.volumes += n
		dn.perPod = max(dn.perPod, n)
	}
}

// retained reports a claim the scale-up re-attaches and returns its volume's driver.
func (s *scaleUp) retained(pvc *corev1.PersistentVolumeClaim, tpl *corev1.PersistentVolumeClaim, i int) string {
	c := s.b.c
	snap := c.Snapshot
	size := "size unknown"
	if q, ok := claimSize(pvc); ok {
		size = q.String()
	}
	age := snapshot.HumanDuration(snapshot.CreationAge(pvc).Duration(c.Now))
	match := "matches the template"
	if diff := templateDiff(pvc, tpl); diff != "" {
		match = "differs from the template: " + diff
	}
	state := ""
	switch {
	case pvc.DeletionTimestamp != nil:
		state = "; it is being deleted, so the new pod waits until it is gone and then gets a new claim"
	case pvc.Status.Phase == corev1.ClaimLost:
		state = "; it is Lost (its volume is gone): the pod will not start"
	case pvc.Status.Phase == corev1.ClaimPending:
		state = "; it is still Pending"
	}
	pod := fmt.Sprintf("%s-%d", s.st.Name, i)
	obj := ref(snapshot.PersistentVolumeClaims, pvc)
	if rules.Ignores(pvc.Annotations[rules.IgnoreAnnotation], retainedOrdinalRule) {
		s.b.add(CheckStalePVCReuse, audit.Info, obj, "claim %s/%s (%s, %s old, %s) of ordinal %d is kept on purpose (annotation %s): scaling to %d re-attaches it to pod %s with its data%s",
			pvc.Namespace, pvc.Name, size, age, match, i, rules.IgnoreAnnotation, s.to, pod, state)
	} else {
		s.b.add(CheckStalePVCReuse, audit.Critical, obj, "claim %s/%s (%s, %s old, %s) is kept from ordinal %d: scaling to %d re-attaches it to pod %s with its old data%s; if the data is not wanted run `kubectl delete pvc %s -n %s` first, or annotate it %s=%s to re-use it on purpose",
			pvc.Namespace, pvc.Name, size, age, match, i, s.to, pod, state, pvc.Name, pvc.Namespace, rules.IgnoreAnnotation, retainedOrdinalRule)
	}
	if pv := snap.BoundPV(pvc); pv != nil {
		return snapshot.PVDriver(pv)
	}
	return s.classDriver(snapshot.ClaimClass(pvc))
}

// newClaim checks the claim the StatefulSet controller creates for template tpl and
// ordinal i, and returns the driver of the volume it gets.
func (s *scaleUp) newClaim(tpl *corev1.PersistentVolumeClaim, i int) string {
	c := s.b.c
	snap := c.Snapshot
	st := s.st
	claim := snapshot.StatefulSetClaimName(tpl.Name, st.Name, i)
	s.newClaims++
	m, ok := snapshot.NewClaimMatch(tpl, s.defaultClass, s.defaultKnown)
	if !ok {
		s.b.add(CheckProvisioning, audit.Warning, named(string(snapshot.StatefulSets), st.Namespace, st.Name),
			"template %s names no StorageClass and StorageClasses were not read: which class (and which Available PV) new claim %s gets cannot be told", tpl.Name, claim)
		s.quota.claims[""]++
		return ""
	}
	s.quota.claims[m.Class]++
	s.quota.bytes[m.Class] += m.Request.Value()
	if !snap.Loaded(snapshot.PersistentVolumes) {
		s.b.add(CheckStalePVBind, audit.Warning, named(string(snapshot.PersistentVolumeClaims), st.Namespace, claim),
			"PersistentVolumes were not read: whether new claim %s/%s binds an existing volume cannot be told", st.Namespace, claim)
		s.addFresh(m.Class, claim, m.Request.Value())
		return s.classDriver(m.Class)
	}
	pv, reserved := snap.NewClaimVolume(st.Namespace, claim, &m, s.taken)
	if pv == nil {
		s.addFresh(m.Class, claim, m.Request.Value())
		return s.classDriver(m.Class)
	}
	s.taken[pv.Name] = true
	s.reused++
	size := "unknown"
	if q, ok := snapshot.PVCapacity(pv); ok {
		size = q.String()
	}
	age := snapshot.PVPhaseAge(pv)
	obj := ref(snapshot.PersistentVolumes, pv)
	switch {
	case reserved:
		s.b.add(CheckReservedPV, audit.Info, obj, "PV %s (%s, reclaim policy %s) is reserved for claim %s/%s (claimRef without UID): the new claim binds it with whatever data it holds, as whoever reserved it intended",
			pv.Name, size, pv.Spec.PersistentVolumeReclaimPolicy, st.Namespace, claim)
	case pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRetain:
		s.b.add(CheckStalePVBind, audit.Critical, obj, "PV %s (%s, class %q, Available for %s, reclaim policy Retain, former claim: none recorded, its claimRef was removed) matches new claim %s/%s: the PV controller binds it instead of provisioning a fresh volume, and pod %s-%d gets its old data; reserve it (`kubectl patch pv %s -p '{\"spec\":{\"claimRef\":{\"namespace\":\"storage-auditor-reserved\",\"name\":\"%s\"}}}'`) or delete it before scaling",
			pv.Name, size, pv.Spec.StorageClassName, snapshot.HumanDuration(age.Duration(c.Now)), st.Namespace, claim, st.Name, i, pv.Name, pv.Name)
	default:
		s.b.add(CheckStalePVBind, audit.Warning, obj, "PV %s (%s, class %q, Available for %s, reclaim policy %s) matches new claim %s/%s: the PV controller binds this existing volume instead of provisioning a fresh one; make sure it holds nothing that pod %s-%d must not see",
			pv.Name, size, pv.Spec.StorageClassName, snapshot.HumanDuration(age.Duration(c.Now)), pv.Spec.PersistentVolumeReclaimPolicy, st.Namespace, claim, st.Name, i)
	}
	return snapshot.PVDriver(pv)
}

// addFresh records a new claim that gets a new volume from class.
func (s *scaleUp) addFresh(class, claim string, bytes int64) {
	c := s.b.c
	s.fresh[class] = append(s.fresh[class], claim)
	s.freshBytes += bytes
	s.freshCount++
	q, ok := c.price(class, s.classDriver(class), bytes)
	if !ok {
		s.unpriced = append(s.unpriced, claim)
		return
	}
	if s.priceSources == nil {
		s.priceSources = map[string]bool{}
	}
	s.priceSources[q.Source] = true
	s.b.addCost(q, 1)
}

// classDriver returns the CSI driver of a class's new volumes: its provisioner.
func (s *scaleUp) classDriver(class string) string {
	return s.b.c.provisionerOf(class)
}

// provisioning checks, per class, that the class can provision the new claims that get
// no existing volume.
func (s *scaleUp) provisioning() {
	c := s.b.c
	snap := c.Snapshot
	st := s.st
	stRef := ref(snapshot.StatefulSets, st)
	classes := make([]string, 0, len(s.fresh))
	for class := range s.fresh {
		classes = append(classes, class)
	}
	sort.Strings(classes)
	nodes, nodesKnown := s.candidateNodes()
	for _, class := range classes {
		claims := s.fresh[class]
		list := strings.Join(claims, ", ")
		if class == "" {
			s.b.add(CheckProvisioning, audit.Critical, stRef, "new claim(s) %s have no StorageClass (storageClassName \"\" or no default class) and no Available PV matches them: they stay Pending and their pods never start", list)
			continue
		}
		if !snap.Loaded(snapshot.StorageClasses) {
			s.b.add(CheckProvisioning, audit.Warning, stRef, "StorageClasses were not read: whether class %s can provision new claim(s) %s cannot be told", class, list)
			continue
		}
		sc := snap.StorageClass(class)
		if sc == nil {
			s.b.add(CheckProvisioning, audit.Critical, named(string(snapshot.StorageClasses), "", class), "StorageClass %s does not exist: new claim(s) %s stay Pending and their pods never start; create the class or fix the template", class, list)
			continue
		}
		scRef := ref(snapshot.StorageClasses, sc)
		if sc.Provisioner == "kubernetes.io/no-provisioner" {
			s.b.add(CheckProvisioning, audit.Critical, scRef, "StorageClass %s has no provisioner (kubernetes.io/no-provisioner: static local volumes) and no Available PV matches new claim(s) %s: they stay Pending until someone creates PVs for them", class, list)
			continue
		}
		if len(sc.AllowedTopologies) > 0 && nodesKnown {
			allowed := 0
			for _, n := range nodes {
				if snapshot.TopologyAllows(sc.AllowedTopologies, n) {
					allowed++
				}
			}
			if allowed == 0 {
				s.b.add(CheckProvisioning, audit.Critical, scRef, "StorageClass %s may only provision in its allowedTopologies, and none of the %d nodes the pods can land on lies there: new claim(s) %s cannot get a volume their pods can use", class, len(nodes), list)
				continue
			}
		}
		if e := provisioningFailure(snap, class); e != nil {
			s.b.add(CheckProvisioning, audit.Warning, scRef, "StorageClass %s recently failed to provision (ProvisioningFailed on claim %s/%s: %s): new claim(s) %s may stay Pending",
				class, e.InvolvedObject.Namespace, e.InvolvedObject.Name, strings.TrimSpace(e.Message), list)
			continue
		}
		when := "at once (volumeBindingMode Immediate)"
		if snapshot.WaitForFirstConsumer(sc) {
			when = "when each pod is scheduled, where its node is (WaitForFirstConsumer)"
		}
		s.b.add(CheckProvisioning, audit.Info, scRef, "StorageClass %s (provisioner %s) provisions new claim(s) %s %s", class, sc.Provisioner, list, when)
	}
}

// provisioningFailure returns the newest ProvisioningFailed event on a claim of class.
func provisioningFailure(snap *snapshot.Snapshot, class string) *corev1.Event {
	var newest *corev1.Event
	for _, pvc := range snap.PVCsOfClass(class) {
		for _, e := range snap.EventsFor(string(snapshot.PersistentVolumeClaims), pvc.Namespace, pvc.Name, string(pvc.UID)) {
			if e.Reason == "ProvisioningFailed" && (newest == nil || snapshot.EventTime(e).After(snapshot.EventTime(newest))) {
				newest = e
			}
		}
	}
	return newest
}

// candidateNodes returns the nodes the StatefulSet's pods can land on: not cordoned, and
// matching the pod template's nodeSelector. (Affinity and tolerations are not kept in the
// snapshot, so they are not considered; readiness is not either: a pod waits for a node.)
// ok is false when Nodes were not read.
func (s *scaleUp) candidateNodes() ([]*corev1.Node, bool) {
	snap := s.b.c.Snapshot
	if !snap.Loaded(snapshot.Nodes) {
		return nil, false
	}
	sel := labels.SelectorFromSet(s.st.Spec.Template.Spec.NodeSelector)
	var out []*corev1.Node
	for _, n := range snap.Nodes {
		if !n.Spec.Unschedulable && sel.Matches(labels.Set(n.Labels)) {
			out = append(out, n)
		}
	}
	return out, true
}

// attachHeadroom checks, per CSI driver, that the nodes the new pods can land on have
// attach slots (CSINode allocatable.count minus the volumes in use, counted as
// node-attach-limit counts them) for the pods' volumes. A pod needs all its volumes of a
// driver on one node, so a node with f free slots takes f / perPod of them.
func (s *scaleUp) attachHeadroom() {
	c := s.b.c
	snap := c.Snapshot
	if len(s.drivers) == 0 {
		return
	}
	drivers := make([]string, 0, len(s.drivers))
	for d := range s.drivers {
		drivers = append(drivers, d)
	}
	sort.Strings(drivers)
	var missing []string
	for _, k := range []snapshot.Kind{snapshot.Nodes, snapshot.CSINodes, snapshot.VolumeAttachments, snapshot.Pods} {
		if !snap.Complete(k) {
			missing = append(missing, string(k))
		}
	}
	if len(missing) > 0 {
		for _, d := range drivers {
			s.b.add(CheckAttachHeadroom, audit.Warning, named(string(snapshot.CSIDrivers), "", d),
				"attach headroom for driver %s not checked: %s were not completely read", d, strings.Join(missing, ", "))
		}
		return
	}
	nodes, _ := s.candidateNodes()
	where := fmt.Sprintf("the %d node(s) the pods can land on", len(nodes))
	if len(s.st.Spec.Template.Spec.NodeSelector) > 0 {
		where += " (nodeSelector " + labels.SelectorFromSet(s.st.Spec.Template.Spec.NodeSelector).String() + ")"
	}
	for _, d := range drivers {
		need := s.drivers[d]
		obj := named(string(snapshot.CSIDrivers), "", d)
		if snapshot.InTreeProvisioner(d) {
			s.b.add(CheckAttachHeadroom, audit.Info, obj, "attach headroom not checked for %s: an in-tree provisioner publishes no CSINode limit", d)
			continue
		}
		var registered, usage []string
		placeable, free, unlimited := 0, 0, false
		for _, n := range nodes {
			cn := snap.CSINode(n.Name)
			if snapshot.CSINodeDriver(cn, d) == nil {
				continue
			}
			registered = append(registered, n.Name)
			limit, limited := snapshot.AttachLimit(cn, d)
			if !limited {
				unlimited = true
				continue
			}
			used := len(snap.NodeCSIVolumes(n.Name)[d])
			f := max(limit-used, 0)
			free += f
			placeable += f / need.perPod
			usage = append(usage, fmt.Sprintf("%s %d/%d", n.Name, used, limit))
		}
		switch {
		case len(registered) == 0:
			s.b.add(CheckAttachHeadroom, audit.Warning, obj, "driver %s is registered (CSINode) on none of %s: the %d new pod(s) cannot attach or mount its volumes there; install its node plugin or check the nodeSelector",
				d, where, need.pods)
		case unlimited:
			s.b.add(CheckAttachHeadroom, audit.Info, obj, "driver %s declares no attach limit on some of %s: the %d new pod(s) with %d volume(s) fit", d, where, need.pods, need.volumes)
		case placeable < need.pods:
			short := need.volumes - free
			shortText := ""
			if short > 0 {
				shortText = fmt.Sprintf(", %d attach slot(s) short", short)
			}
			s.b.add(CheckAttachHeadroom, audit.Critical, obj, "the %d new pod(s) need %d volume(s) of driver %s (%d per pod), but %s have %d free attach slot(s) (%s; CSINode allocatable.count): only %d pod(s) fit, %d short%s; the rest stay Pending (node(s) exceed max volume count): free slots (va-orphaned), spread volume-heavy pods, or add nodes first",
				need.pods, need.volumes, d, need.perPod, where, free, strings.Join(usage, ", "), placeable, need.pods-placeable, shortText)
		default:
			s.b.add(CheckAttachHeadroom, audit.Info, obj, "the %d new pod(s) need %d volume(s) of driver %s; %s have %d free attach slot(s) (%s): room for %d such pod(s)",
				need.pods, need.volumes, d, where, free, strings.Join(usage, ", "), placeable)
		}
	}
}

// costCheck says what the new volumes cost.
func (s *scaleUp) costCheck() {
	stRef := ref(snapshot.StatefulSets, s.st)
	reused := ""
	if s.reused > 0 {
		reused = fmt.Sprintf("; %d claim(s) re-use existing volumes, already billed", s.reused)
	}
	if s.freshCount == 0 {
		s.b.add(CheckCost, audit.Info, stRef, "no new volume is provisioned: the monthly cost does not change%s", reused)
		return
	}
	sources := make([]string, 0, len(s.priceSources))
	for src := range s.priceSources {
		sources = append(sources, src)
	}
	sort.Strings(sources)
	unpriced := ""
	if len(s.unpriced) > 0 {
		unpriced = fmt.Sprintf("; %d of them have no price and are not counted (%s)", len(s.unpriced), strings.Join(s.unpriced, ", "))
	}
	priced := ""
	if len(sources) > 0 {
		priced = " (price " + strings.Join(sources, ", ") + ")"
	}
	s.b.add(CheckCost, audit.Info, stRef, "the %d new volume(s) (%s) add %s a month%s%s%s",
		s.freshCount, quantityText(s.freshBytes), moneyText(s.b.micros), priced, unpriced, reused)
}

// scaleDown describes a scale-down (or no change) and prices the volumes it frees.
func (b *builder) scaleDown(st *appsv1.StatefulSet, replicas int) {
	c := b.c
	snap := c.Snapshot
	cur := snapshot.Replicas(st)
	stRef := ref(snapshot.StatefulSets, st)
	if replicas == cur {
		b.add(CheckScale, audit.Info, stRef, "StatefulSet %s/%s already runs %d replicas: nothing changes", st.Namespace, st.Name, cur)
		return
	}
	start := snapshot.OrdinalStart(st)
	var claims []string
	freed := map[string]int64{}
	for i := start + replicas; i < start+cur; i++ {
		for _, oc := range snap.OrdinalClaims(st, i) {
			claims = append(claims, oc.Claim.Name)
			pv := snap.BoundPV(oc.Claim)
			if snapshot.WhenScaled(st) != appsv1.DeletePersistentVolumeClaimRetentionPolicyType || pv == nil ||
				pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
				continue
			}
			capa, _ := snapshot.PVCapacity(pv)
			if q, ok := c.price(pv.Spec.StorageClassName, snapshot.PVDriver(pv), capa.Value()); ok {
				b.addCost(q, -1)
				freed[q.Currency] += q.Micros
			}
		}
	}
	list := "none"
	if len(claims) > 0 {
		list = strings.Join(claims, ", ")
	}
	rng := strconv.Itoa(start+replicas) + "-" + strconv.Itoa(start+cur-1)
	if snapshot.WhenScaled(st) == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		b.add(CheckScale, audit.Info, stRef, "scaling %s/%s from %d to %d removes ordinals %s; whenScaled: Delete deletes their claims (%s) and volumes with reclaim policy Delete go with them (%s a month less); Retain volumes stay Released",
			st.Namespace, st.Name, cur, replicas, rng, list, moneyText(freed))
		return
	}
	b.add(CheckScale, audit.Info, stRef, "scaling %s/%s from %d to %d removes ordinals %s; whenScaled: Retain keeps their claims (%s) with their data, still billed, and a later scale-up re-attaches them (see sts-retained-ordinal)",
		st.Namespace, st.Name, cur, replicas, rng, list)
}

// templateDiff says how an existing claim differs from the template that would create it
// today: request (compared as quantities), class (when the template names one) and access
// modes. "" when it matches.
func templateDiff(pvc, tpl *corev1.PersistentVolumeClaim) string {
	var diffs []string
	req, ok1 := snapshot.ClaimRequest(pvc)
	treq, ok2 := snapshot.ClaimRequest(tpl)
	if ok1 && ok2 && req.Cmp(treq) != 0 {
		diffs = append(diffs, fmt.Sprintf("requests %s, template %s", req.String(), treq.String()))
	}
	if tclass, set := snapshot.ClaimClassSet(tpl); set && snapshot.ClaimClass(pvc) != tclass {
		diffs = append(diffs, fmt.Sprintf("class %s, template %s", className(snapshot.ClaimClass(pvc)), className(tclass)))
	}
	if !sameModes(pvc.Spec.AccessModes, tpl.Spec.AccessModes) {
		diffs = append(diffs, fmt.Sprintf("access modes %v, template %v", pvc.Spec.AccessModes, tpl.Spec.AccessModes))
	}
	return strings.Join(diffs, "; ")
}

func sameModes(a, b []corev1.PersistentVolumeAccessMode) bool {
	set := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range a {
		set[m] = true
	}
	other := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range b {
		if !set[m] {
			return false
		}
		other[m] = true
	}
	return len(other) == len(set)
}
