// Package preflight says what a planned storage change will do before anyone makes it: a
// StatefulSet scale-up (which claims are re-attached with old data, which Available volumes
// new claims bind, whether the nodes have attach slots and the namespace quota, what it
// costs) or a volume resize (whether the class really expands, whether a resizer runs,
// quota, cost, what else must change). It is pure like the rules: a snapshot and a price
// model in, a Result out; it never reads the API. The judgement comes from the same
// snapshot helpers the rules use (pv-available-unreserved's matching, sts-retained-ordinal's
// ordinals, node-attach-limit's volume counts, quota-storage-exhausted's quota reading,
// sc-expansion-unsupported's expansion verdict), so a change preflight calls safe is never
// one the audit reports afterwards.
package preflight

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/cost"
	"github.com/storage-auditor/auditor/pkg/snapshot"
)

// Verdict is the answer: go, warn or no-go.
type Verdict string

const (
	// Go: nothing found that the change would break or surprise anyone with.
	Go Verdict = "go"
	// Warn: the change can be made, but something needs a look first (or could not be
	// checked).
	Warn Verdict = "warn"
	// NoGo: the change would re-use old data, fail, or be silently ignored.
	NoGo Verdict = "no-go"
)

// Check is one thing preflight looked at. Critical checks make the verdict no-go, warnings
// warn; info checks say what was found to be fine (and the numbers behind it).
type Check struct {
	// Check names what was checked: stale-pvc-reuse, stale-pv-bind, attach-headroom, …
	Check    string          `json:"check"`
	Severity audit.Severity  `json:"severity"`
	Object   audit.ObjectRef `json:"object"`
	Message  string          `json:"message"`
}

// Result is preflight's answer, printed as the JSON document
// {"verdict": …, "checks": […], "costDelta": {"USD": 12.5}}.
type Result struct {
	Verdict Verdict `json:"verdict"`
	// Checks are ordered most severe first, in the order they were made within a severity.
	Checks []Check `json:"checks"`
	// CostDelta is how much the monthly storage bill changes, per currency: volumes the
	// change provisions (or grows) at the price model's rates. Re-used volumes are already
	// billed and add nothing; unpriced volumes add nothing (an info check says so).
	CostDelta audit.Money `json:"costDelta"`
	// Subject says what was checked, for people ("scale StatefulSet shop/db from 2 to 8
	// replicas").
	Subject string `json:"-"`
}

// Checker runs the checks over one snapshot.
type Checker struct {
	Snapshot *snapshot.Snapshot
	// Prices prices new capacity; nil means the shipped list prices (cost.DefaultModel).
	Prices *cost.Model
	// Now dates ages (how old a retained claim is); preflight never reads the clock.
	Now time.Time
}

// Check names.
const (
	CheckStalePVCReuse    = "stale-pvc-reuse"
	CheckStalePVBind      = "stale-pv-bind"
	CheckReservedPV       = "reserved-pv"
	CheckProvisioning     = "provisioning"
	CheckAttachHeadroom   = "attach-headroom"
	CheckQuota            = "quota"
	CheckCost             = "cost"
	CheckScale            = "scale"
	CheckClaimBound       = "claim-bound"
	CheckResizeSize       = "resize-size"
	CheckClassExpansion   = "class-expansion"
	CheckResizer          = "resizer"
	CheckOfflineResize    = "offline-resize"
	CheckResizeInProgress = "resize-in-progress"
	CheckResizeCooldown   = "resize-cooldown"
	CheckFilesystem       = "filesystem"
	CheckTemplate         = "template"
	CheckHelmValue        = "helm-value"
	CheckGitOps           = "gitops"
)

// builder collects checks and the cost delta of one run.
type builder struct {
	c      *Checker
	checks []Check
	micros map[string]int64
}

func (c *Checker) newBuilder() *builder {
	return &builder{c: c, micros: map[string]int64{}}
}

func (b *builder) add(check string, sev audit.Severity, obj audit.ObjectRef, format string, args ...any) {
	b.checks = append(b.checks, Check{Check: check, Severity: sev, Object: obj, Message: fmt.Sprintf(format, args...)})
}

// addCost adds (sign 1) or subtracts (sign -1) a quote.
func (b *builder) addCost(q cost.Quote, sign int64) {
	b.micros[q.Currency] += sign * q.Micros
}

// finish orders the checks and decides the verdict.
func (b *builder) finish(subject string) *Result {
	sort.SliceStable(b.checks, func(i, j int) bool { return b.checks[i].Severity > b.checks[j].Severity })
	res := &Result{Verdict: Go, Checks: b.checks, CostDelta: audit.Money{}, Subject: subject}
	if res.Checks == nil {
		res.Checks = []Check{}
	}
	for cur, m := range b.micros {
		if m != 0 {
			res.CostDelta[cur] = float64(m) / 1e6
		}
	}
	for _, ch := range res.Checks {
		switch {
		case ch.Severity == audit.Critical:
			res.Verdict = NoGo
		case ch.Severity == audit.Warning && res.Verdict == Go:
			res.Verdict = Warn
		}
	}
	return res
}

// Counts returns how many checks have each severity.
func (r *Result) Counts() (critical, warning, info int) {
	for _, c := range r.Checks {
		switch c.Severity {
		case audit.Critical:
			critical++
		case audit.Warning:
			warning++
		default:
			info++
		}
	}
	return critical, warning, info
}

// ref names an object in a check (kind, namespace, name: no UID, so the document stays what
// people and pipelines compare).
func ref(kind snapshot.Kind, o metav1.Object) audit.ObjectRef {
	return audit.ObjectRef{Kind: string(kind), Namespace: o.GetNamespace(), Name: o.GetName()}
}

func named(kind, namespace, name string) audit.ObjectRef {
	return audit.ObjectRef{Kind: kind, Namespace: namespace, Name: name}
}

// prices returns the price model to use.
func (c *Checker) prices() *cost.Model {
	if c.Prices != nil {
		return c.Prices
	}
	return cost.DefaultModel()
}

// price quotes a volume of class with bytes of capacity a month; ok is false when no price
// matches. A volume is priced by its class's provisioner and parameters, as the cost
// section prices it; driver stands in when the class is gone.
func (c *Checker) price(class, driver string, bytes int64) (cost.Quote, bool) {
	v := cost.Volume{StorageClass: class, Provisioner: driver, Bytes: bytes}
	if sc := c.Snapshot.StorageClass(class); sc != nil && class != "" {
		v.Provisioner, v.Parameters = sc.Provisioner, sc.Parameters
	}
	return c.prices().Price(v)
}

// moneyText renders per-currency micros ("2.00 EUR", "1.00 EUR + 3.00 USD").
func moneyText(m map[string]int64) string {
	if len(m) == 0 {
		return "nothing"
	}
	curs := make([]string, 0, len(m))
	for c := range m {
		curs = append(curs, c)
	}
	sort.Strings(curs)
	s := ""
	for i, c := range curs {
		if i > 0 {
			s += " + "
		}
		s += audit.FormatMoney(float64(m[c])/1e6, c)
	}
	return s
}

// quantityText renders bytes as a quantity (18Gi).
func quantityText(bytes int64) string {
	return resource.NewQuantity(bytes, resource.BinarySI).String()
}

// className describes a claim's class for messages.
func className(class string) string {
	if class == "" {
		return `"" (no class)`
	}
	return class
}

// provisionerOf returns the class's provisioner, or "".
func (c *Checker) provisionerOf(class string) string {
	if sc := c.Snapshot.StorageClass(class); sc != nil {
		return sc.Provisioner
	}
	return ""
}

// quotaNeed is what a change asks of a namespace's storage quotas.
type quotaNeed struct {
	claims map[string]int   // new claims by class
	bytes  map[string]int64 // added requests by class
}

func newQuotaNeed() *quotaNeed {
	return &quotaNeed{claims: map[string]int{}, bytes: map[string]int64{}}
}

// need returns what a quota resource would be charged.
func (n *quotaNeed) need(u snapshot.QuotaUse) resource.Quantity {
	var total int64
	if u.Claims {
		for class, k := range n.claims {
			if u.Applies(class) {
				total += int64(k)
			}
		}
		return *resource.NewQuantity(total, resource.DecimalSI)
	}
	for class, k := range n.bytes {
		if u.Applies(class) {
			total += k
		}
	}
	return *resource.NewQuantity(total, resource.BinarySI)
}

// quotaChecks compares what a change asks of namespace ns with every storage quota there:
// admission rejects a claim (or an expansion) that would take a resource over its hard
// limit.
func (b *builder) quotaChecks(ns string, n *quotaNeed, what string) {
	snap := b.c.Snapshot
	if !snap.Loaded(snapshot.ResourceQuotas) {
		b.add(CheckQuota, audit.Warning, named("Namespace", "", ns),
			"quota headroom not checked: ResourceQuotas were not read (%s)", unreadable(snap, snapshot.ResourceQuotas))
		return
	}
	found := false
	for _, q := range snap.ResourceQuotas {
		if q.Namespace != ns {
			continue
		}
		for _, u := range snapshot.StorageQuotaUses(q) {
			need := n.need(u)
			if need.Sign() <= 0 {
				continue
			}
			found = true
			obj := ref(snapshot.ResourceQuotas, q)
			if !u.HasUsed {
				b.add(CheckQuota, audit.Warning, obj, "ResourceQuota %s/%s limits %s to %s but its use is not computed yet: %s needs %s of it; check again once the quota controller has counted",
					q.Namespace, q.Name, u.Resource, u.Hard.String(), what, need.String())
				continue
			}
			left := u.Hard.DeepCopy()
			left.Sub(u.Used)
			if left.Sign() < 0 {
				left = resource.Quantity{Format: left.Format}
			}
			if need.Cmp(left) > 0 {
				b.add(CheckQuota, audit.Critical, obj, "ResourceQuota %s/%s: %s has %s left (%s used of %s) and %s needs %s: admission rejects what goes over (exceeded quota); raise spec.hard.%s or free claims first",
					q.Namespace, q.Name, u.Resource, left.String(), u.Used.String(), u.Hard.String(), what, need.String(), u.Resource)
				continue
			}
			b.add(CheckQuota, audit.Info, obj, "ResourceQuota %s/%s: %s has %s left (%s used of %s); %s needs %s",
				q.Namespace, q.Name, u.Resource, left.String(), u.Used.String(), u.Hard.String(), what, need.String())
		}
	}
	if !found {
		b.add(CheckQuota, audit.Info, named("Namespace", "", ns), "no ResourceQuota in namespace %s limits the storage %s needs", ns, what)
	}
}

// unreadable says why a kind is missing from the snapshot.
func unreadable(snap *snapshot.Snapshot, k snapshot.Kind) string {
	if why := snap.Unreadable(k); why != "" {
		return why
	}
	return "the input has none; include them in the dump (kubectl get " + k.Resource() + ")"
}

// classOf returns the StorageClass named class, or nil.
func (c *Checker) classOf(class string) *storagev1.StorageClass {
	if class == "" {
		return nil
	}
	return c.Snapshot.StorageClass(class)
}

// claimSize is the size a claim has: status.capacity, else its request.
func claimSize(pvc *corev1.PersistentVolumeClaim) (resource.Quantity, bool) {
	if q, ok := snapshot.ClaimCapacity(pvc); ok {
		return q, true
	}
	return snapshot.ClaimRequest(pvc)
}
