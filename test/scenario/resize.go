package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// What `auditor resize statefulset` needs that the other scenarios lack: a class whose
// volumes can grow. Nothing expands volumes on this control plane (no CSI driver runs), so
// a class is "expandable" by the evidence the auditor reads — a CSI driver whose
// external-resizer holds its leader Lease — and FakeResizer writes what that resizer
// would.

// Names of the resize scenario's CSI driver and class.
const (
	ResizeDriver = "resize.csi.example.com"
	ResizeClass  = "resize-csi" // ResizeDriver, Retain, allowVolumeExpansion: true
)

// ResizableClass creates ResizeClass (idempotent).
func (e *Env) ResizableClass(ctx context.Context) error {
	retain := corev1.PersistentVolumeReclaimRetain
	sc := &storagev1.StorageClass{
		ObjectMeta:           metav1.ObjectMeta{Name: ResizeClass},
		Provisioner:          ResizeDriver,
		ReclaimPolicy:        &retain,
		VolumeBindingMode:    ptr.To(storagev1.VolumeBindingImmediate),
		AllowVolumeExpansion: ptr.To(true),
	}
	if _, err := e.CS.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating StorageClass %s: %w", ResizeClass, err)
	}
	return nil
}

// CSIController creates, in ns, a pod shaped like driver's controller without resizer: a
// csi-provisioner sidecar next to the driver container. With it visible and no resizer
// Lease, the auditor judges that the driver cannot expand. It never runs (no scheduler).
func (e *Env) CSIController(ctx context.Context, ns, driver string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "csi-controller"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "csi-provisioner", Image: "registry.k8s.io/sig-storage/csi-provisioner:v5.2.0", Args: []string{"--csi-address=/csi/csi.sock"}},
				{Name: "driver", Image: "registry.example.com/csi-driver:v1", Args: []string{"--drivername=" + driver}},
			},
			NodeSelector: map[string]string{"storage-auditor.dev/no-such-node": "true"},
		},
	}
	if _, err := e.CS.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating pod %s/%s: %w", ns, pod.Name, err)
	}
	return nil
}

// ResizerLease creates the leader-election Lease driver's external-resizer takes in
// kube-system (the name kubernetes-csi/external-resizer derives from the driver).
func (e *Env) ResizerLease(ctx context.Context, driver string) error {
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: snapshot.ResizerLeaseName(driver)},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("csi-controller-0"),
			LeaseDurationSeconds: ptr.To(int32(137)),
			RenewTime:            &metav1.MicroTime{Time: time.Now()},
		},
	}
	if _, err := e.CS.CoordinationV1().Leases("kube-system").Create(ctx, lease, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating Lease kube-system/%s: %w", lease.Name, err)
	}
	return nil
}

// StatefulSetOnVolumes creates st after giving each of its live ordinals a volume made by
// pv(<namespace>-<claim>) and a claim <template>-<sts>-<ordinal> bound to it, so the
// claims are Bound (with a capacity) before the StatefulSet controller adopts them. It
// waits for the controller to create the pods; they stay Pending (no scheduler).
func (e *Env) StatefulSetOnVolumes(ctx context.Context, st *appsv1.StatefulSet, pv func(name string) *corev1.PersistentVolume) error {
	tpl := st.Spec.VolumeClaimTemplates[0]
	class := *tpl.Spec.StorageClassName
	size := tpl.Spec.Resources.Requests[corev1.ResourceStorage]
	replicas := int(*st.Spec.Replicas)
	for i := 0; i < replicas; i++ {
		claim := snapshot.StatefulSetClaimName(tpl.Name, st.Name, i)
		vol := pv(st.Namespace + "-" + claim)
		if _, err := e.CS.CoreV1().PersistentVolumes().Create(ctx, vol, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating PV %s: %w", vol.Name, err)
		}
		if _, err := e.CS.CoreV1().PersistentVolumeClaims(st.Namespace).Create(ctx, Claim(st.Namespace, claim, class, size.String(), vol.Name), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating claim %s/%s: %w", st.Namespace, claim, err)
		}
		if err := e.waitClaimCapacity(ctx, st.Namespace, claim); err != nil {
			return err
		}
	}
	if _, err := e.CS.AppsV1().StatefulSets(st.Namespace).Create(ctx, st, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating StatefulSet %s/%s: %w", st.Namespace, st.Name, err)
	}
	e.logf("%s: StatefulSet %s with %d replicas on claims of class %s (%s)", st.Namespace, st.Name, replicas, class, size.String())
	if err := e.WaitPodCount(ctx, st.Namespace, "app="+st.Name, replicas); err != nil {
		return err
	}
	// Settled: the controller has observed the spec and counted its pods, so nothing it
	// writes later is mistaken for a change made by the test.
	return e.waitFor(ctx, "StatefulSet "+st.Namespace+"/"+st.Name+" to settle", func(ctx context.Context) (bool, error) {
		cur, err := e.CS.AppsV1().StatefulSets(st.Namespace).Get(ctx, st.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return cur.Status.ObservedGeneration == cur.Generation && int(cur.Status.Replicas) == replicas && cur.Status.CurrentRevision != "", nil
	})
}

func (e *Env) waitClaimCapacity(ctx context.Context, ns, name string) error {
	return e.waitFor(ctx, "claim "+ns+"/"+name+" to be Bound with a capacity", func(ctx context.Context) (bool, error) {
		pvc, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, client(err)
		}
		_, ok := pvc.Status.Capacity[corev1.ResourceStorage]
		return pvc.Status.Phase == corev1.ClaimBound && ok, nil
	})
}

// FakeResizer does, for the claims of ns, what a CSI driver's external-resizer does when
// the driver needs no node expansion: a Bound claim asking for more than its capacity gets
// its PV's capacity and then its status.capacity raised to the request. It runs until ctx
// ends; the returned channel then yields the first error it met (nil if none) and closes.
func (e *Env) FakeResizer(ctx context.Context, ns string) <-chan error {
	done := make(chan error, 1)
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if err := e.resizeOnce(ctx, ns); err != nil && ctx.Err() == nil {
				done <- err
				return
			}
		}
	}()
	return done
}

func (e *Env) resizeOnce(ctx context.Context, ns string) error {
	claims, err := e.CS.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		pvc := &claims.Items[i]
		if !snapshot.ExpansionRequested(pvc) || pvc.Status.Phase != corev1.ClaimBound {
			continue
		}
		want, _ := snapshot.ClaimRequest(pvc)
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			pv, err := e.CS.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
			if err != nil {
				return err
			}
			pv.Spec.Capacity[corev1.ResourceStorage] = want
			_, err = e.CS.CoreV1().PersistentVolumes().Update(ctx, pv, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("growing PV %s: %w", pvc.Spec.VolumeName, err)
		}
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur, err := e.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, pvc.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Status.Capacity[corev1.ResourceStorage] = want
			cur.Status.AllocatedResources = corev1.ResourceList{corev1.ResourceStorage: want}
			cur.Status.AllocatedResourceStatuses = nil
			_, err = e.CS.CoreV1().PersistentVolumeClaims(ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("updating the status of claim %s/%s: %w", ns, pvc.Name, err)
		}
		e.logf("%s: fake resizer grew claim %s to %s", ns, pvc.Name, want.String())
	}
	return nil
}

// RefuseStatefulSetSize installs a ValidatingAdmissionPolicy (and its binding, both named
// name) that denies StatefulSets in namespace ns whose first volumeClaimTemplate requests
// size: a real admission error for a StatefulSet's re-creation. It returns once the API
// server enforces it (policies load asynchronously), probed with server-side dry runs.
func (e *Env) RefuseStatefulSetSize(ctx context.Context, name, ns, size string) error {
	adm := e.CS.AdmissionregistrationV1()
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"statefulsets"}},
					},
				}},
			},
			Validations: []admissionregistrationv1.Validation{{
				Expression: fmt.Sprintf("!has(object.spec.volumeClaimTemplates) || object.spec.volumeClaimTemplates.all(t, !has(t.spec.resources) || !has(t.spec.resources.requests) || !('storage' in t.spec.resources.requests) || string(t.spec.resources.requests['storage']) != '%s')", size),
				Message:    "storage-auditor test policy: StatefulSets of " + size + " are refused",
			}},
		},
	}
	if _, err := adm.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating ValidatingAdmissionPolicy %s: %w", name, err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	if _, err := adm.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating ValidatingAdmissionPolicyBinding %s: %w", name, err)
	}
	probe := StatefulSet(ns, "policy-probe", 0, ResizeClass, size)
	return e.waitFor(ctx, "policy "+name+" to be enforced", func(ctx context.Context) (bool, error) {
		_, err := e.CS.AppsV1().StatefulSets(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil {
			return false, nil
		}
		if strings.Contains(err.Error(), "storage-auditor test policy") {
			return true, nil
		}
		return false, fmt.Errorf("probing policy %s: %w", name, err)
	})
}

// DeleteRefusal removes what RefuseStatefulSetSize created.
func (e *Env) DeleteRefusal(ctx context.Context, name string) error {
	adm := e.CS.AdmissionregistrationV1()
	if err := adm.ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{}); client(err) != nil {
		return err
	}
	return client(adm.ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{}))
}

// ResizablePV returns a Retain CSI PV of ResizeDriver in ResizeClass.
func ResizablePV(name, size string) *corev1.PersistentVolume {
	pv := CSIPV(name, ResizeClass, size, corev1.PersistentVolumeReclaimRetain)
	pv.Spec.CSI.Driver = ResizeDriver
	return pv
}
