package fix

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/audit"
)

// EventReason is the reason of the Event recorded on every object a fix changed.
const EventReason = "StorageAuditorFixed"

// Applier applies a plan's allowed actions to a cluster.
type Applier struct {
	Client kubernetes.Interface
	// DryRun sends every request with dryRun=All: the API server validates and admits
	// them and changes nothing. No Event is recorded.
	DryRun bool
	// ClaimGoneTimeout is how long a step that depends on a deleted claim waits for the
	// claim to disappear (its pvc-protection finalizer is removed by a controller); 0
	// means 30s.
	ClaimGoneTimeout time.Duration
	// Now is the clock of Events; nil means time.Now.
	Now func() time.Time
	// RequestTimeout bounds each API request, so a server that accepts connections and
	// never answers costs one action, not the run; 0 means 30s.
	RequestTimeout time.Duration
}

// requestCtx bounds one API request (RequestTimeout).
func (ap *Applier) requestCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	d := ap.RequestTimeout
	if d <= 0 {
		d = 30 * time.Second
	}
	return context.WithTimeout(ctx, d)
}

// skip is an action that must not run (the object changed, the finding no longer
// holds); its message says why. conflict marks a 409 from a concurrent write.
type skip struct {
	why      string
	conflict bool
}

func (s *skip) Error() string { return s.why }

func skipf(format string, a ...any) error { return &skip{why: fmt.Sprintf(format, a...)} }

func isConflict(err error) bool {
	var s *skip
	return errors.As(err, &s) && s.conflict
}

// Apply runs the plan's allowed actions in order and returns one result per action, in
// the plan's order. An action that fails or is skipped does not stop the others — except
// when the API server stops answering or ctx ends: the actions after that are not sent,
// each reporting why, rather than each waiting on a server that is gone.
func (ap *Applier) Apply(ctx context.Context, p *Plan) []Result {
	out := make([]Result, 0, len(p.Actions))
	var stop *halt
	for _, a := range p.Actions {
		switch {
		case !a.Allowed:
			out = append(out, Result{Action: a, Outcome: NotAllowed, Detail: a.Why})
			continue
		case stop == nil && ctx.Err() != nil:
			stop = &halt{cause: ctx.Err()}
		}
		if stop != nil {
			out = append(out, stop.result(a))
			continue
		}
		res, lost := ap.apply(ctx, a)
		out = append(out, res)
		switch {
		case ctx.Err() != nil:
			stop = &halt{cause: ctx.Err(), during: a.N}
		case lost != nil:
			stop = &halt{cause: lost, during: a.N}
		}
	}
	return out
}

// halt is why the rest of a plan is not sent: the API server stopped answering (cause is
// the transport error) or ctx ended (cause is ctx.Err()), during action #during (0:
// before any action ran).
type halt struct {
	cause  error
	during int
}

// result is the failed result of an action that was not sent because of h.
func (h *halt) result(a *Action) Result {
	when := "before this action"
	if h.during > 0 {
		when = fmt.Sprintf("during #%d", h.during)
	}
	why, next := "", "run --fix again to apply it"
	switch {
	case errors.Is(h.cause, context.Canceled):
		why = "the run was interrupted " + when
	case errors.Is(h.cause, context.DeadlineExceeded) && !isURLError(h.cause):
		why = "the run's time limit ran out " + when
	default:
		why = fmt.Sprintf("the API server %sstopped answering %s (%s)", serverOf(h.cause), when, transportCause(h.cause))
		next = "run --fix again once the API server answers"
	}
	return Result{Action: a, Outcome: Failed,
		Detail: fmt.Sprintf("not attempted: %s; nothing was sent for %s — %s", why, a.Target().ObjectRef, next)}
}

// apply runs one action's steps. Each step re-reads its target and checks it is the
// object the audit saw and that the finding still holds, then sends the planned request.
// When a later step cannot run, the earlier ones stay done and the result says so. lost
// is the first error that says the API server did not answer (nil if none did).
func (ap *Applier) apply(ctx context.Context, a *Action) (res Result, lost error) {
	seen := func(err error) error {
		if lost == nil && unreachable(err) {
			lost = err
		}
		return err
	}
	if err := seen(ap.checkUnchanged(ctx, a)); err != nil {
		return ap.result(a, 0, err), lost
	}
	var done []string
	var first metav1.Object
	var stop *Result
	for i, r := range a.Requests {
		if i > 0 && r.Step.ChangedByPrevious && !ap.DryRun {
			if err := seen(ap.waitGone(ctx, a.Requests[i-1].Step.Target)); err != nil {
				res := ap.result(a, i, err)
				stop = &res
				break
			}
		}
		obj, err := ap.step(ctx, a, r)
		seen(err)
		// A step whose target the step before changes on purpose races with the
		// controller doing it (the PV controller releasing a volume): its
		// resourceVersion was read just now, not pinned by the audit, so after a
		// conflict it is read and checked again, a few times.
		for try := 1; r.Step.ChangedByPrevious && isConflict(err) && try < 5; try++ {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
			obj, err = ap.step(ctx, a, r)
			seen(err)
		}
		if err != nil {
			res := ap.result(a, i, err)
			stop = &res
			break
		}
		if i == 0 {
			first = obj
		}
		done = append(done, describeDone(r, ap.DryRun))
	}
	if len(done) == 0 {
		return *stop, lost
	}
	res = Result{Action: a, Outcome: Applied, Detail: strings.Join(done, "; ")}
	if stop != nil {
		res.Detail += "; then " + string(stop.Outcome) + ": " + stop.Detail
		res.Outcome = Partial
		if stop.Outcome == Failed {
			res.Outcome = Failed
		}
	}
	if ap.DryRun {
		if res.Outcome == Applied {
			res.Outcome = DryRunOK
		}
		res.Detail += " (dry run: accepted by the API server, nothing changed)"
		return res, lost
	}
	if err := seen(ap.recordEvent(ctx, a, first)); err != nil {
		res.Detail += fmt.Sprintf("; the Event was not recorded: %v", err)
	} else {
		res.Detail += "; Event " + EventReason + " recorded"
	}
	return res, lost
}

// result turns a step's error into a skipped or failed result.
func (ap *Applier) result(a *Action, step int, err error) Result {
	var s *skip
	if errors.As(err, &s) {
		return Result{Action: a, Outcome: Skipped, Detail: s.why}
	}
	what := ""
	if step < len(a.Requests) {
		what = requestName(a.Requests[step]) + ": "
	}
	return Result{Action: a, Outcome: Failed, Detail: what + apiErrorText(err)}
}

func requestName(r Request) string {
	if r.Body != nil {
		return "PATCH " + r.Step.Target.ObjectRef.String()
	}
	return "DELETE " + r.Step.Target.ObjectRef.String()
}

func describeDone(r Request, dryRun bool) string {
	verb := "patched"
	if r.Body == nil {
		verb = "deleted"
	}
	if dryRun {
		verb += " (dry run)"
	}
	return verb + " " + r.Step.Target.ObjectRef.String()
}

// apiErrorText explains an API error; a missing permission names what is needed, a
// request the API server did not answer says whether it may have been applied.
func apiErrorText(err error) string {
	msg := oneLine(err.Error())
	var sent *sendError
	switch {
	case unreachable(err) && errors.As(err, &sent) && !dialFailure(err):
		return msg + " (the connection to the API server broke after the request was sent: it may or may not have been applied; audit again before running --fix again)"
	case unreachable(err):
		return msg + " (no answer from the API server: this request was not applied)"
	case apierrors.IsForbidden(err):
		return msg + " (the credentials lack this permission: nothing was changed by this action)"
	case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
		return msg + " (refused by validation)"
	}
	return msg
}

// checkUnchanged re-reads the objects the fix was decided on besides its targets.
func (ap *Applier) checkUnchanged(ctx context.Context, a *Action) error {
	for _, u := range a.Fix.Unchanged {
		if _, err := ap.read(ctx, u, true); err != nil {
			return err
		}
	}
	return nil
}

// read gets t and checks its UID, and its resourceVersion when pinned.
func (ap *Applier) read(ctx context.Context, t audit.FixTarget, pinned bool) (metav1.Object, error) {
	c, err := clientFor(ap.Client, t.ObjectRef)
	if err != nil {
		return nil, err
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	obj, err := c.get(rctx, t.Name)
	switch {
	case apierrors.IsNotFound(err):
		return nil, skipf("%s no longer exists (deleted since the audit): not applied", t.ObjectRef)
	case err != nil:
		return nil, fmt.Errorf("reading %s: %w", t.ObjectRef, err)
	case string(obj.GetUID()) != t.UID:
		return nil, skipf("%s was deleted and re-created since the audit (uid %s, now %s)", t.ObjectRef, t.UID, obj.GetUID())
	case pinned && obj.GetResourceVersion() != t.ResourceVersion:
		return nil, skipf("%s changed since the audit (resourceVersion %s, now %s)", t.ObjectRef, t.ResourceVersion, obj.GetResourceVersion())
	}
	return obj, nil
}

// step re-reads one target, re-checks the finding and sends the request. It returns the
// object as the request left it (nil after a delete).
func (ap *Applier) step(ctx context.Context, a *Action, r Request) (metav1.Object, error) {
	t := r.Step.Target
	obj, err := ap.read(ctx, t, !r.Step.ChangedByPrevious)
	if err != nil {
		return nil, err
	}
	if err := ap.check(ctx, a, r, obj); err != nil {
		return nil, err
	}
	c, _ := clientFor(ap.Client, t.ObjectRef)
	var dryRun []string
	if ap.DryRun {
		dryRun = []string{metav1.DryRunAll}
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	if r.Body != nil {
		out, err := c.patch(rctx, t.Name, r.Body, metav1.PatchOptions{FieldManager: FieldManager, DryRun: dryRun})
		return out, requestError(t, err)
	}
	uid, rv := types.UID(t.UID), obj.GetResourceVersion()
	err = c.delete(rctx, t.Name, metav1.DeleteOptions{
		Preconditions:      &metav1.Preconditions{UID: &uid, ResourceVersion: &rv},
		GracePeriodSeconds: r.Step.Delete.GracePeriodSeconds,
		DryRun:             dryRun,
	})
	return nil, requestError(t, err)
}

// requestError turns a conflict (a concurrent write, a failed precondition) or a vanished
// object into a skip: nothing is ever overwritten. Other errors are marked as those of a
// write (sendError).
func requestError(t audit.FixTarget, err error) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsConflict(err):
		return &skip{why: fmt.Sprintf("%s was changed by someone else while applying (409 Conflict: %s): not overwritten, nothing of this action was applied", t.ObjectRef, oneLine(err.Error())), conflict: true}
	case apierrors.IsNotFound(err):
		return skipf("%s disappeared while applying", t.ObjectRef)
	}
	return &sendError{err: err}
}

// sendError is the error of a write (PATCH, DELETE), as opposed to a read: when the
// connection breaks after it was sent, the server may have applied it.
type sendError struct{ err error }

func (e *sendError) Error() string { return e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// unreachable reports whether err means the API server did not answer: the request
// failed in transport (client-go wraps those in a *url.Error: connection refused or
// reset, TLS, timeouts) rather than with a status from the server.
func unreachable(err error) bool {
	if err == nil {
		return false
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return false
	}
	return isURLError(err) || utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err)
}

func isURLError(err error) bool {
	var u *url.Error
	return errors.As(err, &u)
}

// dialFailure reports whether err happened while connecting: the request was never sent.
func dialFailure(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// serverOf names the server of a transport error ("https://10.0.0.1:6443 "), or "".
func serverOf(err error) string {
	var u *url.Error
	if !errors.As(err, &u) {
		return ""
	}
	if parsed, perr := url.Parse(u.URL); perr == nil && parsed.Host != "" {
		return parsed.Scheme + "://" + parsed.Host + " "
	}
	return ""
}

// transportCause is what went wrong in transport, without the request's URL.
func transportCause(err error) string {
	var u *url.Error
	if errors.As(err, &u) {
		return oneLine(u.Err.Error())
	}
	return oneLine(err.Error())
}

// waitGone waits until the object a step deleted is gone (or re-created with another
// UID), so the next step sees what the delete left behind.
func (ap *Applier) waitGone(ctx context.Context, t audit.FixTarget) error {
	c, err := clientFor(ap.Client, t.ObjectRef)
	if err != nil {
		return err
	}
	timeout := ap.ClaimGoneTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var lastErr error
	var finalizers []string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		rctx, cancel := ap.requestCtx(ctx)
		defer cancel()
		obj, err := c.get(rctx, t.Name)
		switch {
		case apierrors.IsNotFound(err):
			return true, nil
		case err != nil:
			lastErr = err
			return false, nil
		}
		finalizers = obj.GetFinalizers()
		return string(obj.GetUID()) != t.UID, nil
	})
	if err == nil {
		return nil
	}
	if lastErr != nil {
		return fmt.Errorf("waiting for %s to be gone: %w", t.ObjectRef, lastErr)
	}
	return skipf("%s is still being deleted after %s (finalizers: %s; kubernetes.io/pvc-protection stays while a pod uses it): the next step was not run; run --fix again once it is gone",
		t.ObjectRef, timeout, strings.Join(finalizers, ", "))
}

// recordEvent records a core/v1 Event on the action's first target (in "default" for
// cluster-scoped objects, as client-go's recorder does), naming the rule and the change.
func (ap *Applier) recordEvent(ctx context.Context, a *Action, obj metav1.Object) error {
	now := time.Now
	if ap.Now != nil {
		now = ap.Now
	}
	t := a.Target()
	c, err := clientFor(ap.Client, t.ObjectRef)
	if err != nil {
		return err
	}
	ns := t.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	at := metav1.NewTime(now())
	ref := corev1.ObjectReference{APIVersion: c.apiVersion, Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, UID: types.UID(t.UID)}
	if obj != nil {
		ref.ResourceVersion = obj.GetResourceVersion()
	}
	host, _ := os.Hostname()
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%.200s.%x", t.Name, at.UnixNano()), Namespace: ns},
		InvolvedObject:      ref,
		Reason:              EventReason,
		Message:             truncate(fmt.Sprintf("storage-auditor --fix (rule %s, %s): %s", a.RuleID, a.Fix.Action, a.Fix.Description), 1024),
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: FieldManager, Host: host},
		FirstTimestamp:      at,
		LastTimestamp:       at,
		Count:               1,
		ReportingController: FieldManager,
		ReportingInstance:   truncate(host, 128),
	}
	rctx, cancel := ap.requestCtx(ctx)
	defer cancel()
	_, err = ap.Client.CoreV1().Events(ns).Create(rctx, ev, metav1.CreateOptions{FieldManager: FieldManager})
	if err != nil {
		// Not apiErrorText: its "nothing was changed" is about the action's own requests,
		// and by now those have been applied.
		msg := oneLine(err.Error())
		if apierrors.IsForbidden(err) {
			msg += " (the change above was applied; grant create on events to record it)"
		}
		return &eventError{msg: msg, err: err}
	}
	return nil
}

// eventError keeps the cause of a failed Event (unreachable looks at it) under the
// message that says what it means for the action.
type eventError struct {
	msg string
	err error
}

func (e *eventError) Error() string { return e.msg }
func (e *eventError) Unwrap() error { return e.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
