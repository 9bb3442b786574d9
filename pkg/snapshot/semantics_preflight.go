package snapshot

import (
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Semantics shared by the rules and `auditor preflight`: which existing volume a new claim
// is bound to, which claims a StatefulSet re-attaches, how many volumes a node may still
// attach, what a storage quota has left, and which nodes a node selector admits. The rules
// judge the cluster as it is with them; preflight judges a change before it is made, so the
// two must never disagree.

// ClaimMatch is what the PV controller compares an unbound PV with when it looks for a
// volume for a claim (FindMatchingVolume in kube-controller-manager; the scheduler's volume
// binder does the same for WaitForFirstConsumer classes): the claim's class and volume mode
// must equal the PV's, the PV's capacity must hold the request, offer every access mode
// asked for, and carry labels the claim's selector matches.
type ClaimMatch struct {
	Class       string
	VolumeMode  corev1.PersistentVolumeMode
	Request     resource.Quantity
	AccessModes []corev1.PersistentVolumeAccessMode
	// Selector is nil when the claim has none; an invalid selector matches nothing.
	Selector labels.Selector
}

// DefaultClassName returns the class a claim without storageClassName gets (the default
// class, see DefaultStorageClass; "" when none is marked default) and whether that is known:
// false when StorageClasses were not read.
func (s *Snapshot) DefaultClassName() (string, bool) {
	if !s.Loaded(StorageClasses) {
		return "", false
	}
	if sc := DefaultStorageClass(s.StorageClasses); sc != nil {
		return sc.Name, true
	}
	return "", true
}

// NewClaimMatch reads what a claim (or a StatefulSet's volumeClaimTemplate) is matched on.
// A claim without storageClassName gets defaultClass (admission assigns it; since 1.28 the
// PV controller also does so retroactively for Pending claims); ok is false when it names
// none and the default is not known (defaultKnown false): such a claim cannot be matched
// without guessing.
func NewClaimMatch(pvc *corev1.PersistentVolumeClaim, defaultClass string, defaultKnown bool) (ClaimMatch, bool) {
	class, set := ClaimClassSet(pvc)
	if !set {
		if !defaultKnown {
			return ClaimMatch{}, false
		}
		class = defaultClass
	}
	spec := &pvc.Spec
	req, _ := ClaimRequest(pvc)
	m := ClaimMatch{Class: class, VolumeMode: VolumeModeOf(spec.VolumeMode), Request: req, AccessModes: spec.AccessModes}
	if spec.Selector != nil {
		sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
		if err != nil {
			sel = labels.Nothing()
		}
		m.Selector = sel
	}
	return m, true
}

// Matches reports whether pv could hold the claim (see ClaimMatch). It looks at the PV's
// spec only: whether the PV is free is UnreservedAvailable's question.
func (m *ClaimMatch) Matches(pv *corev1.PersistentVolume) bool {
	if pv.Spec.StorageClassName != m.Class || VolumeModeOf(pv.Spec.VolumeMode) != m.VolumeMode {
		return false
	}
	capa, ok := PVCapacity(pv)
	if !ok || capa.Cmp(m.Request) < 0 {
		return false
	}
	return PVHasAccessModes(pv, m.AccessModes) && (m.Selector == nil || m.Selector.Matches(labels.Set(pv.Labels)))
}

// PVHasAccessModes reports whether pv offers every access mode in modes.
func PVHasAccessModes(pv *corev1.PersistentVolume, modes []corev1.PersistentVolumeAccessMode) bool {
	for _, m := range modes {
		found := false
		for _, have := range pv.Spec.AccessModes {
			if have == m {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// VolumeModeOf returns a volume mode, unset meaning Filesystem as the API defaults it.
func VolumeModeOf(m *corev1.PersistentVolumeMode) corev1.PersistentVolumeMode {
	if m == nil {
		return corev1.PersistentVolumeFilesystem
	}
	return *m
}

// UnreservedAvailable reports whether pv is free for any claim: phase Available and no
// claimRef. (A claimRef without UID reserves it for one claim name: see ReservedFor.)
func UnreservedAvailable(pv *corev1.PersistentVolume) bool {
	return pv.Status.Phase == corev1.VolumeAvailable && pv.Spec.ClaimRef == nil
}

// ReservedFor reports whether pv is pre-bound to claim namespace/name: its claimRef names
// the claim without a UID, so a claim of that name created later gets it.
func ReservedFor(pv *corev1.PersistentVolume, namespace, name string) bool {
	ref := pv.Spec.ClaimRef
	return ref != nil && ref.UID == "" && ref.Namespace == namespace && ref.Name == name
}

// NewClaimVolume returns the existing PV a claim namespace/name that does not exist yet
// would be bound to, with match m: a PV reserved for that name (ReservedFor, same volume
// mode), else the smallest unreserved Available PV that matches (the first by name among
// equal sizes), as the PV controller chooses. PVs being deleted and PVs in taken (already
// given to an earlier claim of the same change) are skipped. It returns nil when the claim
// would get a new volume from its class.
func (s *Snapshot) NewClaimVolume(namespace, name string, m *ClaimMatch, taken map[string]bool) (pv *corev1.PersistentVolume, reserved bool) {
	for _, v := range s.PersistentVolumes {
		if ReservedFor(v, namespace, name) && !taken[v.Name] && v.DeletionTimestamp == nil && VolumeModeOf(v.Spec.VolumeMode) == m.VolumeMode {
			return v, true
		}
	}
	var best *corev1.PersistentVolume
	var bestCap resource.Quantity
	for _, v := range s.PVsOfClass(m.Class) {
		if !UnreservedAvailable(v) || taken[v.Name] || v.DeletionTimestamp != nil || !m.Matches(v) {
			continue
		}
		capa, _ := PVCapacity(v)
		if best == nil || capa.Cmp(bestCap) < 0 || (capa.Cmp(bestCap) == 0 && v.Name < best.Name) {
			best, bestCap = v, capa
		}
	}
	return best, false
}

// OrdinalClaim is an existing claim of one ordinal of a StatefulSet, for one of its
// volumeClaimTemplates.
type OrdinalClaim struct {
	Template string
	Claim    *corev1.PersistentVolumeClaim
}

// OrdinalClaims returns the claims that exist for ordinal i of st, in template order: what
// the StatefulSet controller attaches to pod <sts>-<i> when it creates it (it finds claims
// by name, <template>-<sts>-<i>, and creates only the missing ones). A claim whose name
// another StatefulSet of the namespace claims first (StatefulSetClaim) is not st's.
func (s *Snapshot) OrdinalClaims(st *appsv1.StatefulSet, i int) []OrdinalClaim {
	var out []OrdinalClaim
	for _, tpl := range st.Spec.VolumeClaimTemplates {
		pvc := s.PVC(st.Namespace, StatefulSetClaimName(tpl.Name, st.Name, i))
		if pvc == nil {
			continue
		}
		if owner, _, _, ok := s.StatefulSetClaim(pvc); !ok || owner != st {
			continue
		}
		out = append(out, OrdinalClaim{Template: tpl.Name, Claim: pvc})
	}
	return out
}

// RetainedOrdinal reports whether pvc is a claim a StatefulSet keeps for an ordinal outside
// its live range (persistentVolumeClaimRetentionPolicy.whenScaled: Retain, the default,
// keeps the claims of the ordinals a scale-down removes; a scale-up re-attaches them with
// their data). Claims of StatefulSets being deleted or scaled to zero (a paused StatefulSet
// keeps all its data on purpose) are not retained ordinals.
func (s *Snapshot) RetainedOrdinal(pvc *corev1.PersistentVolumeClaim) (st *appsv1.StatefulSet, template string, ordinal int, ok bool) {
	st, template, ordinal, ok = s.StatefulSetClaim(pvc)
	if !ok || LiveOrdinal(st, ordinal) || Replicas(st) == 0 || st.DeletionTimestamp != nil {
		return nil, "", 0, false
	}
	return st, template, ordinal, true
}

// NodeCSIVolumes returns, per CSI driver, the unique volumes in use on a node: the
// VolumeAttachments naming the node (keyed by PV name, or by volume handle for inline
// volumes), united with the PVs bound to the claims of its non-terminated pods (CSI PVs and
// in-tree PVs migrated to CSI). This is what the scheduler counts against a CSINode's
// allocatable.count. Inline CSI and ephemeral (CSI driver) pod volumes that have no
// VolumeAttachment are not counted.
func (s *Snapshot) NodeCSIVolumes(node string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	add := func(driver, key string) {
		if driver == "" || key == "" {
			return
		}
		if out[driver] == nil {
			out[driver] = map[string]bool{}
		}
		out[driver][key] = true
	}
	for _, va := range s.AttachmentsOnNode(node) {
		key := AttachmentPV(va)
		if key == "" {
			if in := va.Spec.Source.InlineVolumeSpec; in != nil && in.CSI != nil {
				key = "inline:" + in.CSI.VolumeHandle
			} else {
				key = "va:" + va.Name
			}
		}
		add(va.Spec.Attacher, key)
	}
	for _, pv := range s.PVsInUseOnNode(node) {
		add(PVDriver(pv), pv.Name)
	}
	return out
}

// AttachLimit returns how many volumes of driver a node may attach: its CSINode's
// spec.drivers[driver].allocatable.count. ok is false when the driver declares no limit or
// has not registered on the node (see CSINodeDriver).
func AttachLimit(cn *storagev1.CSINode, driver string) (limit int, ok bool) {
	entry := CSINodeDriver(cn, driver)
	if entry == nil || entry.Allocatable == nil || entry.Allocatable.Count == nil {
		return 0, false
	}
	return int(*entry.Allocatable.Count), true
}

// StorageClassQuotaSuffix ends the per-class quota resources:
// <class>.storageclass.storage.k8s.io/requests.storage and …/persistentvolumeclaims.
const StorageClassQuotaSuffix = ".storageclass.storage.k8s.io/"

// StorageQuotaResource reports whether a quota resource name limits persistent storage:
// requests.storage, persistentvolumeclaims, count/persistentvolumeclaims, and their
// per-class forms.
func StorageQuotaResource(name string) bool {
	switch name {
	case string(corev1.ResourceRequestsStorage), string(corev1.ResourcePersistentVolumeClaims), "count/persistentvolumeclaims":
		return true
	}
	if _, res, ok := strings.Cut(name, StorageClassQuotaSuffix); ok {
		return res == string(corev1.ResourceRequestsStorage) || res == string(corev1.ResourcePersistentVolumeClaims)
	}
	return false
}

// QuotaUse is one storage resource of a ResourceQuota.
type QuotaUse struct {
	// Resource is the quota's resource name (requests.storage, …).
	Resource string
	// Class is the StorageClass a per-class resource limits, "" for namespace-wide ones.
	Class string
	// Claims is true when the resource counts claims, false when it adds up requests.
	Claims bool
	Hard   resource.Quantity
	// Used is status.used; HasUsed is false before the quota controller computed it.
	Used    resource.Quantity
	HasUsed bool
}

// StorageQuotaUses returns the storage resources (StorageQuotaResource) a quota limits,
// sorted by name: status.hard, or spec.hard before the quota controller has filled the
// status, with status.used.
func StorageQuotaUses(q *corev1.ResourceQuota) []QuotaUse {
	hard := q.Status.Hard
	if len(hard) == 0 {
		hard = q.Spec.Hard
	}
	var out []QuotaUse
	for name, h := range hard {
		n := string(name)
		if !StorageQuotaResource(n) {
			continue
		}
		u := QuotaUse{Resource: n, Hard: h, Claims: strings.HasSuffix(n, "persistentvolumeclaims")}
		if class, _, ok := strings.Cut(n, StorageClassQuotaSuffix); ok {
			u.Class = class
		}
		u.Used, u.HasUsed = q.Status.Used[name]
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// Applies reports whether a claim of class counts against the resource.
func (u QuotaUse) Applies(class string) bool { return u.Class == "" || u.Class == class }

// NodeSelectorMatches reports whether node satisfies a required node selector, as the
// scheduler and the PV's nodeAffinity read it: the terms are ORed, the requirements of a
// term ANDed, and a term without requirements matches nothing. A nil selector matches
// every node.
func NodeSelectorMatches(sel *corev1.NodeSelector, node *corev1.Node) bool {
	if sel == nil {
		return true
	}
	for i := range sel.NodeSelectorTerms {
		if NodeSelectorTermMatches(&sel.NodeSelectorTerms[i], node) {
			return true
		}
	}
	return false
}

// NodeSelectorTermMatches reports whether node satisfies every requirement of a term:
// matchExpressions on its labels (In, NotIn, Exists, DoesNotExist, Gt, Lt) and matchFields
// on metadata.name (In, NotIn), the only field the API allows. An empty term matches
// nothing; an unknown operator or field, or a Gt/Lt value that is not an integer, fails the
// requirement.
func NodeSelectorTermMatches(term *corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, r := range term.MatchExpressions {
		v, has := node.Labels[r.Key]
		if !requirementMatches(r, v, has) {
			return false
		}
	}
	for _, r := range term.MatchFields {
		if r.Key != "metadata.name" || (r.Operator != corev1.NodeSelectorOpIn && r.Operator != corev1.NodeSelectorOpNotIn) {
			return false
		}
		if !requirementMatches(r, node.Name, true) {
			return false
		}
	}
	return true
}

func requirementMatches(r corev1.NodeSelectorRequirement, value string, has bool) bool {
	in := func() bool {
		for _, v := range r.Values {
			if v == value {
				return true
			}
		}
		return false
	}
	switch r.Operator {
	case corev1.NodeSelectorOpIn:
		return has && in()
	case corev1.NodeSelectorOpNotIn:
		return !has || !in()
	case corev1.NodeSelectorOpExists:
		return has
	case corev1.NodeSelectorOpDoesNotExist:
		return !has
	case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(value, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == corev1.NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

// DescribeNodeSelector renders a node selector for messages:
// "topology.kubernetes.io/zone in (eu-1a) and kubernetes.io/hostname exists; or …".
func DescribeNodeSelector(sel *corev1.NodeSelector) string {
	if sel == nil {
		return "any node"
	}
	var terms []string
	for _, t := range sel.NodeSelectorTerms {
		var reqs []string
		for _, r := range t.MatchExpressions {
			reqs = append(reqs, describeRequirement(r))
		}
		for _, r := range t.MatchFields {
			reqs = append(reqs, describeRequirement(r))
		}
		if len(reqs) == 0 {
			reqs = append(reqs, "(empty term: matches no node)")
		}
		terms = append(terms, strings.Join(reqs, " and "))
	}
	return strings.Join(terms, "; or ")
}

func describeRequirement(r corev1.NodeSelectorRequirement) string {
	switch r.Operator {
	case corev1.NodeSelectorOpExists:
		return r.Key + " exists"
	case corev1.NodeSelectorOpDoesNotExist:
		return r.Key + " does not exist"
	case corev1.NodeSelectorOpGt:
		return r.Key + " > " + strings.Join(r.Values, ",")
	case corev1.NodeSelectorOpLt:
		return r.Key + " < " + strings.Join(r.Values, ",")
	case corev1.NodeSelectorOpNotIn:
		return r.Key + " not in (" + strings.Join(r.Values, ", ") + ")"
	}
	return r.Key + " in (" + strings.Join(r.Values, ", ") + ")"
}

// TopologyAllows reports whether node lies in a StorageClass's allowedTopologies: some
// term whose every label requirement the node's labels meet. No terms allow every node.
func TopologyAllows(terms []corev1.TopologySelectorTerm, node *corev1.Node) bool {
	if len(terms) == 0 {
		return true
	}
terms:
	for _, t := range terms {
		for _, r := range t.MatchLabelExpressions {
			v, has := node.Labels[r.Key]
			if !has {
				continue terms
			}
			found := false
			for _, want := range r.Values {
				if want == v {
					found = true
					break
				}
			}
			if !found {
				continue terms
			}
		}
		return true
	}
	return false
}

// NodeFinder answers "does any node satisfy this selector?" for many selectors without
// comparing each with every node: a term that requires a label (or the node name) to be
// In some values is only compared with the nodes carrying those values, found through an
// index built per label key on first use; results are remembered per selector. It reads
// the nodes it was made with and is not safe for concurrent use.
type NodeFinder struct {
	nodes   []*corev1.Node
	byName  map[string]*corev1.Node
	byLabel map[string]map[string][]*corev1.Node // key → value → nodes
	memo    map[string]bool
}

// NewNodeFinder returns a finder over nodes.
func NewNodeFinder(nodes []*corev1.Node) *NodeFinder {
	f := &NodeFinder{nodes: nodes, byName: make(map[string]*corev1.Node, len(nodes)),
		byLabel: map[string]map[string][]*corev1.Node{}, memo: map[string]bool{}}
	for _, n := range nodes {
		f.byName[n.Name] = n
	}
	return f
}

// AnyMatches reports whether some node satisfies sel (NodeSelectorMatches).
func (f *NodeFinder) AnyMatches(sel *corev1.NodeSelector) bool {
	if sel == nil {
		return len(f.nodes) > 0
	}
	key := sel.String()
	if v, ok := f.memo[key]; ok {
		return v
	}
	found := false
	for i := range sel.NodeSelectorTerms {
		term := &sel.NodeSelectorTerms[i]
		for _, n := range f.candidates(term) {
			if NodeSelectorTermMatches(term, n) {
				found = true
				break
			}
		}
		if found {
			break
		}
	}
	f.memo[key] = found
	return found
}

// candidates narrows the nodes a term can match by its first In requirement.
func (f *NodeFinder) candidates(term *corev1.NodeSelectorTerm) []*corev1.Node {
	for _, r := range term.MatchFields {
		if r.Key == "metadata.name" && r.Operator == corev1.NodeSelectorOpIn {
			var out []*corev1.Node
			for _, v := range r.Values {
				if n := f.byName[v]; n != nil {
					out = append(out, n)
				}
			}
			return out
		}
	}
	for _, r := range term.MatchExpressions {
		if r.Operator != corev1.NodeSelectorOpIn {
			continue
		}
		idx := f.byLabel[r.Key]
		if idx == nil {
			idx = map[string][]*corev1.Node{}
			for _, n := range f.nodes {
				if v, ok := n.Labels[r.Key]; ok {
					idx[v] = append(idx[v], n)
				}
			}
			f.byLabel[r.Key] = idx
		}
		var out []*corev1.Node
		for _, v := range r.Values {
			out = append(out, idx[v]...)
		}
		return out
	}
	return f.nodes
}
