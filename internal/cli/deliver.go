package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/state"
	"github.com/storage-auditor/auditor/pkg/state/configmap"
)

// deliveryFlags are what happens to a report besides printing it: run-to-run state and
// the Slack digest. run and serve share them.
type deliveryFlags struct {
	stateFile      string
	stateConfigMap string
	slack          slackFlags
}

func (d *deliveryFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&d.stateFile, "state-file", "", "keep run-to-run state (first-seen times, what is new or resolved) in this file")
	fs.StringVar(&d.stateConfigMap, "state-configmap", "", "keep run-to-run state in this ConfigMap: name (in the auditor's namespace) or namespace/name")
	d.slack.addFlags(fs)
}

// logRetriesTo sends a line for each retried Slack call to logf (secrets redacted), so
// that a slow notification is visible while it waits. Call it before setup.
func (d *deliveryFlags) logRetriesTo(logf func(line string)) { d.slack.logRetriesTo(logf) }

// delivery is a validated set of sinks for one auditor.
type delivery struct {
	store state.Store // nil: no state
	where string      // the store, for messages
	slack *notifier   // nil: no Slack
}

// setup resolves flags against the config file. inMemory gives serve a process-local
// state when none is configured, so its digests still say what changed.
func (d *deliveryFlags) setup(a *auditor, inMemory bool) (*delivery, error) {
	out := &delivery{}
	file, cm, err := d.statePlace(a)
	if err != nil {
		return nil, err
	}
	switch {
	case file != "":
		out.store, out.where = state.NewFileStore(file), "file "+file
	case cm != "":
		if a.cs == nil {
			return nil, usageError("--state-configmap needs a live cluster; with --from-file keep the state in a --state-file")
		}
		ns, name, err := config.SplitConfigMap(cm)
		if err != nil {
			return nil, usageError("--state-configmap: %v", err)
		}
		if ns == "" {
			if ns, err = a.flags.kube.namespace(); err != nil {
				return nil, usageError("--state-configmap %s: %v; give it as namespace/name", cm, err)
			}
		}
		out.store, out.where = configmap.NewStore(a.cs, ns, name), "ConfigMap "+ns+"/"+name
	case inMemory:
		out.store, out.where = state.NewMemoryStore(), "memory"
	}
	n, err := d.slack.prepare(a)
	if err != nil {
		return nil, err
	}
	if n != nil && n.opts.OnlyChanges && out.store == nil {
		return nil, usageError("--slack-only-changes needs run-to-run state to know what changed: add --state-file (or --state-configmap in a cluster)")
	}
	out.slack = n
	return out, nil
}

// statePlace is where the state is kept: a file or a ConfigMap, from the flags or else
// the config file (at most one of them is set).
func (d *deliveryFlags) statePlace(a *auditor) (file, configMap string, err error) {
	file, configMap = d.stateFile, d.stateConfigMap
	if file == "" && configMap == "" && a.cfg != nil {
		file, configMap = a.cfg.File.State.File, a.cfg.File.State.ConfigMap
	}
	if file != "" && configMap != "" {
		return "", "", usageError("--state-file and --state-configmap: choose one place for the state")
	}
	return file, configMap, nil
}

// setupEach validates delivery for a many-cluster run once, before any cluster is read,
// and returns how to make each cluster's delivery. The state is kept in each cluster
// (--state-configmap: the same ConfigMap name in each). A --state-file is refused: its
// entries are not keyed by cluster, so one file would compare one cluster's findings
// with another's. Every cluster's report gets its own Slack digest through one notifier.
func (d *deliveryFlags) setupEach(a *auditor) (func(*auditor) (*delivery, error), error) {
	file, cm, err := d.statePlace(a)
	if err != nil {
		return nil, err
	}
	var ns, name string
	switch {
	case file != "" && d.stateFile == "":
		return nil, usageError("config %s: state.file keeps one cluster's state and would mix clusters: with --contexts or --all-contexts keep the state in each cluster with --state-configmap NAME", a.cfg.Path)
	case file != "":
		return nil, usageError("--state-file keeps one cluster's state and would mix clusters: with --contexts or --all-contexts keep the state in each cluster with --state-configmap NAME")
	case cm != "":
		if ns, name, err = config.SplitConfigMap(cm); err != nil {
			return nil, usageError("--state-configmap: %v", err)
		}
	}
	n, err := d.slack.prepare(a)
	if err != nil {
		return nil, err
	}
	if n != nil && n.opts.OnlyChanges && cm == "" {
		return nil, usageError("--slack-only-changes needs run-to-run state to know what changed: with --contexts or --all-contexts add --state-configmap NAME (kept in each cluster)")
	}
	return func(ca *auditor) (*delivery, error) {
		out := &delivery{slack: n}
		if cm == "" {
			return out, nil
		}
		cns := ns
		if cns == "" {
			var err error
			if cns, err = ca.flags.kube.namespace(); err != nil {
				return out, fmt.Errorf("--state-configmap %s: %v; give it as namespace/name", cm, err)
			}
		}
		out.store, out.where = configmap.NewStore(ca.cs, cns, name), "ConfigMap "+cns+"/"+name
		return out, nil
	}, nil
}

// record keeps run-to-run state, marking the report's new and resolved findings. A
// state failure is a warning, never a lost audit: the report is still written, without
// the comparison. It returns the warnings to show.
func (d *delivery) record(ctx context.Context, ar *auditRun) []string {
	if d.store == nil {
		return nil
	}
	var warnings []string
	rep := ar.res.Report
	dropped, err := state.Record(ctx, d.store, rep, ar.res.Ran, rep.GeneratedAt)
	if err != nil {
		warnings = append(warnings, fmt.Sprintf("run-to-run state not kept (%s): %v; the report has no new/resolved marks", d.where, oneLine(err.Error())))
	}
	if dropped > 0 {
		warnings = append(warnings, fmt.Sprintf("state in %s is full: %d entries were dropped (stale ones first, then the lowest-severity findings), and those findings will read as new again", d.where, dropped))
	}
	return warnings
}

// notify posts the digest; posted is false when there is no Slack or nothing to say.
// Callers write the report first: a slow or failing Slack must never hold it back.
func (d *delivery) notify(ctx context.Context, rep *audit.Report) (posted bool, err error) {
	if d.slack == nil {
		return false, nil
	}
	return d.slack.post(ctx, rep)
}

// namespace is the auditor's own namespace: the kubeconfig context's, or in a pod
// POD_NAMESPACE or the service account's.
func (k *kubeOptions) namespace() (string, error) {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns, nil
	}
	ns, _, err := k.clientConfig().Namespace()
	if err != nil {
		return "", fmt.Errorf("cannot tell the auditor's namespace: %v", err)
	}
	return ns, nil
}

// severityOr parses s, or returns def when s is empty.
func severityOr(s string, def audit.Severity) (audit.Severity, error) {
	if s == "" {
		return def, nil
	}
	return audit.ParseSeverity(s)
}
