package catalog

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Helpers shared by the claim and StorageClass rules (pvc-pending, sc-*, pvc-expansion-*,
// pvc-resize-stuck, pv-capacity-mismatch).

// claimFacts are the facts every claim finding of these rules carries.
func claimFacts(pvc *corev1.PersistentVolumeClaim) map[string]string {
	d := map[string]string{
		"phase":    string(pvc.Status.Phase),
		"request":  "unknown",
		"capacity": "unknown",
	}
	switch class, set := snapshot.ClaimClassSet(pvc); {
	case !set:
		d["storageClass"] = "(not set)"
	case class == "":
		d["storageClass"] = `"" (static binding)`
	default:
		d["storageClass"] = class
	}
	if q, ok := snapshot.ClaimRequest(pvc); ok {
		d["request"] = q.String()
	}
	if q, ok := snapshot.ClaimCapacity(pvc); ok {
		d["capacity"] = q.String()
	} else if pvc.Status.Phase != corev1.ClaimBound {
		delete(d, "capacity") // not provisioned yet: nothing to report
	}
	if pvc.Spec.VolumeName != "" {
		d["volumeName"] = pvc.Spec.VolumeName
	}
	return d
}

// expansionBlocker says why the volumes of a class (or one claim's volume) can never be
// expanded, whatever allowVolumeExpansion promises.
type expansionBlocker struct {
	// Reason completes "volumes of this class cannot be expanded: …".
	Reason string
	// Fix is the next step for the class ("" when the blocker is one claim's volume).
	Fix string
	// Curable is true when fixing the cluster (deploying a resizer) lets waiting claims
	// grow; otherwise their data has to move to a class that can expand.
	Curable bool
	// Details are the facts behind the verdict.
	Details map[string]string
}

// classExpansionBlocker decides whether volumes of sc can ever be expanded. It returns nil
// when they may be, and also whenever the snapshot cannot tell: it is shared by
// sc-expansion-unsupported and pvc-expansion-ignored and must never make either fire on a
// class that works.
//
// Decisive without pods: a provisioner known not to expand, or PVs of the class that are
// all hostPath/local/nfs volumes (this catches Helm charts that rename the provisioner to
// cluster.local/<release>). For a CSI driver (a CSIDriver object or CSI PVs name it) the
// verdict needs every namespace's pods: it is "no resizer" only when the driver's
// controller pod is visible (a pod naming the driver with a csi-provisioner sidecar), no
// pod naming the driver runs a csi-resizer, no csi-resizer pod is left that names no known
// driver at all, and the resizer's leader Lease does not exist. Drivers whose controller
// runs outside the cluster (GKE, AKS managed drivers) are therefore never reported.
// In-tree provisioners (kubernetes.io/aws-ebs, gce-pd, …) are never "no resizer" cases.
func classExpansionBlocker(snap *snapshot.Snapshot, sc *storagev1.StorageClass) *expansionBlocker {
	prov := sc.Provisioner
	if why, ok := snapshot.NonExpandingProvisioners[prov]; ok {
		return &expansionBlocker{
			Reason:  fmt.Sprintf("provisioner %s cannot expand volumes (%s)", prov, why),
			Fix:     "set allowVolumeExpansion: false on the class",
			Details: map[string]string{"provisioner": prov, "blocker": "known non-expanding provisioner"},
		}
	}
	if b := pvSourceBlocker(snap.PVsOfClass(sc.Name)); b != nil {
		b.Details["provisioner"] = prov
		return b
	}
	if snapshot.InTreeProvisioner(prov) {
		return nil
	}
	return csiResizerBlocker(snap, sc)
}

// pvSourceBlocker reports a class whose PVs are all hostPath, local or nfs volumes.
func pvSourceBlocker(pvs []*corev1.PersistentVolume) *expansionBlocker {
	if len(pvs) == 0 {
		return nil
	}
	sources := map[string]bool{}
	var names []string
	for _, pv := range pvs {
		src := snapshot.NonExpandableSource(pv)
		if src == "" {
			return nil // a volume of another kind: the class may expand some of its volumes
		}
		sources[src] = true
		names = append(names, pv.Name)
	}
	kinds := make([]string, 0, len(sources))
	for s := range sources {
		kinds = append(kinds, s)
	}
	sort.Strings(kinds)
	sort.Strings(names)
	return &expansionBlocker{
		Reason: fmt.Sprintf("its PersistentVolumes are %s volumes (%s), which can never be expanded", strings.Join(kinds, "/"), headAndCount(names)),
		Fix:    "set allowVolumeExpansion: false on the class",
		Details: map[string]string{
			"blocker":   "volume source cannot be expanded",
			"pvSources": strings.Join(kinds, ", "),
			"pvs":       firstOf(names, 10, ", "),
		},
	}
}

// csiResizerBlocker implements the "CSI driver without external-resizer" verdict of
// classExpansionBlocker.
func csiResizerBlocker(snap *snapshot.Snapshot, sc *storagev1.StorageClass) *expansionBlocker {
	driver := sc.Provisioner
	// Judging absence needs every pod; Leases are only read from kube-system, so they can
	// add evidence of a resizer but their absence alone proves nothing.
	// A name without a dot cannot be told apart from ordinary words in pod specs.
	if !strings.Contains(driver, ".") || !snap.Complete(snapshot.Pods) || !snap.Loaded(snapshot.Leases) {
		return nil
	}
	if !csiDriverKnown(snap, sc) || snap.HasResizerLease(driver) {
		return nil
	}
	known := snapshotDriverNames(snap)
	var controllers []string
	for _, p := range snap.Pods {
		resizer, provisioner := false, false
		// Native sidecars (restartPolicy: Always) are init containers.
		for _, cs := range [2][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for i := range cs {
				resizer = resizer || snapshot.CSIResizerContainer(cs[i])
				provisioner = provisioner || snapshot.CSIProvisionerContainer(cs[i])
			}
		}
		if !resizer && !provisioner {
			continue
		}
		mentions := snapshot.PodMentions(p, driver)
		if resizer {
			if mentions || !podNamesADriver(p, known) {
				return nil // this driver's resizer, or one we cannot rule out
			}
		}
		if mentions && provisioner {
			controllers = append(controllers, p.Namespace+"/"+p.Name)
		}
	}
	if len(controllers) == 0 {
		return nil // the controller is not visible (managed control plane?): cannot tell
	}
	sort.Strings(controllers)
	lease := snapshot.ResizerLeaseName(driver)
	return &expansionBlocker{
		Reason: fmt.Sprintf("CSI driver %s has no external-resizer (its controller pod %s runs no csi-resizer container and there is no Lease kube-system/%s)",
			driver, headAndCount(controllers), lease),
		Fix:     "add the csi-resizer sidecar to the driver's controller (most charts have a switch for it), or set allowVolumeExpansion: false on the class",
		Curable: true,
		Details: map[string]string{
			"provisioner":    driver,
			"blocker":        "CSI driver without csi-resizer sidecar",
			"controllerPods": strings.Join(controllers, ", "),
			"resizerLease":   "kube-system/" + lease + " (absent)",
		},
	}
}

// csiDriverKnown reports evidence that the class's provisioner is a CSI driver: a CSIDriver
// object of that name, or a CSI PV of the class served by it.
func csiDriverKnown(snap *snapshot.Snapshot, sc *storagev1.StorageClass) bool {
	if snap.Loaded(snapshot.CSIDrivers) && snap.Object(snapshot.CSIDrivers, "", sc.Provisioner) != nil {
		return true
	}
	for _, pv := range snap.PVsOfClass(sc.Name) {
		if pv.Spec.CSI != nil && pv.Spec.CSI.Driver == sc.Provisioner {
			return true
		}
	}
	return false
}

// snapshotDriverNames lists every driver name the snapshot shows: CSIDriver objects, class
// provisioners and the drivers of CSI PVs. Names without a dot are left out: a short name
// ("csi", "nfs") would appear in unrelated pods and wrongly attribute their resizers.
func snapshotDriverNames(snap *snapshot.Snapshot) []string {
	set := map[string]bool{}
	for _, d := range snap.CSIDrivers {
		set[d.Name] = true
	}
	for _, sc := range snap.StorageClasses {
		set[sc.Provisioner] = true
	}
	for _, pv := range snap.PersistentVolumes {
		if pv.Spec.CSI != nil {
			set[pv.Spec.CSI.Driver] = true
		}
	}
	out := make([]string, 0, len(set))
	for d := range set {
		if strings.Contains(d, ".") {
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// podNamesADriver reports whether a pod names any known driver.
func podNamesADriver(p *corev1.Pod, drivers []string) bool {
	for _, d := range drivers {
		if snapshot.PodMentions(p, d) {
			return true
		}
	}
	return false
}

// classBlockers memoizes classExpansionBlocker per StorageClass name within one rule run:
// the verdict depends only on the snapshot and the class, and for a CSI driver it reads
// every pod, so computing it once per claim made a rule quadratic. The blockers it hands
// out are shared between claims: callers must not modify them.
type classBlockers map[string]*expansionBlocker

func (m classBlockers) get(snap *snapshot.Snapshot, sc *storagev1.StorageClass) *expansionBlocker {
	if b, ok := m[sc.Name]; ok {
		return b
	}
	b := classExpansionBlocker(snap, sc)
	m[sc.Name] = b
	return b
}

// claimExpansionBlocker says why one claim's volume can never be expanded: its own PV is a
// hostPath/local/nfs volume, or its class cannot expand (classExpansionBlocker, looked up
// in classes).
func claimExpansionBlocker(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim, classes classBlockers) *expansionBlocker {
	if pv := snap.BoundPV(pvc); pv != nil {
		if src := snapshot.NonExpandableSource(pv); src != "" {
			return &expansionBlocker{
				Reason:  fmt.Sprintf("its volume %s (%s) can never be expanded", pv.Name, src),
				Details: map[string]string{"blocker": "volume source cannot be expanded", "pvSources": src},
			}
		}
	}
	if sc := snap.StorageClass(snapshot.ClaimClass(pvc)); sc != nil {
		return classes.get(snap, sc)
	}
	return nil
}

// headAndCount names the first item of a sorted list and how many others there are.
func headAndCount(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return fmt.Sprintf("%s and %d more", items[0], len(items)-1)
}

// runningClaimUsers returns the running pods that use a claim, sorted by name.
func runningClaimUsers(snap *snapshot.Snapshot, pvc *corev1.PersistentVolumeClaim) []*corev1.Pod {
	var out []*corev1.Pod
	for _, p := range snap.PodsUsingClaim(pvc.Namespace, pvc.Name) {
		if snapshot.PodRunning(p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// podNameList joins pod names.
func podNameList(pods []*corev1.Pod) string {
	n := make([]string, len(pods))
	for i, p := range pods {
		n[i] = p.Name
	}
	return strings.Join(n, ", ")
}

// ageQualifier marks an age that is only an upper bound (snapshot.UpperBoundAge).
func ageQualifier(a snapshot.Age) string {
	if strings.Contains(a.Source, "upper bound") {
		return " at most (no event left to date the request; measured from the claim's creation)"
	}
	return ""
}
