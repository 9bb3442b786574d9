// Command floor is the baseline of hack/bench-scale: the least a program can do to read
// what `auditor run` reads from a live cluster. It LISTs the same kinds the auditor lists
// (but ALL Events, since it does not know which matter), with protobuf on the wire, 500
// objects per page through continue tokens, 4 LISTs at a time, decodes every page into
// typed objects the way client-go does, and throws them away. Its wall time and peak RSS
// are what any auditor must pay at least.
//
//	go run ./hack/bench-scale/floor --kubeconfig KUBECONFIG
//
// It prints "objects N pages P" on stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

type listFunc func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster to read")
	limit := flag.Int64("limit", 500, "LIST page size")
	parallel := flag.Int("parallel", 4, "LISTs at a time")
	qps := flag.Float64("qps", -1, "client-side rate limit (negative: none)")
	burst := flag.Int("burst", 0, "client-side burst")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()

	if err := run(*kubeconfig, *limit, *parallel, float32(*qps), *burst, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(2)
	}
}

func run(kubeconfig string, limit int64, parallel int, qps float32, burst int, timeout time.Duration) error {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return err
	}
	// As pkg/snapshot/live.Config does.
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cfg.QPS, cfg.Burst = qps, burst
	cfg.UserAgent = "storage-auditor-bench-floor"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	core, storage, apps, batch := cs.CoreV1(), cs.StorageV1(), cs.AppsV1(), cs.BatchV1()
	all := metav1.NamespaceAll
	jobs := map[string]listFunc{
		"persistentvolumes": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.PersistentVolumes().List(ctx, o)
		},
		"persistentvolumeclaims": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.PersistentVolumeClaims(all).List(ctx, o)
		},
		"storageclasses": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return storage.StorageClasses().List(ctx, o)
		},
		"csidrivers": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return storage.CSIDrivers().List(ctx, o)
		},
		"csinodes": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return storage.CSINodes().List(ctx, o)
		},
		"volumeattachments": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return storage.VolumeAttachments().List(ctx, o)
		},
		"nodes": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Nodes().List(ctx, o)
		},
		"pods": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Pods(all).List(ctx, o)
		},
		"statefulsets": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.StatefulSets(all).List(ctx, o)
		},
		"deployments": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.Deployments(all).List(ctx, o)
		},
		"daemonsets": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.DaemonSets(all).List(ctx, o)
		},
		"replicasets": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return apps.ReplicaSets(all).List(ctx, o)
		},
		"jobs": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return batch.Jobs(all).List(ctx, o)
		},
		"cronjobs": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return batch.CronJobs(all).List(ctx, o)
		},
		"resourcequotas": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.ResourceQuotas(all).List(ctx, o)
		},
		"leases": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return cs.CoordinationV1().Leases("kube-system").List(ctx, o)
		},
		"events": func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return core.Events(all).List(ctx, o)
		},
	}

	var objects, pages atomic.Int64
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(jobs))
	var wg sync.WaitGroup
	// The big kinds first, so that the small ones fill in behind them.
	order := []string{"events", "pods", "persistentvolumes", "persistentvolumeclaims", "volumeattachments",
		"nodes", "csinodes", "replicasets", "deployments", "statefulsets", "daemonsets", "jobs", "cronjobs",
		"resourcequotas", "storageclasses", "csidrivers", "leases"}
	for _, name := range order {
		list := jobs[name]
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			o := metav1.ListOptions{Limit: limit}
			for {
				obj, err := list(ctx, o)
				if err != nil {
					errs <- fmt.Errorf("listing %s: %w", name, err)
					cancel()
					return
				}
				n := meta.LenList(obj)
				lm, err := meta.ListAccessor(obj)
				if err != nil {
					errs <- fmt.Errorf("listing %s: %w", name, err)
					cancel()
					return
				}
				objects.Add(int64(n))
				pages.Add(1)
				if o.Continue = lm.GetContinue(); o.Continue == "" {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	fmt.Printf("objects %d pages %d\n", objects.Load(), pages.Load())
	return nil
}
