package fix

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
)

var planNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// target is an object as a live audit records it.
func target(kind, ns, name string) audit.FixTarget {
	return audit.FixTarget{ObjectRef: audit.ObjectRef{Kind: kind, Namespace: ns, Name: name, UID: "uid-" + name}, ResourceVersion: "42"}
}

func patchFix(action string, safety audit.Safety, t audit.FixTarget) audit.Fix {
	return audit.Fix{Action: action, Safety: safety, Description: action + " " + t.Name,
		Steps:   []audit.FixStep{{Target: t, Patch: &audit.FixPatch{Type: audit.MergePatch, Data: `{"spec":{"x":true}}`}}},
		Kubectl: "kubectl patch " + t.Name}
}

func deleteFix(action string, t audit.FixTarget) audit.Fix {
	return audit.Fix{Action: action, Safety: audit.Destructive, Description: action + " " + t.Name,
		Steps: []audit.FixStep{{Target: t, Delete: &audit.FixDelete{}}}, Kubectl: "kubectl delete " + t.Name}
}

func report(fs ...audit.Finding) *audit.Report {
	rep := audit.NewReport("test", planNow)
	rep.Findings = fs
	return rep
}

func finding(rule string, fixes ...audit.Fix) audit.Finding {
	return audit.Finding{RuleID: rule, Severity: audit.Warning, Object: fixes[0].Steps[0].Target.ObjectRef, Message: "m", Fixes: fixes}
}

func TestPolicyGate(t *testing.T) {
	safe := finding("sc-expansion-unsupported", patchFix("disable-expansion", audit.Safe, target("StorageClass", "", "local-path")))
	restart := finding("pvc-resize-stuck", patchFix("rollout-restart", audit.Disruptive, target("StatefulSet", "db", "pg")))
	del := finding("pv-released-retained", deleteFix("delete-claim-and-pv", target("PersistentVolume", "", "pv-1")))
	cases := []struct {
		name    string
		f       audit.Finding
		pol     Policy
		allowed bool
		why     string
	}{
		{"safe always", safe, Policy{}, true, ""},
		{"disruptive needs --allow", restart, Policy{}, false, "disruptive (restarts pods): needs --allow disruptive"},
		{"disruptive allowed", restart, Policy{AllowDisruptive: true}, true, ""},
		{"destructive needs both", del, Policy{AllowDisruptive: true}, false, "needs --allow destructive and pv-released-retained in fix.allow of the config file"},
		{"destructive flag without rule", del, Policy{AllowDestructive: true, DestructiveRules: []string{"sts-retained-ordinal"}}, false, "needs pv-released-retained in fix.allow"},
		{"destructive rule without flag", del, Policy{DestructiveRules: []string{"pv-released-retained"}}, false, "destructive (deletes objects or data): needs --allow destructive"},
		{"destructive allowed", del, Policy{AllowDestructive: true, DestructiveRules: []string{"pv-released-retained"}}, true, ""},
		{"destructive does not imply disruptive", restart, Policy{AllowDestructive: true, DestructiveRules: []string{"pvc-resize-stuck"}}, false, "needs --allow disruptive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewPlan(report(c.f), c.pol, planNow)
			a := p.Actions[0]
			if a.Allowed != c.allowed || !strings.Contains(a.Why, c.why) || (c.allowed && a.Why != "") {
				t.Errorf("allowed %v why %q; want %v with %q", a.Allowed, a.Why, c.allowed, c.why)
			}
		})
	}
}

func TestWaitGate(t *testing.T) {
	at := func(d time.Duration) *time.Time { v := planNow.Add(-d); return &v }
	pod := func(since *time.Time, firstSeen *time.Time) audit.Finding {
		fx := deleteFix("force-delete-pod", target("Pod", "coord", "zk-0"))
		fx.Wait = &audit.FixWait{For: "node n1 to have been gone longer than the fix grace", Since: since, Source: "metadata.deletionTimestamp"}
		f := finding("pod-node-missing", fx)
		f.FirstSeen = firstSeen
		return f
	}
	pol := Policy{AllowDestructive: true, DestructiveRules: []string{"pod-node-missing"}, PodNodeMissingGrace: 10 * time.Minute}
	cases := []struct {
		name    string
		f       audit.Finding
		allowed bool
		why     string
	}{
		{"no evidence, no state", pod(nil, nil), false, "nothing dates it"},
		{"evidence too young", pod(at(3*time.Minute), nil), false, "known for only 3m (since 2026-06-01T11:57:00Z, metadata.deletionTimestamp)"},
		{"evidence old enough", pod(at(11*time.Minute), nil), true, ""},
		{"state dates it", pod(nil, at(time.Hour)), true, ""},
		{"earlier of state and evidence", pod(at(2*time.Minute), at(20*time.Minute)), true, ""},
		{"state too young", pod(nil, at(time.Minute)), false, "when the auditor first saw the finding"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewPlan(report(c.f), pol, planNow).Actions[0]
			if a.Allowed != c.allowed || !strings.Contains(a.Why, c.why) {
				t.Errorf("allowed %v why %q; want %v with %q", a.Allowed, a.Why, c.allowed, c.why)
			}
		})
	}
}

func TestPlanOrderLimitAndDuplicates(t *testing.T) {
	rep := report(
		finding("pv-released-retained", deleteFix("delete-claim-and-pv", target("PersistentVolume", "", "pv-1"))),
		finding("pvc-resize-stuck", patchFix("rollout-restart", audit.Disruptive, target("StatefulSet", "db", "pg"))),
		// Two claims of one StatefulSet stuck: one restart, the second is the same action.
		finding("pvc-resize-stuck", patchFix("rollout-restart", audit.Disruptive, target("StatefulSet", "db", "pg"))),
		finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-2"))),
		finding("pv-available-unreserved", patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-3"))),
	)
	pol := Policy{AllowDisruptive: true, AllowDestructive: true, DestructiveRules: []string{"pv-released-retained"}, MaxActions: 3}
	p := NewPlan(rep, pol, planNow)
	var got []string
	for _, a := range p.Actions {
		s := a.Fix.Action + " " + a.Target().Name
		if !a.Allowed {
			s += " (" + a.Why + ")"
		}
		got = append(got, s)
	}
	want := []string{
		"reserve-pv pv-2",
		"reserve-pv pv-3",
		"rollout-restart pg",
		"rollout-restart pg (the same action on the same object as #3)",
		"delete-claim-and-pv pv-1 (over the limit of 3 actions a run (--max-actions, fix.maxActions))",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if p.Allowed() != 3 || p.Actions[4].N != 5 {
		t.Errorf("allowed %d, last N %d", p.Allowed(), p.Actions[4].N)
	}
	if NewPlan(rep, Policy{}, planNow).Allowed() != 2 {
		t.Error("with the default policy only the two safe actions are allowed")
	}
}

func TestRequestsCarryPreconditions(t *testing.T) {
	fx := patchFix("reserve-pv", audit.Safe, target("PersistentVolume", "", "pv-2"))
	fx.Steps[0].Patch.Data = `{"metadata":{"annotations":{"storage-auditor.dev/reserved-for":"storage-auditor-reserved/pv-2"}},"spec":{"claimRef":{"name":"pv-2"}}}`
	p := NewPlan(report(finding("pv-available-unreserved", fx)), Policy{}, planNow.Add(1500*time.Millisecond))
	a := p.Actions[0]
	if !a.Allowed {
		t.Fatalf("not allowed: %s", a.Why)
	}
	want := `{"metadata":{"annotations":{"storage-auditor.dev/fixed-by":"pv-available-unreserved@2026-06-01T12:00:01Z","storage-auditor.dev/reserved-for":"storage-auditor-reserved/pv-2"},"resourceVersion":"42"},"spec":{"claimRef":{"name":"pv-2"}}}`
	if string(a.Requests[0].Body) != want {
		t.Errorf("body\n%s\nwant\n%s", a.Requests[0].Body, want)
	}
	var doc map[string]any
	if err := json.Unmarshal(a.Requests[0].Body, &doc); err != nil {
		t.Fatal(err)
	}

	// From a dump (no resourceVersion), a pinned step, an unpinned first step or a
	// pinned-object list entry without one make the action unsafe to apply.
	noRV := target("PersistentVolume", "", "pv-4")
	noRV.ResourceVersion = ""
	dep := deleteFix("delete-claim-and-pv", target("PersistentVolumeClaim", "ns", "c"))
	dep.Steps[0].ChangedByPrevious = true
	unpinned := patchFix("raise-claim-request", audit.Safe, target("PersistentVolumeClaim", "ns", "d"))
	unpinned.Unchanged = []audit.FixTarget{noRV}
	badType := patchFix("disable-expansion", audit.Safe, target("StorageClass", "", "x"))
	badType.Steps[0].Patch.Type = "json"
	for _, c := range []struct {
		fx  audit.Fix
		why string
	}{
		{patchFix("reserve-pv", audit.Safe, noRV), "did not record PersistentVolume/pv-4's UID and resourceVersion (a dump?)"},
		{dep, "first step depends on a step before it"},
		{unpinned, "did not record PersistentVolume/pv-4's UID"},
		{badType, `patch type "json" is not supported`},
		{audit.Fix{Action: "x", Safety: audit.Safe, Steps: []audit.FixStep{{Target: target("Pod", "a", "b")}}}, "neither one patch nor one delete"},
	} {
		a := NewPlan(report(finding("r", c.fx)), Policy{}, planNow).Actions[0]
		if a.Allowed || !strings.Contains(a.Why, c.why) {
			t.Errorf("%s: allowed %v, why %q; want %q", c.fx.Action, a.Allowed, a.Why, c.why)
		}
	}
}
