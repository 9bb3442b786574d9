package stsresize

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// FieldManager is the field manager of every write.
const FieldManager = "storage-auditor"

// Options say how to execute a plan.
type Options struct {
	Client kubernetes.Interface
	// Progress receives one line per step and per claim state change.
	Progress io.Writer
	// Poll is the interval between reads while waiting; 0 means 2s.
	Poll time.Duration
}

// Result is what a run did.
type Result struct {
	Backup Backup
	// UID is the re-created StatefulSet's (or the restored original's) UID.
	UID types.UID
	// FileSystemPending lists the claims whose control-plane expansion is done and whose
	// file system the kubelet grows when a pod (re)starts and mounts them.
	FileSystemPending []string
	Adopted           []string
}

// Stopped means the workflow stopped before deleting the StatefulSet: it is untouched.
// Claims may already be patched; running the same resize again continues from there.
type Stopped struct{ Err error }

func (e *Stopped) Error() string { return e.Err.Error() + "; the StatefulSet was not touched" }
func (e *Stopped) Unwrap() error { return e.Err }

// Restored means the StatefulSet was deleted, re-creating it with the new template
// failed, and the original was re-created: the user has their StatefulSet back as it was
// (its claims already expanded).
type Restored struct {
	CreateErr error
	UID       types.UID
	// VerifyErr is set when the restored StatefulSet did not adopt the pods in time.
	VerifyErr error
}

func (e *Restored) Error() string {
	msg := fmt.Sprintf("re-creating the StatefulSet with the new template failed (%v); the original StatefulSet was re-created (uid %s) and its claims keep their new size: fix the cause and run the same resize again", e.CreateErr, e.UID)
	if e.VerifyErr != nil {
		msg += "; but " + e.VerifyErr.Error()
	}
	return msg
}
func (e *Restored) Unwrap() error { return e.CreateErr }

// NeedsAction means the workflow could not finish and the user has to act: Action says
// what to do (apply a saved manifest, check the controller-manager).
type NeedsAction struct {
	Err    error
	Action string
}

func (e *NeedsAction) Error() string { return e.Err.Error() + ": " + e.Action }
func (e *NeedsAction) Unwrap() error { return e.Err }

// execution is the state shared by the steps of one run.
type execution struct {
	plan *Plan
	opts Options
	res  *Result
	// original is the StatefulSet as re-read just before its deletion.
	original *appsv1.StatefulSet
	// deleted is set once the delete was accepted: from then on the user's interrupt no
	// longer cancels anything, because stopping there would leave them without their
	// StatefulSet.
	deleted bool
}

func (x *execution) logf(format string, a ...any) { fmt.Fprintf(x.opts.Progress, format+"\n", a...) }

func (x *execution) poll() time.Duration {
	if x.opts.Poll > 0 {
		return x.opts.Poll
	}
	return 2 * time.Second
}

// Execute runs the plan's steps in order and stops at the first failure. Its errors are
// *Stopped (nothing deleted), *Restored, *NeedsAction, or an API error before anything
// changed.
func Execute(ctx context.Context, p *Plan, opts Options) (*Result, error) {
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	x := &execution{plan: p, opts: opts, res: &Result{}}
	steps := p.Steps()
	for i, s := range steps {
		x.logf("[%d/%d] %s", i+1, len(steps), s.Describe())
		runCtx := ctx
		if x.deleted {
			runCtx = context.WithoutCancel(ctx)
		}
		if err := s.run(runCtx, x); err != nil {
			var r *Restored
			var n *NeedsAction
			var st *Stopped
			if !x.deleted && !errors.As(err, &st) && !errors.As(err, &r) && !errors.As(err, &n) {
				err = &Stopped{Err: err}
			}
			return x.res, err
		}
	}
	return x.res, nil
}

// claimPatch raises a claim's request; the resourceVersion makes it conditional, so a
// concurrent change (someone raising it further) is re-read instead of overwritten.
func claimPatch(rv string, size resource.Quantity) ([]byte, error) {
	return json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": rv},
		"spec":     map[string]any{"resources": map[string]any{"requests": map[string]any{"storage": size.String()}}},
	})
}

func (s *patchClaim) run(ctx context.Context, x *execution) error {
	claims := x.opts.Client.CoreV1().PersistentVolumeClaims(s.plan.Namespace)
	for attempt := 0; attempt < 5; attempt++ {
		pvc, err := claims.Get(ctx, s.claim.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading claim %s/%s: %w", s.plan.Namespace, s.claim.Name, err)
		}
		if pvc.UID != s.claim.UID {
			return fmt.Errorf("claim %s/%s was re-created since the plan; run the resize again", s.plan.Namespace, s.claim.Name)
		}
		if req, _ := snapshot.ClaimRequest(pvc); req.Cmp(s.plan.Size) >= 0 {
			x.logf("  %s already requests %s", s.claim.Name, req.String())
			return nil
		}
		body, err := claimPatch(pvc.ResourceVersion, s.plan.Size)
		if err != nil {
			return err
		}
		_, err = claims.Patch(ctx, s.claim.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: FieldManager})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("patching claim %s/%s to %s: %w", s.plan.Namespace, s.claim.Name, s.plan.Size.String(), err)
		}
		return nil
	}
	return fmt.Errorf("patching claim %s/%s: it kept changing (5 conflicts); run the resize again", s.plan.Namespace, s.claim.Name)
}

// claimState is how far a claim's expansion got.
type claimState struct {
	done     bool
	fsResize bool   // control plane done; the kubelet grows the file system on mount
	failed   string // a terminal failure, with the claim's messages
	what     string // for progress lines
}

func (s *waitCapacity) state(ctx context.Context, x *execution, pvc *corev1.PersistentVolumeClaim) (claimState, error) {
	size := s.plan.Size
	if capa, ok := snapshot.ClaimCapacity(pvc); ok && capa.Cmp(size) >= 0 {
		return claimState{done: true, what: "done"}, nil
	}
	status := snapshot.ResizeStatus(pvc)
	if snapshot.TerminalResizeStatus(status) {
		return claimState{failed: fmt.Sprintf("%s (%s)", status, conditionMessages(pvc))}, nil
	}
	if snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimFileSystemResizePending) != nil || snapshot.NodeResizeStatus(status) {
		// A condition left from an earlier, smaller resize must not count: the control
		// plane is done with this one only when it allocated the size.
		allocated, ok := snapshot.Storage(pvc.Status.AllocatedResources)
		if !ok && pvc.Spec.VolumeName != "" {
			pv, err := x.opts.Client.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return claimState{}, err
			}
			if err == nil {
				allocated, ok = snapshot.PVCapacity(pv)
			}
		}
		if ok && allocated.Cmp(size) >= 0 {
			return claimState{done: true, fsResize: true,
				what: "done by the control plane; the kubelet grows the file system when the pod (re)starts and mounts it (FileSystemResizePending)"}, nil
		}
	}
	switch {
	case snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimResizing) != nil:
		return claimState{what: "resizing"}, nil
	case status != "":
		return claimState{what: status}, nil
	case snapshot.ClaimCondition(pvc, corev1.PersistentVolumeClaimControllerResizeError) != nil:
		return claimState{what: "resize error, retrying: " + conditionMessages(pvc)}, nil
	}
	return claimState{what: "waiting for the resizer"}, nil
}

func conditionMessages(pvc *corev1.PersistentVolumeClaim) string {
	var out []string
	for _, c := range pvc.Status.Conditions {
		if c.Message != "" {
			out = append(out, string(c.Type)+": "+c.Message)
		}
	}
	if len(out) == 0 {
		return "no condition message"
	}
	return strings.Join(out, "; ")
}

func (s *waitCapacity) run(ctx context.Context, x *execution) error {
	ns, size := s.plan.Namespace, s.plan.Size.String()
	last := map[string]string{}
	pending := map[string]bool{}
	for _, c := range s.claims {
		pending[c.Name] = true
	}
	start, nextBeat := time.Now(), time.Now().Add(time.Minute)
	err := wait.PollUntilContextTimeout(ctx, x.poll(), s.plan.Timeout, true, func(ctx context.Context) (bool, error) {
		for _, c := range s.claims {
			if !pending[c.Name] {
				continue
			}
			pvc, err := x.opts.Client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, c.Name, metav1.GetOptions{})
			if err != nil {
				return false, fmt.Errorf("reading claim %s/%s: %w", ns, c.Name, err)
			}
			st, err := s.state(ctx, x, pvc)
			if err != nil {
				return false, err
			}
			if st.failed != "" {
				return false, fmt.Errorf("claim %s/%s: the resize failed for good: %s; lower its request back to any value above its capacity, or fix the driver, then run again", ns, c.Name, st.failed)
			}
			if st.what != last[c.Name] {
				last[c.Name] = st.what
				x.logf("  %s: %s → %s … %s", c.Name, c.Capacity.String(), size, st.what)
			}
			if st.done {
				delete(pending, c.Name)
				if st.fsResize {
					x.res.FileSystemPending = append(x.res.FileSystemPending, c.Name)
				}
			}
		}
		if len(pending) > 0 && time.Now().After(nextBeat) {
			nextBeat = time.Now().Add(time.Minute)
			x.logf("  still waiting for %s (%s of %s)", strings.Join(sortedKeys(pending), ", "), time.Since(start).Round(time.Second), duration(s.plan.Timeout))
		}
		return len(pending) == 0, nil
	})
	if err == nil {
		return nil
	}
	if len(pending) > 0 && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		names := sortedKeys(pending)
		why := fmt.Sprintf("did not reach %s within --timeout %s", size, duration(s.plan.Timeout))
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			why = "had not reached " + size + " when interrupted"
		}
		return fmt.Errorf("claim(s) %s %s (last state: %s). Look at `kubectl describe pvc %s -n %s` for the resizer's events; run the same resize again to continue (claims already at %s are left alone)",
			strings.Join(names, ", "), why, last[names[0]], names[0], ns, size)
	}
	return err
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *backup) run(ctx context.Context, x *execution) error {
	p := s.plan
	ns := p.Namespace
	cur, err := x.opts.Client.AppsV1().StatefulSets(ns).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("re-reading StatefulSet %s/%s: %w", ns, p.Name, err)
	}
	if err := sameSpec(p, cur); err != nil {
		return err
	}
	// The StatefulSet controller may have created a claim for a new ordinal since the
	// plan, at the old template size: resizing without it would leave it behind.
	list, err := x.opts.Client.CoreV1().PersistentVolumeClaims(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing claims in %s: %w", ns, err)
	}
	planned := map[string]bool{}
	for _, c := range p.Claims {
		planned[c.Name] = true
	}
	for i := range list.Items {
		pvc := &list.Items[i]
		if _, ok := snapshot.StatefulSetOrdinal(pvc.Name, p.Template, p.Name); !ok || planned[pvc.Name] || pvc.DeletionTimestamp != nil {
			continue
		}
		if req, _ := snapshot.ClaimRequest(pvc); req.Cmp(p.Size) < 0 {
			return fmt.Errorf("claim %s/%s appeared since the plan with %s; run the resize again to include it", ns, pvc.Name, req.String())
		}
	}
	x.original = cur
	if x.res.Backup, err = writeBackup(p.BackupDir, forCreate(cur), resized(cur, p.Template, p.Size)); err != nil {
		return err
	}
	x.logf("  saved %s and %s", x.res.Backup.Original, x.res.Backup.Resized)
	return nil
}

// sameSpec stops when the StatefulSet is not the one planned for: re-created (UID) or
// its spec edited (generation). Status updates change neither.
func sameSpec(p *Plan, cur *appsv1.StatefulSet) error {
	if cur.UID != p.StatefulSet.UID {
		return fmt.Errorf("StatefulSet %s/%s was re-created since the plan (uid %s, was %s); run the resize again", p.Namespace, p.Name, cur.UID, p.StatefulSet.UID)
	}
	if cur.Generation != p.StatefulSet.Generation {
		return fmt.Errorf("the spec of StatefulSet %s/%s changed since the plan (generation %d, was %d); run the resize again", p.Namespace, p.Name, cur.Generation, p.StatefulSet.Generation)
	}
	if cur.DeletionTimestamp != nil {
		return fmt.Errorf("StatefulSet %s/%s is being deleted by someone else", p.Namespace, p.Name)
	}
	return nil
}

func (s *orphanDelete) run(ctx context.Context, x *execution) error {
	p := s.plan
	sets := x.opts.Client.AppsV1().StatefulSets(p.Namespace)
	ref := p.Namespace + "/" + p.Name
	for attempt := 0; ; attempt++ {
		// The preconditions delete exactly the object that was saved; the controller's
		// status writes bump the resourceVersion, so a conflict re-reads and re-checks.
		err := sets.Delete(ctx, p.Name, metav1.DeleteOptions{
			PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan),
			Preconditions:     &metav1.Preconditions{UID: &x.original.UID, ResourceVersion: &x.original.ResourceVersion},
		})
		if err == nil {
			break
		}
		if transient(err) && !apierrors.IsConflict(err) {
			// The API server may have deleted it and the answer been lost: from here on
			// nothing is canceled, and only a read tells whether the StatefulSet is gone.
			x.deleted = true
			gone, rerr := deletedAfterAll(context.WithoutCancel(ctx), x)
			if rerr != nil {
				return &NeedsAction{
					Err: fmt.Errorf("deleting StatefulSet %s got no clear answer (%v), and it could not be read again within %s: %v", ref, err, duration(p.Timeout), rerr),
					Action: fmt.Sprintf("once the API server answers, run `kubectl get statefulset %s -n %s`: if it is NotFound, run `kubectl create -f %s`; if it still exists, it was not touched: run the same resize again",
						p.Name, p.Namespace, x.res.Backup.Resized),
				}
			}
			if gone {
				break
			}
			x.deleted = false
			if attempt == 4 || ctx.Err() != nil {
				return fmt.Errorf("deleting StatefulSet %s: %w (it was not deleted)", ref, err)
			}
			x.logf("  deleting failed (%s); it was not deleted: retrying", oneLine(err))
			time.Sleep(x.poll())
			continue
		}
		if !apierrors.IsConflict(err) || attempt == 4 {
			return fmt.Errorf("deleting StatefulSet %s: %w", ref, err)
		}
		cur, gerr := sets.Get(ctx, p.Name, metav1.GetOptions{})
		if gerr != nil {
			return fmt.Errorf("re-reading StatefulSet %s: %w", ref, gerr)
		}
		if err := sameSpec(p, cur); err != nil {
			return err
		}
		x.original = cur
		if x.res.Backup, err = writeBackup(p.BackupDir, forCreate(cur), resized(cur, p.Template, p.Size)); err != nil {
			return err
		}
	}
	x.deleted = true
	ctx = context.WithoutCancel(ctx)
	x.logf("  deleted; waiting for the garbage collector to orphan the pods and claims and remove it")
	var other types.UID
	err := wait.PollUntilContextTimeout(ctx, x.poll(), p.Timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := sets.Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, nil // transient: keep trying until the timeout
		}
		if cur.UID != x.original.UID {
			other = cur.UID
			return true, nil
		}
		return false, nil
	})
	switch {
	case other != "":
		return &NeedsAction{
			Err: fmt.Errorf("StatefulSet %s was re-created by someone else (uid %s) after the deletion, probably a GitOps tool", ref, other),
			Action: fmt.Sprintf("it was left as it is; compare its template with %s, and if it has the old size, suspend the tool, then `kubectl delete statefulset %s -n %s --cascade=orphan` and `kubectl create -f %s`",
				x.res.Backup.Resized, p.Name, p.Namespace, x.res.Backup.Resized),
		}
	case err != nil:
		return &NeedsAction{
			Err: fmt.Errorf("StatefulSet %s is still being deleted after %s: the garbage collector (kube-controller-manager) has not removed the orphan finalizer", ref, duration(p.Timeout)),
			Action: fmt.Sprintf("pods and claims are kept; check kube-controller-manager, and once `kubectl get statefulset %s -n %s` says NotFound run `kubectl create -f %s`",
				p.Name, p.Namespace, x.res.Backup.Resized),
		}
	}
	return nil
}

func (s *recreate) run(ctx context.Context, x *execution) error {
	p := s.plan
	ref := p.Namespace + "/" + p.Name
	created, err := x.create(ctx, "the resized StatefulSet", resized(x.original, p.Template, p.Size))
	if err == nil {
		x.res.UID = created.UID
		x.logf("  created (uid %s)", created.UID)
		return nil
	}
	var gaveUp *unanswered
	switch {
	case apierrors.IsAlreadyExists(err):
		return &NeedsAction{
			Err:    fmt.Errorf("StatefulSet %s was re-created by someone else before this step", ref),
			Action: fmt.Sprintf("it was left as it is; if its template has the old size, delete it with --cascade=orphan and `kubectl create -f %s`", x.res.Backup.Resized),
		}
	case errors.As(err, &gaveUp):
		// Not a refusal: the original would meet the same outage, and the resized one
		// is what the expanded claims need.
		return &NeedsAction{
			Err: fmt.Errorf("StatefulSet %s was deleted, and creating the resized one failed for %s (%s)", ref, duration(p.Timeout), gaveUp),
			Action: fmt.Sprintf("the StatefulSet does not exist now (its pods and claims do, orphaned); once the API server answers, run `kubectl create -f %s` (resized), or `kubectl create -f %s` to go back to the original",
				x.res.Backup.Resized, x.res.Backup.Original),
		}
	}
	x.logf("  the API server refused the resized StatefulSet: %v; re-creating the original", err)
	orig, rerr := x.create(ctx, "the original StatefulSet", forCreate(x.original))
	if rerr != nil {
		return &NeedsAction{
			Err: fmt.Errorf("re-creating StatefulSet %s with the new template failed (%v) and re-creating the original failed too (%v)", ref, err, rerr),
			Action: fmt.Sprintf("the StatefulSet does not exist now (its pods and claims do); fix the cause and run `kubectl create -f %s` (original) or `kubectl create -f %s` (resized)",
				x.res.Backup.Original, x.res.Backup.Resized),
		}
	}
	x.res.UID = orig.UID
	x.logf("  original re-created (uid %s)", orig.UID)
	return &Restored{CreateErr: err, UID: orig.UID, VerifyErr: adopt(ctx, x, orig.UID)}
}

// create creates st after the deletion. A transient failure (see transient) is retried at
// the poll interval until the plan's timeout; a refusal is returned at once; when the
// timeout passes first, the error is *unanswered. A create whose answer was lost is
// recognised by the AlreadyExists of its retry: the object is then ours (our field
// manager, st's template) and is returned.
func (x *execution) create(ctx context.Context, what string, st *appsv1.StatefulSet) (*appsv1.StatefulSet, error) {
	p := x.plan
	sets := x.opts.Client.AppsV1().StatefulSets(p.Namespace)
	deadline := time.Now().Add(p.Timeout)
	var last string
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithDeadline(ctx, deadline)
		created, err := sets.Create(actx, st.DeepCopy(), metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) && attempt > 1 {
			if cur, gerr := sets.Get(actx, p.Name, metav1.GetOptions{}); gerr == nil && createdAs(cur, st, p.Template) {
				created, err = cur, nil
			}
		}
		cancel()
		if err == nil {
			return created, nil
		}
		if !transient(err) {
			return nil, err
		}
		if !time.Now().Add(x.poll()).Before(deadline) {
			return nil, &unanswered{attempts: attempt, last: err}
		}
		if msg := oneLine(err); msg != last {
			last = msg
			x.logf("  creating %s failed (%s): retrying every %s for up to %s", what, msg, x.poll(), duration(p.Timeout))
		}
		time.Sleep(x.poll())
	}
}

// unanswered is a create that kept failing transiently until the timeout.
type unanswered struct {
	attempts int
	last     error
}

func (e *unanswered) Error() string {
	return fmt.Sprintf("%d attempts, the last: %s", e.attempts, oneLine(e.last))
}
func (e *unanswered) Unwrap() error { return e.last }

// transient reports whether a failed write may succeed when sent again: the API server
// did not answer (connection refused or reset, a timeout: no status), answered 5xx or 429,
// or 409 for another reason than AlreadyExists. Any other 4xx is a refusal: the same
// request gets the same answer.
func transient(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	code := status.Status().Code
	return code >= 500 || code == http.StatusTooManyRequests || (code == http.StatusConflict && !apierrors.IsAlreadyExists(err))
}

// createdAs reports whether cur is st as this auditor created it: written by its field
// manager, with st's size in template tpl.
func createdAs(cur, st *appsv1.StatefulSet, tpl string) bool {
	ours := false
	for _, m := range cur.ManagedFields {
		ours = ours || m.Manager == FieldManager
	}
	return ours && templateStorage(cur, tpl) == templateStorage(st, tpl)
}

func templateStorage(st *appsv1.StatefulSet, tpl string) string {
	for _, t := range st.Spec.VolumeClaimTemplates {
		if t.Name == tpl {
			q := t.Spec.Resources.Requests[corev1.ResourceStorage]
			return q.String()
		}
	}
	return ""
}

// deletedAfterAll reads the StatefulSet after a delete that got no clear answer, until the
// plan's timeout: gone, being deleted or replaced means the delete happened.
func deletedAfterAll(ctx context.Context, x *execution) (bool, error) {
	p := x.plan
	var gone bool
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, x.poll(), p.Timeout, true, func(ctx context.Context) (bool, error) {
		cur, err := x.opts.Client.AppsV1().StatefulSets(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			gone = true
			return true, nil
		case err != nil:
			lastErr = err
			return false, nil
		}
		gone = cur.UID != x.original.UID || cur.DeletionTimestamp != nil
		return true, nil
	})
	if err != nil && lastErr != nil {
		err = lastErr
	}
	return gone, err
}

func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func (s *verifyAdoption) run(ctx context.Context, x *execution) error {
	if err := adopt(ctx, x, x.res.UID); err != nil {
		return &NeedsAction{Err: err, Action: "the StatefulSet exists with the new template; check that kube-controller-manager runs and `kubectl get pods -n " + s.plan.Namespace + " -o wide` shows the pods"}
	}
	return nil
}

// adopt waits until every pod of the plan (or its replacement of the same name) is
// controlled by the StatefulSet with uid, and every planned claim is still the same
// object.
func adopt(ctx context.Context, x *execution, uid types.UID) error {
	p := x.plan
	core := x.opts.Client.CoreV1()
	var missing []string
	err := wait.PollUntilContextTimeout(ctx, x.poll(), p.Timeout, true, func(ctx context.Context) (bool, error) {
		missing = missing[:0]
		for _, pod := range p.Pods {
			cur, err := core.Pods(p.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, nil
			}
			if err != nil || !controlledBy(cur, uid) {
				missing = append(missing, "pod "+pod.Name)
			}
		}
		for _, c := range p.Claims {
			cur, err := core.PersistentVolumeClaims(p.Namespace).Get(ctx, c.Name, metav1.GetOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return false, nil
			}
			if err != nil || cur.UID != c.UID || cur.DeletionTimestamp != nil {
				return false, fmt.Errorf("claim %s/%s is gone or being deleted", p.Namespace, c.Name)
			}
		}
		return len(missing) == 0, nil
	})
	if err != nil {
		if len(missing) > 0 {
			return fmt.Errorf("StatefulSet %s/%s (uid %s) has not adopted %s within %s", p.Namespace, p.Name, uid, strings.Join(missing, ", "), duration(p.Timeout))
		}
		return err
	}
	x.res.Adopted = x.res.Adopted[:0]
	for _, pod := range p.Pods {
		x.res.Adopted = append(x.res.Adopted, pod.Name)
	}
	if len(p.Pods) > 0 {
		x.logf("  pods %s are controlled by uid %s; claims unchanged", strings.Join(x.res.Adopted, ", "), uid)
	}
	return nil
}

func controlledBy(o metav1.Object, uid types.UID) bool {
	ref := metav1.GetControllerOf(o)
	return ref != nil && ref.UID == uid
}
