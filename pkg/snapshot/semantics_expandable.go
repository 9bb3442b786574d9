package snapshot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
)

// Whether a StorageClass (or one claim's volume) can really expand, whatever
// allowVolumeExpansion promises. The rules sc-expansion-unsupported and
// pvc-expansion-ignored and `auditor preflight resize` judge with these, so a resize the
// audit calls hopeless is never called safe before it is tried, and the other way round.

// ExpansionBlocker says why the volumes of a class (or one claim's volume) can never be
// expanded, whatever allowVolumeExpansion promises.
type ExpansionBlocker struct {
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

// ClassExpansionBlocker decides whether volumes of sc can ever be expanded. It returns nil
// when they may be, and also whenever the snapshot cannot tell: a verdict from it must
// never be wrong about a class that works.
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
func (s *Snapshot) ClassExpansionBlocker(sc *storagev1.StorageClass) *ExpansionBlocker {
	prov := sc.Provisioner
	if why, ok := NonExpandingProvisioners[prov]; ok {
		return &ExpansionBlocker{
			Reason:  fmt.Sprintf("provisioner %s cannot expand volumes (%s)", prov, why),
			Fix:     "set allowVolumeExpansion: false on the class",
			Details: map[string]string{"provisioner": prov, "blocker": "known non-expanding provisioner"},
		}
	}
	if b := pvSourceBlocker(s.PVsOfClass(sc.Name)); b != nil {
		b.Details["provisioner"] = prov
		return b
	}
	if InTreeProvisioner(prov) {
		return nil
	}
	return s.csiResizerBlocker(sc)
}

// pvSourceBlocker reports a class whose PVs are all hostPath, local or nfs volumes.
func pvSourceBlocker(pvs []*corev1.PersistentVolume) *ExpansionBlocker {
	if len(pvs) == 0 {
		return nil
	}
	sources := map[string]bool{}
	var names []string
	for _, pv := range pvs {
		src := NonExpandableSource(pv)
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
	return &ExpansionBlocker{
		Reason: fmt.Sprintf("its PersistentVolumes are %s volumes (%s), which can never be expanded", strings.Join(kinds, "/"), HeadAndCount(names)),
		Fix:    "set allowVolumeExpansion: false on the class",
		Details: map[string]string{
			"blocker":   "volume source cannot be expanded",
			"pvSources": strings.Join(kinds, ", "),
			"pvs":       firstOf(names, 10, ", "),
		},
	}
}

// csiResizerBlocker implements the "CSI driver without external-resizer" verdict of
// ClassExpansionBlocker.
func (s *Snapshot) csiResizerBlocker(sc *storagev1.StorageClass) *ExpansionBlocker {
	driver := sc.Provisioner
	// Judging absence needs every pod; Leases are only read from kube-system, so they can
	// add evidence of a resizer but their absence alone proves nothing.
	// A name without a dot cannot be told apart from ordinary words in pod specs.
	if !strings.Contains(driver, ".") || !s.Complete(Pods) || !s.Loaded(Leases) {
		return nil
	}
	if !s.csiDriverKnown(sc) || s.HasResizerLease(driver) {
		return nil
	}
	known := s.driverNames()
	var controllers []string
	for _, p := range s.Pods {
		resizer, provisioner := podSidecars(p)
		if !resizer && !provisioner {
			continue
		}
		mentions := PodMentions(p, driver)
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
	lease := ResizerLeaseName(driver)
	return &ExpansionBlocker{
		Reason: fmt.Sprintf("CSI driver %s has no external-resizer (its controller pod %s runs no csi-resizer container and there is no Lease kube-system/%s)",
			driver, HeadAndCount(controllers), lease),
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

// podSidecars reports whether a pod runs a csi-resizer and a csi-provisioner container.
// Native sidecars (restartPolicy: Always) are init containers, so both lists count.
func podSidecars(p *corev1.Pod) (resizer, provisioner bool) {
	for _, cs := range [2][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			resizer = resizer || CSIResizerContainer(cs[i])
			provisioner = provisioner || CSIProvisionerContainer(cs[i])
		}
	}
	return resizer, provisioner
}

// ResizerPods returns the pods (namespace/name, sorted) that run a csi-resizer container
// and name driver: the external-resizer of that driver, found by its pod rather than by
// its Lease (which is only read in kube-system).
func (s *Snapshot) ResizerPods(driver string) []string {
	var out []string
	for _, p := range s.Pods {
		if resizer, _ := podSidecars(p); resizer && PodMentions(p, driver) {
			out = append(out, p.Namespace+"/"+p.Name)
		}
	}
	sort.Strings(out)
	return out
}

// csiDriverKnown reports evidence that the class's provisioner is a CSI driver: a CSIDriver
// object of that name, or a CSI PV of the class served by it.
func (s *Snapshot) csiDriverKnown(sc *storagev1.StorageClass) bool {
	if s.Loaded(CSIDrivers) && s.Object(CSIDrivers, "", sc.Provisioner) != nil {
		return true
	}
	for _, pv := range s.PVsOfClass(sc.Name) {
		if pv.Spec.CSI != nil && pv.Spec.CSI.Driver == sc.Provisioner {
			return true
		}
	}
	return false
}

// driverNames lists every driver name the snapshot shows: CSIDriver objects, class
// provisioners and the drivers of CSI PVs. Names without a dot are left out: a short name
// ("csi", "nfs") would appear in unrelated pods and wrongly attribute their resizers.
func (s *Snapshot) driverNames() []string {
	set := map[string]bool{}
	for _, d := range s.CSIDrivers {
		set[d.Name] = true
	}
	for _, sc := range s.StorageClasses {
		set[sc.Provisioner] = true
	}
	for _, pv := range s.PersistentVolumes {
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
		if PodMentions(p, d) {
			return true
		}
	}
	return false
}

// ClassBlockers memoizes ClassExpansionBlocker per StorageClass name: the verdict depends
// only on the snapshot and the class, and for a CSI driver it reads every pod, so
// computing it once per claim would make a pass over claims quadratic. The blockers it
// hands out are shared between claims: callers must not modify them.
type ClassBlockers map[string]*ExpansionBlocker

// Get returns ClassExpansionBlocker(sc), computed once per class name.
func (m ClassBlockers) Get(s *Snapshot, sc *storagev1.StorageClass) *ExpansionBlocker {
	if b, ok := m[sc.Name]; ok {
		return b
	}
	b := s.ClassExpansionBlocker(sc)
	m[sc.Name] = b
	return b
}

// ClaimExpansionBlocker says why one claim's volume can never be expanded: its own PV is a
// hostPath/local/nfs volume, or its class cannot expand (ClassExpansionBlocker, looked up
// in classes; nil classes computes it afresh).
func (s *Snapshot) ClaimExpansionBlocker(pvc *corev1.PersistentVolumeClaim, classes ClassBlockers) *ExpansionBlocker {
	if pv := s.BoundPV(pvc); pv != nil {
		if src := NonExpandableSource(pv); src != "" {
			return &ExpansionBlocker{
				Reason:  fmt.Sprintf("its volume %s (%s) can never be expanded", pv.Name, src),
				Details: map[string]string{"blocker": "volume source cannot be expanded", "pvSources": src},
			}
		}
	}
	if sc := s.StorageClass(ClaimClass(pvc)); sc != nil {
		if classes == nil {
			return s.ClassExpansionBlocker(sc)
		}
		return classes.Get(s, sc)
	}
	return nil
}

// HeadAndCount names the first item of a sorted list and how many others there are:
// "a", "a and 2 more". Messages use it to name objects without listing hundreds.
func HeadAndCount(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	return fmt.Sprintf("%s and %d more", items[0], len(items)-1)
}

// firstOf joins at most n items in their order and says how many were left out.
func firstOf(items []string, n int, sep string) string {
	if len(items) <= n {
		return strings.Join(items, sep)
	}
	return fmt.Sprintf("%s%s… and %d more", strings.Join(items[:n], sep), sep, len(items)-n)
}
