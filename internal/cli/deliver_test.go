package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/storage-auditor/auditor/pkg/audit"
)

func demoArgs(extra ...string) []string {
	return append([]string{"run", "--from-file", demo, "--now", demoNow}, extra...)
}

func decodeReport(t *testing.T, s string) *audit.Report {
	t.Helper()
	var rep audit.Report
	if err := json.Unmarshal([]byte(s), &rep); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, s)
	}
	return &rep
}

func TestStateFileMarksNewAndResolved(t *testing.T) {
	t.Setenv(envWebhookURL, "")
	state := filepath.Join(t.TempDir(), "state.json")
	code, out, stderr := run(t, "", demoArgs("-o", "json", "--state-file", state)...)
	if code != 0 {
		t.Fatalf("first run: exit %d: %s", code, stderr)
	}
	first := decodeReport(t, out)
	if first.Changes == nil || first.Changes.New != 14 || first.Changes.Resolved != 0 {
		t.Fatalf("first run changes = %+v, want 14 new", first.Changes)
	}
	for _, f := range first.Findings {
		if !f.New || f.FirstSeen == nil || f.Fingerprint == "" {
			t.Errorf("first run: %s on %s: new=%v firstSeen=%v fingerprint=%q", f.RuleID, f.Object, f.New, f.FirstSeen, f.Fingerprint)
		}
	}

	// The same cluster a day later: nothing new, first-seen kept.
	_, out, _ = run(t, "", "run", "--from-file", demo, "--now", "2026-11-21T09:30:00Z", "-o", "json", "--state-file", state)
	second := decodeReport(t, out)
	if second.Changes == nil || second.Changes.New != 0 || second.Changes.Resolved != 0 || len(second.Resolved) != 0 {
		t.Fatalf("second run changes = %+v resolved %d, want nothing new or resolved", second.Changes, len(second.Resolved))
	}
	for _, f := range second.Findings {
		if f.New || f.FirstSeen == nil || f.FirstSeen.Format("2006-01-02T15:04:05Z") != demoNow {
			t.Errorf("second run: %s on %s: new=%v firstSeen=%v, want not new and first seen at %s", f.RuleID, f.Object, f.New, f.FirstSeen, demoNow)
		}
	}

	// Rules that do not run resolve nothing: --rules runs one, the others are kept.
	_, out, _ = run(t, "", "run", "--from-file", demo, "--now", "2026-11-21T10:00:00Z", "-o", "json", "--state-file", state, "--rules", "pv-released-retained")
	if third := decodeReport(t, out); third.Changes == nil || third.Changes.Resolved != 0 {
		t.Fatalf("run of one rule: changes %+v, want nothing resolved", third.Changes)
	}

	// A finding the report no longer holds reads as resolved (README: one state per filter set).
	_, out, _ = run(t, "", "run", "--from-file", demo, "--now", "2026-11-21T11:00:00Z", "-o", "json", "--state-file", state, "--min-severity", "critical")
	fourth := decodeReport(t, out)
	if fourth.Changes == nil || fourth.Changes.Resolved != 9 || len(fourth.Resolved) != 9 {
		t.Fatalf("critical-only run: changes %+v, %d resolved, want the 9 warnings resolved", fourth.Changes, len(fourth.Resolved))
	}
}

func TestCorruptStateFileKeepsTheReport(t *testing.T) {
	state := write(t, t.TempDir(), "state.json", "{not json")
	code, out, stderr := run(t, "", demoArgs("-o", "json", "--state-file", state)...)
	if code != 0 {
		t.Fatalf("exit %d, want 0: a state problem must not fail the audit: %s", code, stderr)
	}
	if rep := decodeReport(t, out); len(rep.Findings) != 14 || rep.Changes != nil {
		t.Errorf("report: %d findings, changes %+v; want the 14 findings without a comparison", len(rep.Findings), rep.Changes)
	}
	if !strings.Contains(stderr, "warning: run-to-run state not kept") || !strings.Contains(stderr, state) {
		t.Errorf("stderr does not warn about the state file: %q", stderr)
	}
	if b, _ := os.ReadFile(state); string(b) != "{not json" {
		t.Error("the corrupt state file was overwritten")
	}
}

func TestOutputFileAndMarkdown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.md")
	code, out, stderr := run(t, "", demoArgs("-o", "markdown", "--output-file", path)...)
	if code != 0 || out != "" {
		t.Fatalf("exit %d, stdout %q, stderr %s: want the report in the file only", code, out, stderr)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"# Storage audit", "node-attach-limit", "## Storage cost", "371.96 USD"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown report lacks %q", want)
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	code, _, stderr = run(t, "", demoArgs("--output-file", filepath.Join(dir, "missing", "r.json"))...)
	if code != ExitError || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "--output-file") {
		t.Errorf("unwritable --output-file: exit %d, stderr %q; want exit 2 and one line", code, stderr)
	}
}

func TestSlackFailureKeepsReportAndExits4(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no_service", http.StatusNotFound)
	}))
	defer srv.Close()
	const secret = "T000/B000/sEcReTpath"
	t.Setenv(envWebhookURL, srv.URL+"/services/"+secret)
	code, out, stderr := run(t, "", demoArgs("-o", "json", "--fail-on", "warning")...)
	if code != ExitNotify {
		t.Fatalf("exit %d, want %d (notification failed): %s", code, ExitNotify, stderr)
	}
	if rep := decodeReport(t, out); len(rep.Findings) != 14 {
		t.Errorf("the report was not written in full: %d findings", len(rep.Findings))
	}
	if calls.Load() != 1 {
		t.Errorf("%d posts, want 1: a 404 is not retried", calls.Load())
	}
	if strings.Contains(stderr, "sEcReT") || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "Slack webhook") {
		t.Errorf("stderr = %q; want one line naming the Slack webhook and not the secret", stderr)
	}
}

func TestSlackPostsDigestAfterTheReport(t *testing.T) {
	var body atomic.Value
	var reportWritten atomic.Bool
	reportPath := filepath.Join(t.TempDir(), "report.json")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		body.Store(string(b))
		_, err := os.Stat(reportPath)
		reportWritten.Store(err == nil)
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	t.Setenv(envWebhookURL, srv.URL+"/services/T/B/x")
	code, _, stderr := run(t, "", demoArgs("-o", "json", "--output-file", reportPath, "--slack-min-severity", "critical")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !reportWritten.Load() {
		t.Error("the digest was posted before the report was written")
	}
	digest, _ := body.Load().(string)
	// A report that cannot be written is not announced, and nothing is recorded.
	statePath := filepath.Join(t.TempDir(), "state.json")
	body.Store("")
	code, _, _ = run(t, "", demoArgs("--output-file", filepath.Join(t.TempDir(), "no", "dir", "r.json"), "--state-file", statePath)...)
	if got, _ := body.Load().(string); code != ExitError || got != "" {
		t.Errorf("unwritable report: exit %d, posted %d bytes; want exit 2 and no post", code, len(got))
	}
	if _, err := os.Stat(statePath); err == nil {
		t.Error("unwritable report: the state was recorded anyway")
	}
	got := digest
	for _, want := range []string{"incident-cluster.yaml", "node-attach-limit", "Storage cost", "Confirm the machine is gone"} {
		if !strings.Contains(got, want) {
			t.Errorf("digest lacks %q", want)
		}
	}
	if strings.Contains(got, "pv-released-retained") {
		t.Error("--slack-min-severity critical: the digest lists a warning rule")
	}
}

func TestDeliveryUsageErrors(t *testing.T) {
	t.Setenv(envWebhookURL, "")
	t.Setenv(envBotToken, "")
	dir := t.TempDir()
	unsetEnv := write(t, dir, "unset.yaml", "slack:\n  webhookURLEnv: AUDITOR_TEST_UNSET_WEBHOOK\n")
	cases := []struct {
		args []string
		want string
	}{
		{demoArgs("--slack-only-changes", "--slack-webhook-url", "https://hooks.slack.com/services/T/B/x"), "--slack-only-changes needs run-to-run state"},
		{demoArgs("--slack-channel", "#storage"), "needs a bot token in $SLACK_BOT_TOKEN"},
		{demoArgs("--slack-min-severity", "critical"), "no destination"},
		{demoArgs("--config", unsetEnv), "AUDITOR_TEST_UNSET_WEBHOOK, which is not set"},
		{demoArgs("--slack-webhook-url", "http://example.com/hook"), "Slack webhook from --slack-webhook-url"},
		{demoArgs("--state-configmap", "auditor-state"), "--state-configmap needs a live cluster"},
		{demoArgs("--state-file", "a", "--state-configmap", "b"), "choose one place"},
		{[]string{"serve", "--from-file", demo, "--schedule", "every day"}, "--schedule"},
		{[]string{"serve", "--from-file", demo, "--time-zone", "Mars/Olympus"}, "--time-zone"},
		{[]string{"serve", "--from-file", "-"}, "cannot re-read stdin"},
		{[]string{"cost", "--from-file", demo, "-o", "pdf"}, "-o:"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, "", c.args...)
		if code != ExitError || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") > 2 {
			t.Errorf("auditor %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(c.args, " "), code, stderr, c.want)
		}
	}
}

func TestCostCommand(t *testing.T) {
	code, out, stderr := run(t, "", "cost", "--from-file", demo, "--now", demoNow, "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var doc struct {
		Kind string
		Cost audit.Cost
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Kind != "CostReport" || doc.Cost.Monthly["USD"] != 371.96 || doc.Cost.Waste["USD"] != 135.17 || doc.Cost.Unpriced != 1 {
		t.Errorf("cost = %s %+v, want CostReport, 371.96 USD monthly, 135.17 USD waste, 1 unpriced", doc.Kind, doc.Cost)
	}
	_, table, _ := run(t, "", "cost", "--from-file", demo, "--now", demoNow)
	if !strings.HasPrefix(table, "Storage cost: 371.96 USD a month") || strings.Contains(table, "SEVERITY") {
		t.Errorf("cost table should hold only the cost section:\n%s", table)
	}
}

func TestSlackTLSFailureSaysWhatToDo(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake failure is the point
	srv.StartTLS()
	defer srv.Close()
	t.Setenv(envWebhookURL, srv.URL+"/services/T/B/sEcReT")
	code, _, stderr := run(t, "", demoArgs("-o", "json")...)
	if code != ExitNotify || !strings.Contains(stderr, "TLS connection to Slack failed") || strings.Contains(stderr, "sEcReT") {
		t.Errorf("exit %d, stderr %q; want exit 4 with the TLS hint and no secret", code, stderr)
	}
	if strings.Count(stderr, "Slack webhook") != 1 {
		t.Errorf("the error repeats itself: %q", stderr)
	}
}
