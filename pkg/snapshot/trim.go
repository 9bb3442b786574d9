package snapshot

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lastApplied is kubectl's copy of the whole object in an annotation; nothing reads it
// and on big objects it doubles their size.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Trim drops, in place, the fields no rule reads, so a snapshot of a large cluster stays
// small: managed fields, kubectl's last-applied copy, container details other than what
// identifies a CSI sidecar (name, image, command, args, literal env values), volumes other
// than claims, ephemeral claims, hostPath and CSI, pod status other than phase, conditions,
// start and termination times, and node image lists. It is idempotent and is applied to
// every object the snapshot holds, read live or from a dump; the rule fixtures and the
// demo goldens run through it, so a trimmed field a rule needs would fail them.
func Trim(obj any) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a[lastApplied] != "" {
			delete(a, lastApplied)
		}
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		trimPodSpec(&o.Spec)
		o.Status = corev1.PodStatus{
			Phase:                 o.Status.Phase,
			Conditions:            o.Status.Conditions,
			StartTime:             o.Status.StartTime,
			ContainerStatuses:     trimStatuses(o.Status.ContainerStatuses),
			InitContainerStatuses: trimStatuses(o.Status.InitContainerStatuses),
		}
	case *corev1.Node:
		o.Status.Images = nil
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

func trimStatuses(ss []corev1.ContainerStatus) []corev1.ContainerStatus {
	if ss == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(ss))
	for i, s := range ss {
		out[i] = corev1.ContainerStatus{Name: s.Name, State: corev1.ContainerState{Terminated: s.State.Terminated}}
	}
	return out
}
