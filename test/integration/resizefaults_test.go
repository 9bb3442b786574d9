package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"

	"github.com/storage-auditor/auditor/pkg/fix/stsresize"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	"github.com/storage-auditor/auditor/test/controlplane"
	"github.com/storage-auditor/auditor/test/scenario"
)

// TestResizeFaults runs the StatefulSet resize against the real control plane (the
// garbage collector orphans, the StatefulSet controller adopts) while the client's
// transport fails the creations after the deletion on cue: transient failures are sent
// again until the resized StatefulSet exists; a permanent refusal brings the original
// back, its own transient failure retried too. Both StatefulSets live in one namespace.
func TestResizeFaults(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	const ns = "resize-faults"
	env := &scenario.Env{CS: cp.Clientset(), Log: t.Logf}
	cs := env.CS
	if err := env.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.ResizableClass(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.ResizerLease(ctx, scenario.ResizeDriver); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.StorageV1().StorageClasses().Delete(context.Background(), scenario.ResizeClass, metav1.DeleteOptions{})
		_ = cs.CoordinationV1().Leases("kube-system").Delete(context.Background(), snapshot.ResizerLeaseName(scenario.ResizeDriver), metav1.DeleteOptions{})
	})
	if err := controlplane.EnsureNamespace(ctx, cs, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeNamespaces(t, []string{ns}) })
	resizerCtx, stopResizer := context.WithCancel(ctx)
	resizerErr := env.FakeResizer(resizerCtx, ns)
	defer func() {
		stopResizer()
		if err := <-resizerErr; err != nil {
			t.Errorf("fake resizer: %v", err)
		}
	}()

	originals := map[string]*appsv1.StatefulSet{}
	for _, name := range []string{"flaky", "refused"} {
		st := scenario.StatefulSet(ns, name, 2, scenario.ResizeClass, "1Gi")
		if err := env.StatefulSetOnVolumes(ctx, st, func(n string) *corev1.PersistentVolume { return scenario.ResizablePV(n, "1Gi") }); err != nil {
			t.Fatal(err)
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		originals[name] = cur
	}
	faults := &createFaults{script: map[string][]createFault{
		// (i) the resized StatefulSet: no connection, then 503, then through.
		"flaky@2Gi": {faultRefused, faultUnavailable},
		// (ii) the resized StatefulSet refused for good; the restore's first try gets 503.
		"refused@2Gi": {faultInvalid("refused"), faultInvalid("refused")},
		"refused@1Gi": {faultUnavailable},
	}}
	rc := cp.RESTConfig()
	rc.ContentType = "application/json" // so that the faults can read which StatefulSet is sent
	rc.Wrap(func(rt http.RoundTripper) http.RoundTripper { faults.next = rt; return faults })
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	resize := func(t *testing.T, name string) (*stsresize.Result, string, error) {
		t.Helper()
		in, err := stsresize.Read(ctx, cs, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := stsresize.Decide(in, stsresize.Request{Namespace: ns, Name: name, Size: resource.MustParse("2Gi"),
			Timeout: time.Minute, BackupDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		var progress bytes.Buffer
		res, err := stsresize.Execute(ctx, plan, stsresize.Options{Client: client, Progress: &progress, Poll: 200 * time.Millisecond})
		t.Logf("resize %s/%s:\n%s", ns, name, progress.String())
		return res, progress.String(), err
	}

	t.Run("transient failures after the deletion are retried", func(t *testing.T) {
		orig := originals["flaky"]
		pods := podControllers(t, ns, "app=flaky", orig.UID)
		res, progress, err := resize(t, "flaky")
		if err != nil {
			t.Fatalf("resize: %v", err)
		}
		if got := faults.sent("flaky"); strings.Join(got, ",") != "2Gi:refused,2Gi:503,2Gi:201" {
			t.Errorf("creations sent %v, want the resized StatefulSet three times (refused, 503, created) and never the original", got)
		}
		if !strings.Contains(progress, "creating the resized StatefulSet failed") || !strings.Contains(progress, "retrying every 200ms") {
			t.Errorf("the progress does not say it retried")
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "flaky", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if cur.UID == orig.UID || cur.UID != res.UID {
			t.Fatalf("StatefulSet uid %s; original %s, result %s", cur.UID, orig.UID, res.UID)
		}
		assertSameExceptSize(t, orig, cur, "2Gi")
		if got := podControllers(t, ns, "app=flaky", cur.UID); !equalMaps(got, pods) || len(res.Adopted) != 2 {
			t.Errorf("pods %v (adopted %v), want the same pods %v adopted by the resized StatefulSet", got, res.Adopted, pods)
		}
	})

	t.Run("a permanent refusal restores the original", func(t *testing.T) {
		orig := originals["refused"]
		pods := podControllers(t, ns, "app=refused", orig.UID)
		res, _, err := resize(t, "refused")
		var restored *stsresize.Restored
		if !errors.As(err, &restored) {
			t.Fatalf("err = %v, want *stsresize.Restored", err)
		}
		if got := faults.sent("refused"); strings.Join(got, ",") != "2Gi:422,1Gi:503,1Gi:201" {
			t.Errorf("creations sent %v, want the resized StatefulSet once (422), then the original twice (503, created)", got)
		}
		for _, want := range []string{"refused by the test", "the original StatefulSet was re-created", "fix the cause and run the same resize again"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
		t.Logf("error: %v", err)
		if restored.VerifyErr != nil {
			t.Errorf("the restored StatefulSet did not adopt its pods: %v", restored.VerifyErr)
		}
		cur, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "refused", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the original StatefulSet is not back: %v", err)
		}
		if cur.UID == orig.UID || cur.UID != restored.UID || cur.UID != res.UID {
			t.Fatalf("StatefulSet uid %s; original %s, restored %s", cur.UID, orig.UID, restored.UID)
		}
		assertSameExceptSize(t, orig, cur, "1Gi")
		if got := podControllers(t, ns, "app=refused", cur.UID); !equalMaps(got, pods) {
			t.Errorf("pods %v, want the same pods %v adopted by the restored StatefulSet", got, pods)
		}
		for i := 0; i < 2; i++ {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, fmt.Sprintf("data-refused-%d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if q := pvc.Status.Capacity[corev1.ResourceStorage]; q.String() != "2Gi" {
				t.Errorf("claim %s has %s; the restore keeps the claims' new size 2Gi", pvc.Name, q.String())
			}
		}
	})
}

// createFault answers a StatefulSet creation instead of the API server.
type createFault struct {
	label string
	reply func(*http.Request) (*http.Response, error)
}

var (
	faultRefused = createFault{"refused", func(*http.Request) (*http.Response, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}}
	}}
	faultUnavailable = createFault{"503", func(r *http.Request) (*http.Response, error) {
		return statusResponse(r, &apierrors.NewServiceUnavailable("injected by the test: the server is unavailable").ErrStatus)
	}}
)

// faultInvalid is the 422 an admission webhook or validation gives StatefulSet name.
func faultInvalid(name string) createFault {
	return createFault{"422", func(r *http.Request) (*http.Response, error) {
		return statusResponse(r, &apierrors.NewInvalid(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, name,
			field.ErrorList{field.Forbidden(field.NewPath("spec", "volumeClaimTemplates"), "refused by the test")}).ErrStatus)
	}}
}

func statusResponse(r *http.Request, st *metav1.Status) (*http.Response, error) {
	st.Kind, st.APIVersion = "Status", "v1"
	body, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: int(st.Code), Status: fmt.Sprintf("%d %s", st.Code, http.StatusText(int(st.Code))),
		Header: http.Header{"Content-Type": []string{"application/json"}}, Body: io.NopCloser(bytes.NewReader(body)),
		ContentLength: int64(len(body)), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// createFaults fails the creations of StatefulSets as script says, keyed by
// "<name>@<size of the first volumeClaimTemplate>", one fault per creation in order;
// the rest go to the API server. It records every creation and how it ended.
type createFaults struct {
	next   http.RoundTripper
	mu     sync.Mutex
	script map[string][]createFault
	log    map[string][]string // name -> "<size>:<refused|503|422|HTTP status>"
}

func (f *createFaults) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/statefulsets") || r.Body == nil {
		return f.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var st appsv1.StatefulSet
	if err := json.Unmarshal(body, &st); err != nil || len(st.Spec.VolumeClaimTemplates) == 0 {
		return f.next.RoundTrip(r)
	}
	q := st.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests[corev1.ResourceStorage]
	size := q.String()
	f.mu.Lock()
	key := st.Name + "@" + size
	var fault *createFault
	if s := f.script[key]; len(s) > 0 {
		fault, f.script[key] = &s[0], s[1:]
	}
	f.mu.Unlock()
	if fault != nil {
		f.record(st.Name, size+":"+fault.label)
		return fault.reply(r)
	}
	resp, err := f.next.RoundTrip(r)
	if err == nil {
		f.record(st.Name, fmt.Sprintf("%s:%d", size, resp.StatusCode))
	}
	return resp, err
}

func (f *createFaults) record(name, what string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.log == nil {
		f.log = map[string][]string{}
	}
	f.log[name] = append(f.log[name], what)
}

func (f *createFaults) sent(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log[name]...)
}
