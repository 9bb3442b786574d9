package snapshot

import (
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is kubectl's copy of the whole object in an annotation; nothing reads it
// and on big objects it doubles their size.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Trim drops, in place, the fields no rule reads, so a snapshot of a large cluster stays
// small. It is idempotent and is applied to every object the snapshot holds, read live or
// from a dump; the rule fixtures and the demo goldens run through it, so a trimmed field a
// rule needs would fail them. What goes:
//   - on every object: managed fields, kubectl's last-applied copy, generateName;
//   - on the kinds a cluster has many of (pods, claims, attachments, events, CSINodes):
//     labels, and annotations other than the auditor's own and Kubernetes' (*kubernetes.io/*);
//     nothing reads their labels, and the engine reads only storage-auditor.dev/ignore;
//   - on pods: everything but the node, the claim-like volumes (claims, ephemeral claims,
//     hostPath, CSI), phase, start time, the DisruptionTarget condition and the finish
//     times of terminated containers; container details (name, image, command, args,
//     literal env values) only on pods that run a csi-resizer or csi-provisioner sidecar,
//     the only pods whose containers are read (to find a driver's controller);
//   - on workloads: pod-template details other than containers and volumes;
//   - on nodes: the status other than conditions; on VolumeAttachments: their metadata.
func Trim(obj any) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		m.SetGenerateName("")
		if a := m.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		trimPod(o)
	case *corev1.PersistentVolumeClaim:
		trimBulkMeta(&o.ObjectMeta)
	case *storagev1.VolumeAttachment:
		trimBulkMeta(&o.ObjectMeta)
		o.Status.AttachmentMetadata = nil // a map per attachment (devicePath); never read
	case *storagev1.CSINode:
		trimBulkMeta(&o.ObjectMeta)
	case *corev1.Event:
		trimBulkMeta(&o.ObjectMeta)
	case *corev1.Node:
		// Only the conditions (readiness) of a node's status are read; images, addresses,
		// capacity and the attached-volume lists make up most of a kubelet's status.
		o.Status = corev1.NodeStatus{Phase: o.Status.Phase, Conditions: o.Status.Conditions}
	case *appsv1.StatefulSet:
		trimPodSpec(&o.Spec.Template.Spec)
	case *appsv1.Deployment:
		trimPodSpec(&o.Spec.Template.Spec)
	case *appsv1.DaemonSet:
		trimPodSpec(&o.Spec.Template.Spec)
	case *appsv1.ReplicaSet:
		trimPodSpec(&o.Spec.Template.Spec)
	case *batchv1.Job:
		trimPodSpec(&o.Spec.Template.Spec)
	case *batchv1.CronJob:
		trimPodSpec(&o.Spec.JobTemplate.Spec.Template.Spec)
	}
}

// auditorAnnotationPrefix is the prefix of the auditor's own annotations (ignore,
// fixed-by), which the engine and the fixes read on any object.
const auditorAnnotationPrefix = "storage-auditor.dev/"

// trimBulkMeta drops labels and foreign annotations from objects a cluster holds by the
// ten thousand: each map costs hundreds of bytes per object and nothing reads them.
func trimBulkMeta(m *metav1.ObjectMeta) {
	m.Labels = nil
	if len(m.Annotations) == 0 {
		m.Annotations = nil
		return
	}
	drop := 0
	for k := range m.Annotations {
		if !keptAnnotation(k) {
			drop++
		}
	}
	switch {
	case drop == 0:
		return
	case drop == len(m.Annotations):
		m.Annotations = nil
		return
	}
	kept := make(map[string]string, len(m.Annotations)-drop)
	for k, v := range m.Annotations {
		if keptAnnotation(k) {
			kept[k] = v
		}
	}
	m.Annotations = kept
}

func keptAnnotation(k string) bool {
	return strings.HasPrefix(k, auditorAnnotationPrefix) || strings.Contains(k, "kubernetes.io/")
}

// trimPod keeps what the rules read of a pod (see Trim).
func trimPod(p *corev1.Pod) {
	trimBulkMeta(&p.ObjectMeta)
	sidecars := false
	for _, cs := range [2][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range cs {
			sidecars = sidecars || CSIResizerContainer(cs[i]) || CSIProvisionerContainer(cs[i])
		}
	}
	spec := corev1.PodSpec{NodeName: p.Spec.NodeName, Volumes: p.Spec.Volumes}
	if sidecars {
		spec.Containers, spec.InitContainers = p.Spec.Containers, p.Spec.InitContainers
	}
	trimPodSpec(&spec)
	var conds []corev1.PodCondition
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.DisruptionTarget {
			conds = append(conds, corev1.PodCondition{Type: c.Type, Status: c.Status, Reason: c.Reason, LastTransitionTime: c.LastTransitionTime})
		}
	}
	p.Spec = spec
	p.Status = corev1.PodStatus{
		Phase:                 p.Status.Phase,
		Conditions:            conds,
		StartTime:             p.Status.StartTime,
		ContainerStatuses:     trimStatuses(p.Status.ContainerStatuses),
		InitContainerStatuses: trimStatuses(p.Status.InitContainerStatuses),
	}
}

func trimPodSpec(s *corev1.PodSpec) {
	s.Containers = trimContainers(s.Containers)
	s.InitContainers = trimContainers(s.InitContainers)
	s.EphemeralContainers = nil
	s.Affinity, s.Tolerations, s.TopologySpreadConstraints = nil, nil, nil
	s.SecurityContext, s.ImagePullSecrets, s.HostAliases, s.ReadinessGates = nil, nil, nil, nil
	// A new slice: reusing the old backing array would keep the dropped volumes (and
	// their projected/configMap sources) reachable beyond len.
	var vols []corev1.Volume
	for _, v := range s.Volumes {
		switch {
		case v.PersistentVolumeClaim != nil, v.Ephemeral != nil, v.HostPath != nil, v.CSI != nil:
			vols = append(vols, corev1.Volume{Name: v.Name, VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: v.PersistentVolumeClaim, Ephemeral: v.Ephemeral, HostPath: v.HostPath, CSI: v.CSI}})
		}
	}
	s.Volumes = vols
}

func trimContainers(cs []corev1.Container) []corev1.Container {
	if cs == nil {
		return nil
	}
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		var env []corev1.EnvVar
		for _, e := range c.Env {
			if e.Value != "" {
				env = append(env, corev1.EnvVar{Name: e.Name, Value: e.Value})
			}
		}
		out[i] = corev1.Container{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Env: env}
	}
	return out
}

// trimStatuses keeps only terminated containers' finish times (PodFinishedAt); a running
// pod keeps none.
func trimStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	var out []corev1.ContainerStatus
	for _, s := range ss {
		if t := s.State.Terminated; t != nil {
			out = append(out, corev1.ContainerStatus{Name: s.Name, State: corev1.ContainerState{
				Terminated: &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Reason: t.Reason, FinishedAt: t.FinishedAt}}})
		}
	}
	return out
}
