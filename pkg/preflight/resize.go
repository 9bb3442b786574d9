package preflight

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// ResizeClaim checks growing claim namespace/name to size: the claim is Bound and would
// grow (claims cannot shrink), its class allows expansion and can really expand (the same
// verdict as sc-expansion-unsupported), a resizer serves its driver, past events do not
// show a driver that only expands detached volumes, no resize is already pending, the
// file system grows, the namespace's quota admits the growth, and what it costs.
func (c *Checker) ResizeClaim(namespace, name string, size resource.Quantity) (*Result, error) {
	snap := c.Snapshot
	if !snap.Loaded(snapshot.PersistentVolumeClaims) {
		return nil, fmt.Errorf("cannot check a resize without PersistentVolumeClaim objects: %s", unreadable(snap, snapshot.PersistentVolumeClaims))
	}
	if size.Sign() <= 0 {
		return nil, fmt.Errorf("--size %s: want a size above zero, such as 20Gi", size.String())
	}
	pvc := snap.PVC(namespace, name)
	if pvc == nil {
		return nil, fmt.Errorf("PersistentVolumeClaim %s/%s not found in %s", namespace, name, snap.Source)
	}
	r := c.newResize(size)
	r.claim(pvc)
	r.classChecks()
	r.b.quotaChecks(namespace, r.quota, fmt.Sprintf("growing claim %s to %s", name, size.String()))
	r.costCheck(ref(snapshot.PersistentVolumeClaims, pvc))
	return r.b.finish(fmt.Sprintf("resize claim %s/%s from %s to %s", namespace, name, requestText(pvc), size.String())), nil
}

// ResizeStatefulSet checks growing the claims of StatefulSet namespace/name made from
// volumeClaimTemplate template ("" when it has only one) to size: every claim of a live
// ordinal gets ResizeClaim's checks (class-wide ones once per class), and the result adds
// what must change besides the claims: the template itself (it cannot be changed in
// place), the Helm value or GitOps manifest that renders it, and retained claims outside
// the live ordinals that keep the old size.
func (c *Checker) ResizeStatefulSet(namespace, name, template string, size resource.Quantity) (*Result, error) {
	snap := c.Snapshot
	for _, k := range []snapshot.Kind{snapshot.StatefulSets, snapshot.PersistentVolumeClaims} {
		if !snap.Loaded(k) {
			return nil, fmt.Errorf("cannot check a resize without %s objects: %s", k, unreadable(snap, k))
		}
	}
	if size.Sign() <= 0 {
		return nil, fmt.Errorf("--size %s: want a size above zero, such as 20Gi", size.String())
	}
	st := snap.StatefulSet(namespace, name)
	if st == nil {
		return nil, fmt.Errorf("StatefulSet %s/%s not found in %s", namespace, name, snap.Source)
	}
	tpl, err := snapshot.ClaimTemplate(st, template)
	if err != nil {
		return nil, err
	}
	r := c.newResize(size)
	stRef := ref(snapshot.StatefulSets, st)
	start, n := snapshot.OrdinalStart(st), snapshot.Replicas(st)
	claims := 0
	for i := start; i < start+n; i++ {
		var pvc *corev1.PersistentVolumeClaim
		for _, oc := range snap.OrdinalClaims(st, i) {
			if oc.Template == tpl.Name {
				pvc = oc.Claim
			}
		}
		if pvc == nil {
			r.b.add(CheckClaimBound, audit.Warning, stRef, "claim %s of live ordinal %d does not exist (its pod was never created?): the controller creates it from the template, at the template's size",
				snapshot.StatefulSetClaimName(tpl.Name, st.Name, i), i)
			continue
		}
		claims++
		r.claim(pvc)
	}
	if claims == 0 && n > 0 {
		r.b.add(CheckClaimBound, audit.Warning, stRef, "no claim of template %s exists for the live ordinals %s: there is nothing to resize yet", tpl.Name, snapshot.OrdinalRange(st))
	}
	r.classChecks()
	r.templateChecks(st, tpl)
	r.b.quotaChecks(namespace, r.quota, fmt.Sprintf("growing %d claim(s) of %s to %s", claims, name, size.String()))
	r.costCheck(stRef)
	old := "unset"
	if q, ok := snapshot.ClaimRequest(tpl); ok {
		old = q.String()
	}
	return r.b.finish(fmt.Sprintf("resize the %s claims of StatefulSet %s/%s from %s to %s", tpl.Name, namespace, name, old, size.String())), nil
}

// resize is the state of one resize check.
type resize struct {
	b     *builder
	size  resource.Quantity
	quota *quotaNeed
	// classes are the classes of the claims checked, with one of their claims, for the
	// class-wide checks.
	classes  map[string]*corev1.PersistentVolumeClaim
	blockers snapshot.ClassBlockers
	grown    int
	growth   int64
	unpriced []string
}

func (c *Checker) newResize(size resource.Quantity) *resize {
	return &resize{b: c.newBuilder(), size: size, quota: newQuotaNeed(),
		classes: map[string]*corev1.PersistentVolumeClaim{}, blockers: snapshot.ClassBlockers{}}
}

// requestText renders a claim's request.
func requestText(pvc *corev1.PersistentVolumeClaim) string {
	if q, ok := snapshot.ClaimRequest(pvc); ok {
		return q.String()
	}
	return "unset"
}

// claim checks one claim.
func (r *resize) claim(pvc *corev1.PersistentVolumeClaim) {
	c := r.b.c
	snap := c.Snapshot
	obj := ref(snapshot.PersistentVolumeClaims, pvc)
	id := pvc.Namespace + "/" + pvc.Name
	if pvc.Status.Phase != corev1.ClaimBound {
		r.b.add(CheckClaimBound, audit.Critical, obj, "claim %s is %s, not Bound: only a Bound claim can be resized (admission rejects the change)", id, phaseText(pvc))
		return
	}
	req, _ := snapshot.ClaimRequest(pvc)
	capa, hasCap := snapshot.ClaimCapacity(pvc)
	if !hasCap {
		capa = req
	}
	switch {
	case r.size.Cmp(capa) < 0:
		r.b.add(CheckResizeSize, audit.Critical, obj, "claim %s has %s and %s is smaller: claims cannot shrink (the API rejects it); move the data to a new, smaller claim instead", id, capa.String(), r.size.String())
		return
	case r.size.Cmp(req) == 0:
		r.b.add(CheckResizeSize, audit.Info, obj, "claim %s already requests %s (it has %s): nothing to change", id, req.String(), capa.String())
	case r.size.Cmp(req) < 0:
		r.b.add(CheckResizeSize, audit.Warning, obj, "claim %s requests %s and has %s: %s lowers a pending request, which 1.32+ allows only to recover from a failed expansion", id, req.String(), capa.String(), r.size.String())
	}
	class := snapshot.ClaimClass(pvc)
	if _, seen := r.classes[class]; !seen {
		r.classes[class] = pvc
	}
	pv := snap.BoundPV(pvc)
	// The claim's own volume may be unable to grow in a class that otherwise can; a class
	// that cannot is reported once, by classChecks.
	if blocker := snap.ClaimExpansionBlocker(pvc, r.blockers); blocker != nil {
		if sc := c.classOf(class); sc == nil || r.blockers.Get(snap, sc) == nil {
			r.b.add(CheckClassExpansion, audit.Critical, obj, "claim %s: %s, so the resize is accepted (if the class allows it) and then never happens; copy the data to a claim of a class that can expand", id, blocker.Reason)
		}
	}
	if pv != nil {
		if fs := pvFSType(pv); fs != "" && fs != "ext3" && fs != "ext4" && fs != "xfs" && snapshot.VolumeModeOf(pv.Spec.VolumeMode) == corev1.PersistentVolumeFilesystem {
			r.b.add(CheckFilesystem, audit.Warning, obj, "volume %s of claim %s has file system %s: the kubelet only grows ext3, ext4 and xfs, so the disk may grow while the file system does not", pv.Name, id, fs)
		}
	}
	if snapshot.ExpansionRequested(pvc) || snapshot.ResizeActivity(pvc) {
		status := snapshot.ResizeStatus(pvc)
		if status == "" {
			status = "no resize status"
		}
		r.b.add(CheckResizeInProgress, audit.Warning, obj, "claim %s already has a resize under way or stuck (requests %s, has %s, %s): see where it stands (`kubectl describe pvc %s -n %s`, rules pvc-resize-stuck and pvc-expansion-ignored) before asking for more",
			id, req.String(), capa.String(), status, pvc.Name, pvc.Namespace)
	}
	if d := r.driverOf(pvc, pv); d == "ebs.csi.aws.com" {
		if e := lastResize(snap, pvc); e != nil && c.Now.Sub(snapshot.EventTime(e)) < 6*time.Hour {
			r.b.add(CheckResizeCooldown, audit.Warning, obj, "claim %s was resized %s ago (%s): AWS EBS allows one modification per volume every 6 hours, so a new resize fails until then",
				id, snapshot.HumanDuration(c.Now.Sub(snapshot.EventTime(e))), e.Reason)
		}
	}
	if r.size.Cmp(req) > 0 {
		grow := r.size.DeepCopy()
		grow.Sub(req)
		r.quota.bytes[class] += grow.Value()
	}
	// The bill follows the provisioned size: what the volume has now, what it will have.
	oldBytes := capa.Value()
	if pv != nil {
		if q, ok := snapshot.PVCapacity(pv); ok {
			oldBytes = q.Value()
		}
	}
	if r.size.Value() <= oldBytes {
		return
	}
	r.grown++
	r.growth += r.size.Value() - oldBytes
	driver := r.driverOf(pvc, pv)
	newQ, ok1 := c.price(class, driver, r.size.Value())
	oldQ, ok2 := c.price(class, driver, oldBytes)
	if !ok1 || !ok2 {
		r.unpriced = append(r.unpriced, pvc.Name)
		return
	}
	r.b.addCost(newQ, 1)
	r.b.addCost(oldQ, -1)
}

func phaseText(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Status.Phase == "" {
		return "in no phase yet"
	}
	return string(pvc.Status.Phase)
}

// pvFSType returns the file system a PV is formatted with, when it says.
func pvFSType(pv *corev1.PersistentVolume) string {
	s := pv.Spec.PersistentVolumeSource
	switch {
	case s.CSI != nil:
		return s.CSI.FSType
	case s.AWSElasticBlockStore != nil:
		return s.AWSElasticBlockStore.FSType
	case s.GCEPersistentDisk != nil:
		return s.GCEPersistentDisk.FSType
	}
	return ""
}

// driverOf returns the driver that expands a claim's volume: its PV's CSI driver (or the
// driver an in-tree PV was migrated to), else its class's provisioner.
func (r *resize) driverOf(pvc *corev1.PersistentVolumeClaim, pv *corev1.PersistentVolume) string {
	if pv != nil {
		if d := snapshot.PVDriver(pv); d != "" {
			return d
		}
	}
	return r.b.c.provisionerOf(snapshot.ClaimClass(pvc))
}

// lastResize returns the newest event saying a resize of the claim happened or started.
func lastResize(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim) *corev1.Event {
	var last *corev1.Event
	for _, e := range snap.EventsFor(string(snapshot.PersistentVolumeClaims), pvc.Namespace, pvc.Name, string(pvc.UID)) {
		switch e.Reason {
		case "VolumeResizeSuccessful", "FileSystemResizeSuccessful", "Resizing":
			last = e // EventsFor is oldest first
		}
	}
	return last
}

// classChecks judges, once per class of the claims checked: does the class allow
// expansion (admission), can its volumes really expand (the shared expansion verdict),
// does a resizer serve the driver, and do past resize failures of the class's claims say
// the driver only expands detached volumes.
func (r *resize) classChecks() {
	c := r.b.c
	snap := c.Snapshot
	classes := make([]string, 0, len(r.classes))
	for class := range r.classes {
		classes = append(classes, class)
	}
	sort.Strings(classes)
	for _, class := range classes {
		pvc := r.classes[class]
		if !snap.Loaded(snapshot.StorageClasses) {
			r.b.add(CheckClassExpansion, audit.Warning, named(string(snapshot.StorageClasses), "", class),
				"whether class %s allows and can do expansion was not checked: StorageClasses were not read (%s)", class, unreadable(snap, snapshot.StorageClasses))
			continue
		}
		sc := c.classOf(class)
		if sc == nil {
			r.b.add(CheckClassExpansion, audit.Critical, named(string(snapshot.PersistentVolumeClaims), pvc.Namespace, pvc.Name),
				"claim %s/%s has StorageClass %s, which does not exist: admission only lets claims of an existing class with allowVolumeExpansion: true grow", pvc.Namespace, pvc.Name, className(class))
			continue
		}
		scRef := ref(snapshot.StorageClasses, sc)
		if sc.AllowVolumeExpansion == nil || !*sc.AllowVolumeExpansion {
			flag := "false"
			if sc.AllowVolumeExpansion == nil {
				flag = "unset"
			}
			r.b.add(CheckClassExpansion, audit.Critical, scRef, "StorageClass %s does not allow volume expansion (allowVolumeExpansion: %s): admission rejects the resize; only if its provisioner really expands, set allowVolumeExpansion: true on the class first", class, flag)
			continue
		}
		if b := r.blockers.Get(snap, sc); b != nil {
			next := "copy the data to a claim of a class that can expand"
			if b.Curable {
				next = b.Fix
			}
			r.b.add(CheckClassExpansion, audit.Critical, scRef, "StorageClass %s allows volume expansion but %s: the resize is accepted and then never happens (the claim keeps asking for more than it has); %s", class, b.Reason, next)
			continue
		}
		r.resizerCheck(sc, pvc)
		r.offlineHint(sc)
	}
}

// resizerCheck looks for the external-resizer of a CSI class's driver: its leader Lease in
// kube-system, or a csi-resizer container in a pod naming the driver.
func (r *resize) resizerCheck(sc *storagev1.StorageClass, pvc *corev1.PersistentVolumeClaim) {
	snap := r.b.c.Snapshot
	driver := r.driverOf(pvc, snap.BoundPV(pvc))
	scRef := ref(snapshot.StorageClasses, sc)
	if snapshot.InTreeProvisioner(driver) {
		r.b.add(CheckResizer, audit.Info, scRef, "class %s uses the in-tree provisioner %s: kube-controller-manager (or the CSI driver it is migrated to) expands its volumes", sc.Name, driver)
		return
	}
	lease := "kube-system/" + snapshot.ResizerLeaseName(driver)
	if snap.Loaded(snapshot.Leases) && snap.HasResizerLease(driver) {
		r.b.add(CheckResizer, audit.Info, scRef, "the external-resizer of driver %s is running (it holds Lease %s)", driver, lease)
		return
	}
	if pods := snap.ResizerPods(driver); len(pods) > 0 {
		r.b.add(CheckResizer, audit.Info, scRef, "the external-resizer of driver %s runs in %s", driver, strings.Join(pods, ", "))
		return
	}
	seen := "no Lease " + lease
	if !snap.Loaded(snapshot.Leases) {
		seen = "Leases were not read"
	}
	if !snap.Complete(snapshot.Pods) {
		seen += ", and not every pod was read"
	} else {
		seen += ", no pod naming the driver runs a csi-resizer container"
	}
	r.b.add(CheckResizer, audit.Warning, scRef, "no external-resizer seen for driver %s (%s): unless it runs outside the cluster (managed drivers), the resize stays at ExternalExpanding; check `kubectl get lease -A | grep external-resizer`", driver, seen)
}

// offlineHints are fragments of resize failure messages from drivers that only expand
// volumes that are not attached or mounted (online expansion unsupported).
var offlineHints = []string{"offline", "online", "in-use", "in use", "detach", "unattached", "not attached", "must be stopped"}

// offlineHint reports a past resize failure on a claim of the class that says the driver
// expands only detached volumes: resizing a claim in use then fails until its pods stop.
func (r *resize) offlineHint(sc *storagev1.StorageClass) {
	snap := r.b.c.Snapshot
	var hit *corev1.Event
	for _, pvc := range snap.PVCsOfClass(sc.Name) {
		for _, e := range snap.EventsFor(string(snapshot.PersistentVolumeClaims), pvc.Namespace, pvc.Name, "") {
			if e.Reason != "VolumeResizeFailed" && e.Reason != "FileSystemResizeFailed" {
				continue
			}
			msg := strings.ToLower(e.Message)
			for _, h := range offlineHints {
				if strings.Contains(msg, h) && (hit == nil || snapshot.EventTime(e).After(snapshot.EventTime(hit))) {
					hit = e
				}
			}
		}
	}
	if hit == nil {
		return
	}
	r.b.add(CheckOfflineResize, audit.Warning, ref(snapshot.StorageClasses, sc), "a past resize of claim %s/%s of class %s failed with %q: the driver may only expand volumes that are not in use; plan to stop the pods using the claims (scale the workload down) while they grow",
		hit.InvolvedObject.Namespace, hit.InvolvedObject.Name, sc.Name, strings.TrimSpace(hit.Message))
}

// templateChecks says what must change besides the claims of a StatefulSet.
func (r *resize) templateChecks(st *appsv1.StatefulSet, tpl *corev1.PersistentVolumeClaim) {
	snap := r.b.c.Snapshot
	stRef := ref(snapshot.StatefulSets, st)
	old := "unset"
	if q, ok := snapshot.ClaimRequest(tpl); ok {
		old = q.String()
	}
	r.b.add(CheckTemplate, audit.Info, stRef, "volumeClaimTemplates cannot be changed in place (the API answers spec: Forbidden): once the claims have grown, run `kubectl delete statefulset %s -n %s --cascade=orphan` and re-create it with %s in template %s (same selector, serviceName and podManagementPolicy; it adopts the pods and claims), or new ordinals keep getting %s",
		st.Name, st.Namespace, r.size.String(), tpl.Name, old)
	var retained []string
	for _, pvc := range snap.PersistentVolumeClaims {
		if pvc.Namespace != st.Namespace {
			continue
		}
		if owner, t, _, ok := snap.RetainedOrdinal(pvc); ok && owner == st && t == tpl.Name {
			retained = append(retained, pvc.Name)
		}
	}
	if len(retained) > 0 {
		sort.Strings(retained)
		r.b.add(CheckTemplate, audit.Info, stRef, "claim(s) %s of ordinals outside the live range are kept at their size: a scale-up re-attaches them as they are; resize them too, or delete them if their data is not wanted",
			strings.Join(retained, ", "))
	}
	managed := st.Labels["app.kubernetes.io/managed-by"] == "Helm" || st.Annotations["meta.helm.sh/release-name"] != ""
	if managed {
		release := st.Annotations["meta.helm.sh/release-name"]
		if release == "" {
			release = st.Labels["app.kubernetes.io/instance"]
		}
		chart := st.Labels["helm.sh/chart"]
		if chart == "" {
			chart = "unknown chart"
		}
		r.b.add(CheckHelmValue, audit.Info, stRef, "StatefulSet %s is managed by Helm (release %s, %s): set the chart value that renders template %s's storage request (often persistence.size or <component>.persistence.size) to %s, and re-create the StatefulSet orphan-style before `helm upgrade`, or the upgrade fails with `cannot patch %q with kind StatefulSet` (or the next one shrinks the template back)",
			st.Name, release, chart, tpl.Name, r.size.String(), st.Name)
	}
	if st.Labels["argocd.argoproj.io/instance"] != "" || st.Annotations["argocd.argoproj.io/tracking-id"] != "" {
		r.b.add(CheckGitOps, audit.Info, stRef, "StatefulSet %s is managed by Argo CD: change the size in its manifest too, or a sync re-creates the old template after the orphan delete", st.Name)
	}
}

// costCheck says what the growth costs.
func (r *resize) costCheck(obj audit.ObjectRef) {
	if r.grown == 0 {
		r.b.add(CheckCost, audit.Info, obj, "no volume grows: the monthly cost does not change")
		return
	}
	unpriced := ""
	if len(r.unpriced) > 0 {
		unpriced = fmt.Sprintf("; %d volume(s) have no price and are not counted (%s)", len(r.unpriced), strings.Join(r.unpriced, ", "))
	}
	r.b.add(CheckCost, audit.Info, obj, "growing %d volume(s) by %s in all adds %s a month%s", r.grown, quantityText(r.growth), moneyText(r.b.micros), unpriced)
}
