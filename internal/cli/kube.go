package cli

import (
	"fmt"
	"math"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/storage-auditor/auditor/internal/version"
	"github.com/storage-auditor/auditor/pkg/snapshot/live"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	// Credentials as kubectl has them. Exec credential plugins (users[].exec: aws eks
	// get-token, gke-gcloud-auth-plugin, kubelogin) are built into client-go's
	// transport; this adds the oidc auth provider, and for the removed gcp and azure
	// auth providers an error naming the exec plugin that replaces them instead of
	// "no Auth Provider found".
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

// dialTimeout bounds connecting to an API server. client-go dials for up to 30 s, per
// request; an address that drops packets (a cluster behind a VPN that is down) then
// holds a many-cluster run. 10 s is ample for a reachable server.
const dialTimeout = 10 * time.Second

// kubeOptions are the kubectl-style connection flags.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespaces []string
	qps        float32
	burst      int
}

// addFlags adds the connection flags and --namespace, for the commands that audit.
func (k *kubeOptions) addFlags(f *pflag.FlagSet) {
	k.addConnectionFlags(f)
	f.StringSliceVarP(&k.namespaces, "namespace", "n", nil, "audit only these namespaces (comma list or repeated; default all). Cluster-scoped objects are still read; PV findings are kept when their claim is in one of these namespaces")
}

// addConnectionFlags adds what every command that connects takes, whether or not it
// audits: which cluster, and how fast to talk to it.
func (k *kubeOptions) addConnectionFlags(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, the service account)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use (default: the current context)")
	f.Float32Var(&k.qps, "qps", 50, "client-side request rate limit towards the API server")
	f.IntVar(&k.burst, "burst", 100, "client-side request burst towards the API server")
}

// checkRate refuses client-side limits that client-go would silently replace with its
// own (5 requests per second for --qps 0), lift altogether (a negative --qps) or answer
// with an error about its internals (--burst 0).
func (k *kubeOptions) checkRate() error {
	if !(k.qps > 0) || math.IsInf(float64(k.qps), 1) {
		return fmt.Errorf("--qps %v: want a number of requests per second above 0, such as 50", k.qps)
	}
	if k.burst < 1 {
		return fmt.Errorf("--burst %d: want at least 1 request, such as 100", k.burst)
	}
	return nil
}

// source names the kubeconfig for messages: --kubeconfig, $KUBECONFIG or ~/.kube/config.
func (k *kubeOptions) source() string {
	if k.kubeconfig != "" {
		return k.kubeconfig
	}
	if env := os.Getenv(clientcmd.RecommendedConfigPathEnvVar); env != "" {
		return "$KUBECONFIG (" + env + ")"
	}
	return clientcmd.RecommendedHomeFile
}

// clientConfig is kubectl's resolution of --kubeconfig, $KUBECONFIG, ~/.kube/config
// and --context (in a pod: the service account). $KUBECONFIG may list several files
// (colon-separated, semicolons on Windows): they are merged as kubectl merges them, the
// first file to set a value winning.
func (k *kubeOptions) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context})
}

// restConfig resolves the connection the way kubectl does and names the cluster for the
// report: the context name, or "in-cluster".
func (k *kubeOptions) restConfig() (*rest.Config, string, error) {
	cc := k.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", fmt.Errorf("no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or audit a dump with --from-file")
		}
		return nil, "", fmt.Errorf("kubeconfig: %v", strings.TrimPrefix(err.Error(), "invalid configuration: "))
	}
	name := k.context
	if name == "" {
		if raw, err := cc.RawConfig(); err == nil && raw.CurrentContext != "" {
			name = raw.CurrentContext
		} else {
			name = "in-cluster"
		}
	}
	return cfg, name, nil
}

// clientset connects the way every command does: kubectl's config resolution, the
// auditor's rate limits, protobuf and user agent (live.Config). It returns the config
// used and the cluster's name for messages; errors are exitErrors.
func (k *kubeOptions) clientset() (kubernetes.Interface, *rest.Config, string, error) {
	// Every command that connects comes through here: run and cost check earlier too,
	// before any cluster of a many-cluster run is read.
	if err := k.checkRate(); err != nil {
		return nil, nil, "", &exitError{code: ExitError, err: err}
	}
	cfg, name, err := k.restConfig()
	if err != nil {
		return nil, nil, "", &exitError{code: ExitError, err: err}
	}
	cfg = live.Config(cfg, k.qps, k.burst, version.Get().Version)
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, "", &exitError{code: ExitError, err: fmt.Errorf("building a client for %s: %w", cfg.Host, err)}
	}
	return cs, cfg, name, nil
}
