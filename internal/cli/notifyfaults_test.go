package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The secrets of the notification-fault tests: a webhook key and a bot token that must
// never show in anything the auditor writes.
const (
	faultWebhookKey = "nOtIfYfAuLtKeY9f3a"
	faultBotToken   = "xoxb-4242-nOtIfYfAuLtToKeN"
)

// faultySlack is a Slack (incoming webhook or Web API) that answers as its script says;
// it counts the requests and keeps their bodies.
type faultySlack struct {
	srv    *httptest.Server
	answer func(n int, w http.ResponseWriter, r *http.Request) // n counts from 1
	stop   chan struct{}                                       // releases hanging answers

	mu     sync.Mutex
	bodies []string
	paths  []string
}

func newFaultySlack(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *faultySlack {
	f := &faultySlack{answer: answer, stop: make(chan struct{})}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.paths = append(f.paths, r.URL.Path)
		n := len(f.bodies)
		f.mu.Unlock()
		f.answer(n, w, r)
	}))
	t.Cleanup(func() {
		close(f.stop)
		f.srv.Close()
	})
	return f
}

func (f *faultySlack) requests() (paths, bodies []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...), append([]string(nil), f.bodies...)
}

// The answers of a failing Slack.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { http.Error(w, http.StatusText(code), code) }
}

func rateLimited(_ int, w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, "rate_limited", http.StatusTooManyRequests)
}

func (f *faultySlack) hang(_ int, _ http.ResponseWriter, r *http.Request) {
	select { // until the client gives up (slack.timeout) or the test ends
	case <-r.Context().Done():
	case <-f.stop:
	}
}

func failTwiceThenOK(n int, w http.ResponseWriter, _ *http.Request) {
	if n <= 2 {
		http.Error(w, "upstream connect error", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprint(w, "ok")
}

func invalidAuth(_ int, w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprint(w, `{"ok":false,"error":"invalid_auth"}`)
}

// retryLineRE is the line run prints for each retried post.
var retryLineRE = regexp.MustCompile(`^warning: Slack: (posting the digest|posting the digest to #storage) failed \(.+\); retrying in (\S+) \(attempt (\d+) of (\d+)\)$`)

// TestNotificationFaults drives `auditor run` on the demo dump against a Slack that
// fails as Slack does (a 429 storm, 5xx, no answer, a rejected token, failures that
// end): the number of requests is the configured slack.attempts, the waits are the ones
// Retry-After and the back-off ask for (read from the retry lines), the full report and
// the state are written all the same, the exit code is 4 unless the post got through,
// and stderr holds one line per retry and failure with neither the webhook key nor the
// token. A failing Slack in serve fails each run's notification and nothing else.
func TestNotificationFaults(t *testing.T) {
	t.Setenv(envWebhookURL, "")
	t.Setenv(envBotToken, "")
	t.Setenv("NOTIFY_FAULTS_BOT_TOKEN", faultBotToken)

	cases := []struct {
		name   string
		answer func(f *faultySlack) func(int, http.ResponseWriter, *http.Request)
		bot    bool   // post with the bot token (else the webhook)
		slack  string // slack.timeout and slack.attempts
		file   bool   // --output-file (else stdout)
		failOn string
		code   int
		// requests is how many the auditor sends; waits the waits of its retry lines.
		requests int
		waits    []string
		hint     string // in the error line; "" when the post got through
	}{
		{name: "429 storm", answer: func(*faultySlack) func(int, http.ResponseWriter, *http.Request) { return rateLimited },
			slack: "  attempts: 3\n", file: true, code: ExitNotify, requests: 3, waits: []string{"1s", "1s"}, hint: "Slack kept rate-limiting the posts"},
		{name: "500 forever", answer: func(*faultySlack) func(int, http.ResponseWriter, *http.Request) { return status(500) },
			slack: "  attempts: 3\n", failOn: "warning", code: ExitNotify, requests: 3, waits: []string{"1s", "2s"}, hint: "Slack's servers are failing"},
		{name: "503 forever, bot", answer: func(*faultySlack) func(int, http.ResponseWriter, *http.Request) { return status(503) },
			bot: true, slack: "  attempts: 2\n  attach: json\n", file: true, code: ExitNotify, requests: 2, waits: []string{"1s"}, hint: "Slack's servers are failing"},
		{name: "no answer", answer: func(f *faultySlack) func(int, http.ResponseWriter, *http.Request) { return f.hang },
			slack: "  timeout: 300ms\n  attempts: 2\n", code: ExitNotify, requests: 2, waits: []string{"1s"}, hint: "Slack did not answer in time"},
		{name: "token rejected, bot", answer: func(*faultySlack) func(int, http.ResponseWriter, *http.Request) { return invalidAuth },
			bot: true, slack: "  attempts: 4\n", code: ExitNotify, requests: 1, hint: "Slack does not accept the bot token (invalid_auth)"},
		{name: "fails twice then posts", answer: func(*faultySlack) func(int, http.ResponseWriter, *http.Request) { return failTwiceThenOK },
			slack: "  attempts: 4\n", failOn: "critical", code: ExitFindings, requests: 3, waits: []string{"1s", "2s"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			var f *faultySlack
			f = newFaultySlack(t, func(n int, w http.ResponseWriter, r *http.Request) { c.answer(f)(n, w, r) })
			cfg := "slack:\n"
			if c.bot {
				cfg += "  botTokenEnv: NOTIFY_FAULTS_BOT_TOKEN\n  channel: '#storage'\n  apiURL: " + f.srv.URL + "/api/\n"
			} else {
				// One variable per case: the subtests run in parallel.
				env := "NOTIFY_FAULTS_WEBHOOK_" + strings.ToUpper(regexp.MustCompile(`\W+`).ReplaceAllString(c.name, "_"))
				if err := os.Setenv(env, f.srv.URL+"/services/T0AAA/B0BBB/"+faultWebhookKey); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Unsetenv(env) })
				cfg += "  webhookURLEnv: " + env + "\n"
			}
			cfgPath := write(t, dir, "auditor.yaml", cfg+c.slack)
			statePath := filepath.Join(dir, "state.json")
			reportPath := filepath.Join(dir, "report.json")
			args := demoArgs("-o", "json", "--config", cfgPath, "--state-file", statePath)
			if c.file {
				args = append(args, "--output-file", reportPath)
			}
			if c.failOn != "" {
				args = append(args, "--fail-on", c.failOn)
			}
			code, stdout, stderr := run(t, "", args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, stderr)
			}

			// The full report, where it was asked for.
			doc := stdout
			if c.file {
				b, err := os.ReadFile(reportPath)
				if err != nil {
					t.Fatalf("no report file: %v", err)
				}
				if stdout != "" {
					t.Errorf("--output-file: stdout holds %q", stdout)
				}
				doc = string(b)
			}
			rep := decodeReport(t, doc)
			if len(rep.Findings) != 14 || rep.Changes == nil || rep.Changes.New != 14 {
				t.Errorf("report: %d findings, changes %+v; want the 14 findings, all new", len(rep.Findings), rep.Changes)
			}

			// Bounded: as many requests as slack.attempts allows (or until one succeeds).
			paths, bodies := f.requests()
			if len(paths) != c.requests {
				t.Errorf("%d requests to Slack (%v), want %d", len(paths), paths, c.requests)
			}
			if c.hint == "" && (len(bodies) == 0 || !strings.Contains(bodies[len(bodies)-1], "incident-cluster.yaml")) {
				t.Errorf("the last request does not carry the digest")
			}

			// stderr: one line per retry, with the wait Retry-After or the back-off asked
			// for, then one line for the failure.
			lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
			if stderr == "" {
				lines = nil
			}
			want := len(c.waits)
			if c.hint != "" {
				want++
			}
			if len(lines) != want {
				t.Fatalf("stderr has %d lines, want %d (one per retry and failure):\n%s", len(lines), want, stderr)
			}
			var waits []string
			for i, l := range lines[:len(c.waits)] {
				m := retryLineRE.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("not a retry line: %q", l)
					continue
				}
				waits = append(waits, m[2])
				if m[3] != fmt.Sprint(i+2) || m[4] != fmt.Sprint(requestsAllowed(c.slack)) {
					t.Errorf("retry line %q: want attempt %d of %d", l, i+2, requestsAllowed(c.slack))
				}
			}
			if fmt.Sprint(waits) != fmt.Sprint(c.waits) {
				t.Errorf("waits %v, want %v", waits, c.waits)
			}
			if c.hint != "" {
				last := lines[len(lines)-1]
				via := "webhook"
				if c.bot {
					via = "bot"
				}
				if !strings.HasPrefix(last, "error: Slack "+via+": posting the digest") || !strings.Contains(last, c.hint) {
					t.Errorf("error line %q, want the Slack %s failure with %q", last, via, c.hint)
				}
				if c.requests > 1 && !strings.Contains(last, fmt.Sprintf("after %d attempts", c.requests)) {
					t.Errorf("error line %q does not say how often it tried", last)
				}
			}

			// No secret in anything written, nor in what Slack received but the header.
			state, err := os.ReadFile(statePath)
			if err != nil {
				t.Fatalf("the state was not saved: %v", err)
			}
			outputs := map[string]string{"stdout": stdout, "stderr": stderr, "report": doc, "state file": string(state)}
			for i, b := range bodies {
				outputs[fmt.Sprintf("request %d body", i+1)] = b
			}
			for what, s := range outputs {
				for _, secret := range []string{faultWebhookKey, faultBotToken, "4242-nOtIfYfAuLtToKeN"} {
					if strings.Contains(s, secret) {
						t.Errorf("%s holds a secret (%s…)", what, secret[:6])
					}
				}
			}

			// The next run compares with the saved state: nothing new, nothing resolved,
			// first seen at the failed run.
			code, stdout, stderr = run(t, "", "run", "--from-file", demo, "--now", "2026-11-21T09:30:00Z", "-o", "json", "--state-file", statePath)
			if code != ExitOK {
				t.Fatalf("next run: exit %d: %s", code, stderr)
			}
			next := decodeReport(t, stdout)
			if next.Changes == nil || next.Changes.New != 0 || next.Changes.Resolved != 0 {
				t.Errorf("next run: changes %+v, want nothing new or resolved", next.Changes)
			}
			for _, fd := range next.Findings {
				if fd.New || fd.FirstSeen == nil || fd.FirstSeen.UTC().Format(time.RFC3339) != demoNow {
					t.Errorf("next run: %s on %s: new=%v firstSeen=%v, want first seen at %s", fd.RuleID, fd.Object, fd.New, fd.FirstSeen, demoNow)
				}
			}
		})
	}

	t.Run("serve keeps its schedule", func(t *testing.T) {
		t.Parallel()
		serveWithFailingSlack(t)
	})
}

// requestsAllowed reads slack.attempts from a case's config lines.
func requestsAllowed(slackKeys string) int {
	var n int
	if m := regexp.MustCompile(`attempts: (\d+)`).FindStringSubmatch(slackKeys); m != nil {
		fmt.Sscan(m[1], &n)
	}
	return n
}

// syncBuffer is a bytes.Buffer that serve's goroutines may write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serveWithFailingSlack runs `auditor serve` every second against a Slack answering 500:
// every run completes, logs its retry and its failed notification, and is counted in
// /metrics as a successful run with a failed notification; the schedule goes on.
func serveWithFailingSlack(t *testing.T) {
	f := newFaultySlack(t, status(http.StatusInternalServerError))
	dir := t.TempDir()
	env := "NOTIFY_FAULTS_WEBHOOK_SERVE"
	if err := os.Setenv(env, f.srv.URL+"/services/T0AAA/B0BBB/"+faultWebhookKey); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Unsetenv(env) })
	cfg := write(t, dir, "auditor.yaml", "slack:\n  webhookURLEnv: "+env+"\n  attempts: 2\n  timeout: 5s\n")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	root := newRoot(strings.NewReader(""), io.Discard, &logs)
	root.SetArgs([]string{"serve", "--from-file", demo, "--now", demoNow, "--config", cfg,
		"--schedule", "@every 1s", "--listen", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()

	// Three runs, each with a failed notification, then the server is still up.
	deadline := time.Now().Add(time.Minute)
	for strings.Count(logs.String(), `msg="notification failed"`) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than 3 failed notifications within a minute; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	log := logs.String()
	addr := regexp.MustCompile(`msg=serving addr=(\S+)`).FindStringSubmatch(log)
	if addr == nil {
		t.Fatalf("no listen address in the log:\n%s", log)
	}
	resp, err := http.Get("http://" + addr[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	value := func(name string) float64 {
		mf := families[name]
		if mf == nil || len(mf.GetMetric()) == 0 {
			t.Fatalf("/metrics lacks %s", name)
		}
		m := mf.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if n := value("storage_auditor_notification_failures_total"); n < 3 {
		t.Errorf("storage_auditor_notification_failures_total = %v, want at least 3", n)
	}
	if v := value("storage_auditor_last_run_success"); v != 1 {
		t.Errorf("storage_auditor_last_run_success = %v, want 1: a failed notification is not a failed audit", v)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve returned %v after cancel, want nil", err)
	}
	log = logs.String()
	runs, failed, retries := strings.Count(log, `msg="run done"`), strings.Count(log, `msg="notification failed"`), strings.Count(log, "retrying in 1s (attempt 2 of 2)")
	if runs < 3 || failed > runs || retries < failed {
		t.Errorf("%d runs done, %d failed notifications, %d retries logged: want every run done, each failure retried once", runs, failed, retries)
	}
	if paths, _ := f.requests(); len(paths) < 2*failed {
		t.Errorf("%d requests for %d failed notifications of 2 attempts each", len(paths), failed)
	}
	if strings.Contains(log, faultWebhookKey) {
		t.Error("the serve log holds the webhook key")
	}
}
