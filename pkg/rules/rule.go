// Package rules defines the rule contract and the engine that runs rules over a snapshot.
// A rule is a small value (its metadata) plus one check function, in the spirit of
// golang.org/x/tools/go/analysis. Rules read the snapshot and report findings through the
// Pass; they cannot print, call the API or change anything (this package and the rules
// do not import client-go, and a test enforces it).
package rules

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/snapshot"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Category groups rules by the kind of problem they judge.
type Category string

const (
	Lifecycle     Category = "lifecycle"
	Expansion     Category = "expansion"
	Capacity      Category = "capacity"
	Workload      Category = "workload"
	Cost          Category = "cost"
	Configuration Category = "configuration"
)

// ParamType says how a rule parameter's value is written.
type ParamType string

const (
	Duration ParamType = "duration" // Go duration: 15m, 7d is written 168h
	Percent  ParamType = "percent"  // 0-1000, e.g. 80
	Int      ParamType = "int"
)

// Param is a tunable of a rule, settable in the config file under rules.<id>.params.
type Param struct {
	Name    string
	Type    ParamType
	Default string
	Doc     string
}

// Rule is one check. ID is a public contract (config keys, suppression annotations,
// dashboards): never rename one.
type Rule struct {
	ID    string
	Title string
	// Action is the fix in one line, for digests and summaries (Doc has the details).
	Action   string
	Severity audit.Severity // default; a rule may escalate individual findings
	Category Category
	// Doc is the rule's documentation in Markdown: what it means, why it matters, how to fix
	// it by hand with the kubectl lines. `auditor rules explain` prints it and
	// docs/rules/<id>.md is generated from it.
	Doc string
	// Reads lists the kinds the rule cannot judge without: if one is unreadable the rule is
	// skipped, never run on missing data.
	Reads []snapshot.Kind
	// Optional lists kinds the rule only uses as extra evidence (usually Events); their
	// absence cannot make it report a false problem.
	Optional []snapshot.Kind
	Params   []Param
	// Check inspects the snapshot and reports through p.Report.
	Check func(p *Pass) error
}

var idRE = regexp.MustCompile(`^(pv|pvc|sc|sts|node|csinode|pod|va|quota|cost)-[a-z0-9]+(-[a-z0-9]+)*$`)

// Validate checks a rule's metadata; the registry test runs it over every rule.
func (r *Rule) Validate() error {
	switch {
	case !idRE.MatchString(r.ID):
		return fmt.Errorf("rule %q: ID must be kebab-case with a known prefix", r.ID)
	case r.Action == "":
		return fmt.Errorf("rule %s has no Action", r.ID)
	case r.Title == "":
		return fmt.Errorf("rule %s: no title", r.ID)
	case r.Severity < audit.Info || r.Severity > audit.Critical:
		return fmt.Errorf("rule %s: invalid default severity", r.ID)
	case r.Category == "":
		return fmt.Errorf("rule %s: no category", r.ID)
	case strings.TrimSpace(r.Doc) == "":
		return fmt.Errorf("rule %s: no doc", r.ID)
	case len(r.Reads) == 0:
		return fmt.Errorf("rule %s: declares no kinds it reads", r.ID)
	case r.Check == nil:
		return fmt.Errorf("rule %s: no check function", r.ID)
	}
	for _, p := range r.Params {
		if err := CheckParam(p, p.Default); err != nil {
			return fmt.Errorf("rule %s: default of param %s: %v", r.ID, p.Name, err)
		}
	}
	return nil
}

// Param returns the declared parameter name, or nil.
func (r *Rule) Param(name string) *Param {
	for i := range r.Params {
		if r.Params[i].Name == name {
			return &r.Params[i]
		}
	}
	return nil
}

// CheckParam validates a value for p.
func CheckParam(p Param, value string) error {
	switch p.Type {
	case Duration:
		d, err := ParseDuration(value)
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("%q: must not be negative", value)
		}
	case Percent:
		f, err := strconv.ParseFloat(strings.TrimSuffix(value, "%"), 64)
		if err != nil || f < 0 || f > 1000 {
			return fmt.Errorf("%q: want a percentage such as 80", value)
		}
	case Int:
		if _, err := strconv.Atoi(value); err != nil {
			return fmt.Errorf("%q: want a whole number", value)
		}
	default:
		return fmt.Errorf("unknown param type %q", p.Type)
	}
	return nil
}

// ParseDuration is time.ParseDuration plus a "d" (24h) suffix, which operators expect
// for grace periods of days.
func ParseDuration(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return 0, fmt.Errorf("%q: want a duration such as 15m, 2h or 7d", s)
		}
		return time.Duration(days * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: want a duration such as 15m, 2h or 7d", s)
	}
	return d, nil
}

// Pass is what a rule's check receives: the snapshot, the clock, its parameters, and one
// way out, Report.
type Pass struct {
	Snapshot *snapshot.Snapshot
	// Now is the audit's clock; rules never call time.Now, so fixtures are reproducible.
	Now    time.Time
	Rule   *Rule
	params map[string]string
	report func(audit.Finding)
	costs  *cost.Breakdown
	model  *cost.Model
}

// Cost returns the run's cost section as computed before the rules (without waste), or
// nil when it could not be computed (PersistentVolumes not read).
func (p *Pass) Cost() *audit.Cost {
	if p.costs == nil {
		return nil
	}
	return p.costs.Cost
}

// Budgets returns the configured monthly storage budgets (none by default).
func (p *Pass) Budgets() cost.Budgets {
	if p.model == nil {
		return cost.Budgets{}
	}
	return p.model.Budgets()
}

// Report records a finding. RuleID is filled in; a zero severity means the rule's default.
func (p *Pass) Report(f audit.Finding) {
	f.RuleID = p.Rule.ID
	if f.Severity == 0 {
		f.Severity = p.Rule.Severity
	}
	p.report(f)
}

func (p *Pass) param(name string) string {
	if v, ok := p.params[name]; ok {
		return v
	}
	if d := p.Rule.Param(name); d != nil {
		return d.Default
	}
	panic(fmt.Sprintf("rule %s reads undeclared param %q", p.Rule.ID, name))
}

// Duration returns a duration parameter (validated before the rule runs).
func (p *Pass) Duration(name string) time.Duration {
	d, _ := ParseDuration(p.param(name))
	return d
}

// Percent returns a percentage parameter as a number (80 for "80%").
func (p *Pass) Percent(name string) float64 {
	f, _ := strconv.ParseFloat(strings.TrimSuffix(p.param(name), "%"), 64)
	return f
}

// Int returns an integer parameter.
func (p *Pass) Int(name string) int {
	n, _ := strconv.Atoi(p.param(name))
	return n
}

// Ref builds the object reference of a finding.
func Ref(kind snapshot.Kind, o metav1.Object) audit.ObjectRef {
	return audit.ObjectRef{Kind: string(kind), Namespace: o.GetNamespace(), Name: o.GetName(), UID: string(o.GetUID())}
}
