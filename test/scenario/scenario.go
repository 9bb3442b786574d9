// Package scenario reproduces the incidents storage-auditor exists for on a real control
// plane (kube-apiserver + kube-controller-manager, no scheduler, no kubelet), through the
// API, letting the real controllers do their part: the StatefulSet controller creates and
// keeps claims, the PV controller binds and releases volumes, the expand controller
// emits ExternalExpanding, PodGC and the garbage collector act on deleted nodes and
// orphaned objects. Integration tests call the steps one by one and audit in between;
// hack/local-cluster.sh calls Load to build them all for a person to explore.
package scenario

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Driver is the CSI driver the scenario's volumes claim to come from. No such driver runs:
// nothing provisions, attaches or expands, which is exactly what the incidents need.
const Driver = "disk.csi.example.com"

// Names of the scenario's classes.
const (
	RetainClass    = "fast-retain" // CSI, Retain, static PVs
	LocalPathClass = "local-path"  // rancher.io/local-path, allowVolumeExpansion: true
	StandardClass  = "standard"    // CSI, Delete, default class, nothing provisions it
)

// Log receives progress lines.
type Log func(format string, args ...any)

// Env is a client plus the poll timing the steps use.
type Env struct {
	CS      kubernetes.Interface
	Log     Log
	Timeout time.Duration // for each wait; 0 means 60s
}

func (e *Env) logf(format string, args ...any) {
	if e.Log != nil {
		e.Log(format, args...)
	}
}

func (e *Env) timeout() time.Duration {
	if e.Timeout > 0 {
		return e.Timeout
	}
	return 60 * time.Second
}

// waitFor polls cond every 200ms until it is true, fails, or the timeout passes; what
// names the condition in the timeout error.
func (e *Env) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, error)) error {
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, e.timeout(), true, cond)
	if err != nil {
		return fmt.Errorf("waiting for %s: %w", what, err)
	}
	return nil
}

// Classes creates the scenario's StorageClasses (idempotent).
func (e *Env) Classes(ctx context.Context) error {
	retain := corev1.PersistentVolumeReclaimRetain
	del := corev1.PersistentVolumeReclaimDelete
	immediate := storagev1.VolumeBindingImmediate
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	classes := []*storagev1.StorageClass{
		{
			ObjectMeta:           metav1.ObjectMeta{Name: RetainClass},
			Provisioner:          Driver,
			ReclaimPolicy:        &retain,
			VolumeBindingMode:    &immediate,
			AllowVolumeExpansion: ptr.To(true),
		},
		{
			// What the local-path-provisioner Helm chart installs: it promises expansion,
			// the provisioner has never implemented it.
			ObjectMeta: metav1.ObjectMeta{Name: LocalPathClass, Labels: map[string]string{
				"app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "local-path-provisioner-0.0.31"}},
			Provisioner:          "rancher.io/local-path",
			ReclaimPolicy:        &del,
			VolumeBindingMode:    &wffc,
			AllowVolumeExpansion: ptr.To(true),
		},
		{
			ObjectMeta: metav1.ObjectMeta{Name: StandardClass, Annotations: map[string]string{
				"storageclass.kubernetes.io/is-default-class": "true"}},
			Provisioner:          Driver,
			ReclaimPolicy:        &del,
			VolumeBindingMode:    &immediate,
			AllowVolumeExpansion: ptr.To(false),
		},
	}
	for _, sc := range classes {
		if _, err := e.CS.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating StorageClass %s: %w", sc.Name, err)
		}
	}
	return nil
}

// CSIPV returns a PersistentVolume of the scenario's CSI driver.
func CSIPV(name, class, size string, policy corev1.PersistentVolumeReclaimPolicy) *corev1.PersistentVolume {
	return &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class,
			PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{
				Driver: Driver, VolumeHandle: "vol-" + name, FSType: "ext4",
			}},
		},
	}
}

// StatefulSet returns a StatefulSet with one volumeClaimTemplate "data".
func StatefulSet(ns, name string, replicas int32, class, size string) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:            ptr.To(replicas),
			ServiceName:         name,
			PodManagementPolicy: appsv1.ParallelPodManagement, // no kubelet: pods never become Ready
			Selector:            &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "registry.k8s.io/pause:3.10",
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
				}}},
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec: corev1.PersistentVolumeClaimSpec{
					AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					StorageClassName: ptr.To(class),
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceStorage: resource.MustParse(size)}},
				},
			}},
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
		},
	}
}

// Scale sets a StatefulSet's replicas through the scale subresource, as kubectl scale does.
func (e *Env) Scale(ctx context.Context, ns, name string, replicas int32) error {
	sc, err := e.CS.AppsV1().StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading scale of StatefulSet %s/%s: %w", ns, name, err)
	}
	sc.Spec.Replicas = replicas
	if _, err := e.CS.AppsV1().StatefulSets(ns).UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("scaling StatefulSet %s/%s to %d: %w", ns, name, replicas, err)
	}
	return nil
}

// WaitClaimBound waits until claim ns/name is Bound and returns its volume name.
func (e *Env) WaitClaimBound(ctx context.Context, ns, name string) (string, error) {
	var volume string
	err := e.waitFor(ctx, fmt.Sprintf("claim %s/%s to be Bound", ns, name), func(ctx context.Context) (bool, error) {
		pvc, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		volume = pvc.Spec.VolumeName
		return pvc.Status.Phase == corev1.ClaimBound, nil
	})
	return volume, err
}

// WaitPVPhase waits until PV name is in phase.
func (e *Env) WaitPVPhase(ctx context.Context, name string, phase corev1.PersistentVolumePhase) error {
	return e.waitFor(ctx, fmt.Sprintf("PV %s to be %s", name, phase), func(ctx context.Context) (bool, error) {
		pv, err := e.CS.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, client(err)
		}
		return pv.Status.Phase == phase, nil
	})
}

// WaitPodCount waits until exactly n pods match selector in ns.
func (e *Env) WaitPodCount(ctx context.Context, ns, selector string, n int) error {
	return e.waitFor(ctx, fmt.Sprintf("%d pods matching %s in %s", n, selector, ns), func(ctx context.Context) (bool, error) {
		pods, err := e.CS.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		return len(pods.Items) == n, nil
	})
}

// WaitGone waits until get reports NotFound.
func (e *Env) WaitGone(ctx context.Context, what string, get func(ctx context.Context) error) error {
	return e.waitFor(ctx, what+" to disappear", func(ctx context.Context) (bool, error) {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, client(err)
	})
}

// client returns err unless it is a NotFound, which polls treat as "not yet".
func client(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}
