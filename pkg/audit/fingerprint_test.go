package audit

import "testing"

func TestMakeFingerprint(t *testing.T) {
	base := Finding{RuleID: "pvc-expansion-ignored", Severity: Warning,
		Object:  ObjectRef{Kind: "PersistentVolumeClaim", Namespace: "db", Name: "data-0", UID: "u1"},
		Message: "waiting for 2d", Fact: "20Gi"}
	fp := MakeFingerprint(base)
	if len(fp) != 16 {
		t.Fatalf("fingerprint %q: want 16 hex digits", fp)
	}
	same := []func(*Finding){
		func(f *Finding) { f.Message = "waiting for 3d" },
		func(f *Finding) { f.Severity = Critical },
		func(f *Finding) { f.Details = map[string]string{"age": "3d"} },
	}
	for i, change := range same {
		f := base
		change(&f)
		if got := MakeFingerprint(f); got != fp {
			t.Errorf("change %d altered the fingerprint: an open problem would look new", i)
		}
	}
	differ := map[string]func(*Finding){
		"rule":            func(f *Finding) { f.RuleID = "pvc-resize-stuck" },
		"re-created":      func(f *Finding) { f.Object.UID = "u2" },
		"fact":            func(f *Finding) { f.Fact = "30Gi" },
		"no UID, by name": func(f *Finding) { f.Object.UID = "" },
	}
	for name, change := range differ {
		f := base
		change(&f)
		if MakeFingerprint(f) == fp {
			t.Errorf("%s: fingerprint unchanged", name)
		}
	}
	a, b := base, base
	a.Object.UID, b.Object.UID = "", ""
	b.Object.Name = "data-1"
	if MakeFingerprint(a) == MakeFingerprint(b) {
		t.Error("objects without UID are told apart by name")
	}
}
