// Package audit holds the vocabulary every other package speaks: severities, object
// references, findings and the report document. It depends on nothing but the standard
// library so that reporters, rules and fixes can all import it.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Severity orders findings. The zero value is invalid on purpose, so a rule that forgets
// to set one is caught by the engine instead of silently reported as "info".
type Severity int

const (
	Info Severity = iota + 1
	Warning
	Critical
)

// Severities lists the valid severities from lowest to highest.
var Severities = []Severity{Info, Warning, Critical}

func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Warning:
		return "warning"
	case Critical:
		return "critical"
	}
	return fmt.Sprintf("Severity(%d)", int(s))
}

// ParseSeverity accepts the lower-case names used in flags, config and the report.
func ParseSeverity(s string) (Severity, error) {
	for _, v := range Severities {
		if strings.EqualFold(s, v.String()) {
			return v, nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// MarshalText makes severities appear as their names in JSON and YAML.
func (s Severity) MarshalText() ([]byte, error) {
	if s < Info || s > Critical {
		return nil, fmt.Errorf("invalid severity %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText is the inverse of MarshalText, so reports can be read back (state, tests).
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ObjectRef names the Kubernetes object a finding is about.
type ObjectRef struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

// String renders the ref the way an operator types it: Kind/namespace/name.
func (r ObjectRef) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Finding is one problem on one object, reported by one rule.
type Finding struct {
	RuleID   string            `json:"ruleID"`
	Severity Severity          `json:"severity"`
	Object   ObjectRef         `json:"object"`
	Message  string            `json:"message"`
	Details  map[string]string `json:"details,omitempty"`
	// Fingerprint identifies the problem across runs: the rule, the object's UID (or its
	// reference when it has none) and Fact. The engine fills it in.
	Fingerprint string `json:"fingerprint,omitempty"`
	// FirstSeen is when an earlier run first reported this fingerprint (run-to-run state),
	// or this run's time when it is new. Nil when the run kept no state.
	FirstSeen *time.Time `json:"firstSeen,omitempty"`
	// New is true when the previous run (with state) did not report this fingerprint.
	New bool `json:"new,omitempty"`
	// Fact is the value that makes this problem this problem (a requested size, a node
	// name): when it changes, the finding is a new one. Rules set it; it is not part of
	// the document, only of the fingerprint.
	Fact string `json:"-"`
	// Fixes are the changes the rule proposes (see Fix); `auditor run --fix` plans and
	// applies them. Empty for most rules and findings.
	Fixes []Fix `json:"fixes,omitempty"`
}

// Summary counts reported findings by severity, and the suppressed ones apart.
type Summary struct {
	Critical   int `json:"critical"`
	Warning    int `json:"warning"`
	Info       int `json:"info"`
	Suppressed int `json:"suppressed"`
}

// Skipped records a rule that did not run and why (unreadable input, an error, a panic).
type Skipped struct {
	Rule   string `json:"rule"`
	Reason string `json:"reason"`
}

// Unreadable records a kind the snapshot could not read completely.
type Unreadable struct {
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// Report is the document behind -o json / -o yaml and every reporter. Its shape is a
// public contract: add fields, never rename or remove them.
type Report struct {
	APIVersion  string       `json:"apiVersion"`
	Kind        string       `json:"kind"`
	Cluster     string       `json:"cluster"`
	GeneratedAt time.Time    `json:"generatedAt"`
	Summary     Summary      `json:"summary"`
	Findings    []Finding    `json:"findings"`
	Skipped     []Skipped    `json:"skipped"`
	Unreadable  []Unreadable `json:"unreadable,omitempty"`
	// Changes compares this run with the previous one; nil when no state was kept.
	Changes *Changes `json:"changes,omitempty"`
	// Resolved lists findings the previous run reported and this one did not (with state).
	Resolved []Finding `json:"resolved,omitempty"`
	// Cost is the monthly storage cost section; nil when it was not computed.
	Cost *Cost `json:"cost,omitempty"`
	// Error says why the cluster could not be audited at all (unreachable, credentials
	// refused, a broken kubeconfig context); the report then holds no findings. Only a
	// many-cluster run (--contexts, --all-contexts) writes such a report: it stands for
	// the cluster in the list so the other clusters' reports still go out.
	Error string `json:"error,omitempty"`
}

// Changes summarises run-to-run state: how many findings are new since the previous run
// and how many it reported that are now gone.
type Changes struct {
	// Since is the time of the previous run; zero on the first run with a fresh state.
	Since    time.Time `json:"since,omitempty"`
	New      int       `json:"new"`
	Resolved int       `json:"resolved"`
}

const (
	// APIVersion and ReportKind identify the report document.
	APIVersion = "storage-auditor.dev/v1"
	ReportKind = "AuditReport"
)

// NewReport returns an empty report whose slices are non-nil, so they encode as [] not null.
func NewReport(cluster string, at time.Time) *Report {
	return &Report{
		APIVersion:  APIVersion,
		Kind:        ReportKind,
		Cluster:     cluster,
		GeneratedAt: at.UTC().Truncate(time.Second),
		Findings:    []Finding{},
		Skipped:     []Skipped{},
	}
}

// Count adds f to the summary.
func (s *Summary) Count(sev Severity) {
	switch sev {
	case Critical:
		s.Critical++
	case Warning:
		s.Warning++
	case Info:
		s.Info++
	}
}

// AtLeast reports how many findings are at or above min.
func (s Summary) AtLeast(min Severity) int {
	n := 0
	if min <= Critical {
		n += s.Critical
	}
	if min <= Warning {
		n += s.Warning
	}
	if min <= Info {
		n += s.Info
	}
	return n
}

// MakeFingerprint computes f's fingerprint: a short hash of the rule, the object (its UID
// when known, so a re-created object with the same name is a new problem, else its
// reference) and the rule's Fact. Severity and message are left out on purpose: an age
// growing in the message or a severity escalating is the same problem, still open.
func MakeFingerprint(f Finding) string {
	id := f.Object.UID
	if id == "" {
		id = f.Object.String()
	}
	h := sha256.Sum256([]byte(f.RuleID + "\x00" + id + "\x00" + f.Fact))
	return hex.EncodeToString(h[:8])
}
