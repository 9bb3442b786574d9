package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// kubeOptions are the kubectl-style connection flags.
type kubeOptions struct {
	kubeconfig string
	context    string
	namespaces []string
	qps        float32
	burst      int
}

func (k *kubeOptions) addFlags(f *pflag.FlagSet) {
	f.StringVar(&k.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config; in a pod, the service account)")
	f.StringVar(&k.context, "context", "", "kubeconfig context to use (default: the current context)")
	f.StringSliceVarP(&k.namespaces, "namespace", "n", nil, "audit only these namespaces (comma list or repeated; default all). Cluster-scoped objects are still read; PV findings are kept when their claim is in one of these namespaces")
	f.Float32Var(&k.qps, "qps", 50, "client-side request rate limit towards the API server")
	f.IntVar(&k.burst, "burst", 100, "client-side request burst towards the API server")
}

// restConfig resolves the connection the way kubectl does and names the cluster for the
// report: the context name, or "in-cluster".
func (k *kubeOptions) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: k.context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
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
