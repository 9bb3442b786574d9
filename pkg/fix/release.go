package fix

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// ReleasedEventReason is the reason of the Event ReleasePV records.
const ReleasedEventReason = "StorageAuditorReleased"

// ReleasePV undoes the pv-available-unreserved fix on PV name: it removes the placeholder
// claimRef and the auditor's annotations, so the PV is Available to any matching claim
// again. It refuses a PV the auditor did not reserve, or whose claimRef someone changed
// since (a real claim may be bound or pre-bound to it). The patch carries the PV's
// resourceVersion: a concurrent change fails it instead of being overwritten. With dryRun
// the API server checks the patch and nothing changes.
func ReleasePV(ctx context.Context, cs kubernetes.Interface, name string, dryRun bool, now time.Time) (string, error) {
	pv, err := cs.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("PV %s does not exist", name)
	}
	if err != nil {
		return "", fmt.Errorf("reading PV %s: %s", name, apiErrorText(err))
	}
	placeholder := pv.Annotations[audit.ReservedForAnnotation]
	if placeholder == "" {
		return "", fmt.Errorf("PV %s was not reserved by storage-auditor (no %s annotation): nothing to release", name, audit.ReservedForAnnotation)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.Namespace+"/"+ref.Name != placeholder || ref.UID != "" {
		return "", fmt.Errorf("PV %s's claimRef is %s, not the placeholder %s the auditor set: someone changed it since, so it is left as it is (remove the %s annotation by hand if the reservation is gone)",
			name, describeClaimRef(ref), placeholder, audit.ReservedForAnnotation)
	}
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{
			"resourceVersion": pv.ResourceVersion,
			"annotations":     map[string]any{audit.ReservedForAnnotation: nil, audit.FixedByAnnotation: nil},
		},
		"spec": map[string]any{"claimRef": nil},
	})
	if err != nil {
		return "", err
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	out, err := cs.CoreV1().PersistentVolumes().Patch(ctx, name, types.MergePatchType, body, opts)
	switch {
	case apierrors.IsConflict(err):
		return "", fmt.Errorf("PV %s changed while releasing it (409 Conflict): nothing was overwritten; run the command again", name)
	case err != nil:
		return "", fmt.Errorf("releasing PV %s: %s", name, apiErrorText(err))
	}
	if dryRun {
		return fmt.Sprintf("PV %s would be released from %s (dry run: accepted by the API server, nothing changed)", name, placeholder), nil
	}
	msg := fmt.Sprintf("PV %s released from the placeholder claim %s: it is Available to any matching claim again, with its data", name, placeholder)
	at := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%.200s.%x", name, now.UnixNano()), Namespace: metav1.NamespaceDefault},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "PersistentVolume", Name: name, UID: out.UID,
			ResourceVersion: out.ResourceVersion},
		Reason: ReleasedEventReason, Message: "storage-auditor fix release-pv: " + msg, Type: corev1.EventTypeNormal,
		Source: corev1.EventSource{Component: FieldManager}, FirstTimestamp: at, LastTimestamp: at, Count: 1,
		ReportingController: FieldManager,
	}
	if _, err := cs.CoreV1().Events(metav1.NamespaceDefault).Create(ctx, ev, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		msg += fmt.Sprintf(" (the Event was not recorded: %s)", apiErrorText(err))
	}
	return msg, nil
}

func describeClaimRef(ref *corev1.ObjectReference) string {
	switch {
	case ref == nil:
		return "empty"
	case ref.UID != "":
		return fmt.Sprintf("%s/%s (uid %s)", ref.Namespace, ref.Name, ref.UID)
	}
	return ref.Namespace + "/" + ref.Name
}
