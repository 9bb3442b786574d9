package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

const (
	webhookPath = "/services/T0AUDIT/B0AUDIT/wh-s3cr3t-path-XYZ"
	webhookKey  = "wh-s3cr3t-path-XYZ"
	botToken    = "xoxb-1234-5678-t0k3n-s3cr3t"
)

// recorder stands in for the clock and the log: it records each wait instead of sleeping,
// and each log line.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
	logs  []string
}

func (r *recorder) sleep(_ context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.waits = append(r.waits, d)
	return nil
}

func (r *recorder) logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

func (r *recorder) options(client *http.Client) []Option {
	return []Option{WithRetry(Retry{Sleep: r.sleep}), WithLogf(r.logf), WithHTTPClient(client)}
}

// noSecrets fails when an error or log line holds the webhook URL's secret path or the
// token, in part or whole.
func noSecrets(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		for _, secret := range []string{webhookKey, "B0AUDIT/wh-", "t0k3n-s3cr3t"} {
			if strings.Contains(s, secret) {
				t.Errorf("leaked %q in %q", secret, s)
			}
		}
	}
}

// errorTexts is everything a caller could print of err: its message and its Go syntax
// representation, down the whole chain.
func errorTexts(err error) []string {
	var out []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		out = append(out, e.Error(), fmt.Sprintf("%#v", e))
	}
	return out
}

// hang answers nothing until the client gives up (or the test ends).
func hang(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func TestWebhook(t *testing.T) {
	// Each case scripts the server's answers, one per request (the last one repeats).
	type answer struct {
		status     int
		retryAfter string
		body       string
	}
	ok := answer{200, "", "ok"}
	cases := []struct {
		name      string
		answers   []answer
		hang      bool
		requests  int
		waits     []time.Duration
		wantErr   string // substring of the error; "" for success
		wantHint  string
		isTimeout bool
	}{
		{name: "posted", answers: []answer{ok}, requests: 1},
		{name: "429 then 200 waits Retry-After", answers: []answer{{429, "1", "rate_limited"}, ok}, requests: 2, waits: []time.Duration{time.Second}},
		{name: "Retry-After is capped", answers: []answer{{429, "3600", "rate_limited"}, ok}, requests: 2, waits: []time.Duration{time.Minute}},
		{name: "429 without Retry-After backs off", answers: []answer{{429, "", ""}, {429, "", ""}, ok}, requests: 3, waits: []time.Duration{time.Second, 2 * time.Second}},
		{name: "503 then 200", answers: []answer{{503, "", ""}, ok}, requests: 2, waits: []time.Duration{time.Second}},
		{name: "500 until the attempts run out", answers: []answer{{500, "", "oops"}}, requests: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, wantErr: "after 4 attempts: slack server error: 500 Internal Server Error", wantHint: "Slack's servers are failing"},
		{name: "rate limited until the attempts run out", answers: []answer{{429, "2", ""}}, requests: 4,
			waits: []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}, wantErr: "rate limit exceeded", wantHint: "post less often"},
		{name: "404 fails at once", answers: []answer{{404, "", "no_service"}}, requests: 1, wantErr: "404 Not Found", wantHint: "create a new incoming webhook"},
		{name: "403 fails at once", answers: []answer{{403, "", "action_prohibited"}}, requests: 1, wantErr: "403 Forbidden", wantHint: "check the app"},
		{name: "410 fails at once", answers: []answer{{410, "", "channel_is_archived"}}, requests: 1, wantErr: "410 Gone", wantHint: "archived"},
		{name: "400 fails at once", answers: []answer{{400, "", "invalid_payload"}}, requests: 1, wantErr: "400 Bad Request", wantHint: "bug"},
		{name: "a hanging server times out, retried", hang: true, requests: 4,
			waits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, wantErr: "Client.Timeout exceeded", wantHint: "did not answer in time", isTimeout: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies [][]byte
			var paths []string
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				n := len(bodies)
				bodies = append(bodies, b)
				paths = append(paths, r.URL.Path)
				mu.Unlock()
				if c.hang {
					hang(release)(w, r)
					return
				}
				a := c.answers[min(n, len(c.answers)-1)]
				if a.retryAfter != "" {
					w.Header().Set("Retry-After", a.retryAfter)
				}
				w.WriteHeader(a.status)
				_, _ = io.WriteString(w, a.body)
			}))
			var once sync.Once
			stop := func() { once.Do(func() { close(release) }); srv.Close() }
			t.Cleanup(stop)

			rec := &recorder{}
			client := &http.Client{Timeout: 10 * time.Second}
			if c.hang {
				client.Timeout = 200 * time.Millisecond
			}
			wh, err := NewWebhook(srv.URL+webhookPath, append(rec.options(client), WithDigest(DigestOptions{Version: "v0.4.0"}))...)
			if err != nil {
				t.Fatal(err)
			}
			err = wh.Send(context.Background(), changesReport())
			noSecrets(t, rec.logs...)
			noSecrets(t, errorTexts(err)...)
			// Count what the server saw once every handler has returned.
			stop()
			mu.Lock()
			defer mu.Unlock()

			if len(bodies) != c.requests {
				t.Errorf("%d requests, want %d", len(bodies), c.requests)
			}
			for _, p := range paths {
				if p != webhookPath {
					t.Errorf("posted to %s, want the webhook path", p)
				}
			}
			if fmt.Sprint(rec.waits) != fmt.Sprint(c.waits) {
				t.Errorf("waited %v, want %v", rec.waits, c.waits)
			}
			if len(rec.logs) != len(c.waits) {
				t.Errorf("%d retry log lines for %d waits: %q", len(rec.logs), len(c.waits), rec.logs)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				for _, b := range bodies {
					checkLimits(t, b)
				}
				return
			}
			var ne *Error
			if !errors.As(err, &ne) {
				t.Fatalf("Send returned %T %v, want *Error", err, err)
			}
			if ne.Via != "webhook" || ne.Attempts != c.requests {
				t.Errorf("error via %q after %d attempts, want webhook after %d", ne.Via, ne.Attempts, c.requests)
			}
			if !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(ne.Hint, c.wantHint) {
				t.Errorf("error %q\nwant it to contain %q and the hint %q", err, c.wantErr, c.wantHint)
			}
			if c.isTimeout {
				var ue *url.Error
				if !errors.As(err, &ue) || !ue.Timeout() {
					t.Errorf("a timeout should still be a *url.Error with Timeout(): %#v", err)
				} else if !strings.Contains(ue.URL, "[redacted]") {
					t.Errorf("url.Error URL not redacted: %q", ue.URL)
				}
			}
		})
	}
}

// TestWebhookGolden is the Block Kit payload the demo dump posts.
func TestWebhookGolden(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	wh, err := NewWebhook(srv.URL+webhookPath, WithDigest(DigestOptions{Rules: demoRules(), Version: "v0.4.0"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Send(context.Background(), demoReport(t)); err != nil {
		t.Fatal(err)
	}
	srv.Close() // waits for the handler
	checkLimits(t, got)
	var indented bytes.Buffer
	if err := json.Indent(&indented, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "demo-webhook.json", indented.String()+"\n")
}

func TestWebhookOnlyChangesPostsNothingWhenNothingChanged(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1) }))
	defer srv.Close()
	rep := audit.NewReport("c", demoNow)
	rep.Changes = &audit.Changes{Since: demoNow.Add(-time.Hour)}
	wh, err := NewWebhook(srv.URL+webhookPath, WithDigest(DigestOptions{OnlyChanges: true}))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Send(context.Background(), rep); err != nil || requests.Load() != 0 {
		t.Errorf("Send = %v with %d requests, want nil and none", err, requests.Load())
	}
}

func TestWebhookUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close() // nothing listens there any more: connection refused
	rec := &recorder{}
	wh, err := NewWebhook(addr+webhookPath, rec.options(&http.Client{Timeout: time.Second})...)
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(context.Background(), changesReport())
	var ne *Error
	if !errors.As(err, &ne) || ne.Attempts != 4 || !strings.Contains(ne.Hint, "could not reach Slack") {
		t.Fatalf("Send = %v, want an *Error after 4 attempts saying Slack could not be reached", err)
	}
	noSecrets(t, errorTexts(err)...)
	noSecrets(t, rec.logs...)
}

func TestNewWebhookRejectsBadURLs(t *testing.T) {
	for _, u := range []string{
		"", "hooks.slack.com/services/T/B/" + webhookKey, "http://hooks.slack.com/services/T/B/" + webhookKey,
		"ftp://hooks.slack.com/x/" + webhookKey, "https://", "::" + webhookKey,
	} {
		_, err := NewWebhook(u)
		if err == nil {
			t.Errorf("NewWebhook(%q) accepted it", u)
			continue
		}
		noSecrets(t, errorTexts(err)...)
	}
	for _, opt := range []Option{WithAttachReport(true), WithAttachment(report.HTML, report.Options{}), WithAttachment(report.JSON, report.Options{})} {
		if _, err := NewWebhook("https://hooks.slack.com/services/T/B/"+webhookKey, opt); err == nil || !strings.Contains(err.Error(), "needs a bot token") {
			t.Errorf("a webhook cannot attach the report, got %v", err)
		}
	}
	if _, err := NewWebhook("https://hooks.slack.com/services/T/B/"+webhookKey, WithAttachment("", report.Options{})); err != nil {
		t.Errorf("no attachment: %v", err)
	}
}

// slackAPI is a fake Slack Web API: chat.postMessage answers with the scripted API error
// (or ok), and the three calls of slack-go's file upload (v2) are implemented as slack-go
// makes them.
type slackAPI struct {
	t         *testing.T
	srv       *httptest.Server
	postError string // "" answers ok
	mu        sync.Mutex
	calls     []string
	post      url.Values
	getURL    url.Values
	uploaded  []byte
	complete  url.Values
}

func newSlackAPI(t *testing.T, postError string) *slackAPI {
	a := &slackAPI{t: t, postError: postError}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *slackAPI) serve(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	reply := func(v any) { _ = json.NewEncoder(w).Encode(v) }
	if strings.HasPrefix(r.URL.Path, "/api/") {
		// The token travels in the Authorization header only, never in a body.
		_ = r.ParseForm()
		if r.PostForm.Has("token") || r.URL.Query().Has("token") {
			a.t.Errorf("%s: the bot token is in the request body or URL", r.URL.Path)
		}
	}
	switch r.URL.Path {
	case "/api/chat.postMessage":
		a.post = r.PostForm
		if r.Header.Get("Authorization") != "Bearer "+botToken {
			reply(map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		if a.postError != "" {
			reply(map[string]any{"ok": false, "error": a.postError})
			return
		}
		reply(map[string]any{"ok": true, "channel": "C0STORAGE", "ts": "1763631000.000100"})
	case "/api/files.getUploadURLExternal":
		_ = r.ParseForm()
		a.getURL = r.PostForm
		reply(map[string]any{"ok": true, "upload_url": a.srv.URL + "/upload/F0REPORT", "file_id": "F0REPORT"})
	case "/upload/F0REPORT":
		if got := r.Header.Get("Authorization"); got != "Bearer "+botToken {
			a.t.Errorf("upload Authorization %q", got)
		}
		f, _, err := r.FormFile("file")
		if err != nil {
			a.t.Errorf("upload: %v", err)
			w.WriteHeader(400)
			return
		}
		a.uploaded, _ = io.ReadAll(f)
		_, _ = io.WriteString(w, "OK - 123")
	case "/api/files.completeUploadExternal":
		_ = r.ParseForm()
		a.complete = r.PostForm
		reply(map[string]any{"ok": true, "files": []map[string]string{{"id": "F0REPORT", "title": "report"}}})
	default:
		w.WriteHeader(404)
	}
}

func TestBot(t *testing.T) {
	cases := []struct {
		name      string
		token     string
		postError string
		wantCalls []string
		wantErr   string
		wantHint  string
	}{
		{name: "posted", token: botToken, wantCalls: []string{"/api/chat.postMessage"}},
		{name: "invalid_auth fails at once", token: botToken + "-wrong", wantCalls: []string{"/api/chat.postMessage"}, wantErr: "invalid_auth", wantHint: "check SLACK_BOT_TOKEN"},
		{name: "token_revoked fails at once", token: botToken, postError: "token_revoked", wantCalls: []string{"/api/chat.postMessage"}, wantErr: "token_revoked", wantHint: "check SLACK_BOT_TOKEN"},
		{name: "channel_not_found fails at once", token: botToken, postError: "channel_not_found", wantCalls: []string{"/api/chat.postMessage"}, wantErr: "channel_not_found", wantHint: "check --slack-channel"},
		{name: "not_in_channel fails at once", token: botToken, postError: "not_in_channel", wantCalls: []string{"/api/chat.postMessage"}, wantErr: "not_in_channel", wantHint: "invite the bot to #storage-alerts"},
		{name: "missing_scope fails at once", token: botToken, postError: "missing_scope", wantCalls: []string{"/api/chat.postMessage"}, wantErr: "missing_scope", wantHint: "lacks the chat:write scope"},
		{name: "internal_error is retried", token: botToken, postError: "internal_error", wantCalls: []string{"/api/chat.postMessage", "/api/chat.postMessage", "/api/chat.postMessage", "/api/chat.postMessage"}, wantErr: "after 4 attempts: internal_error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			api := newSlackAPI(t, c.postError)
			rec := &recorder{}
			bot, err := NewBot(c.token, "#storage-alerts", append(rec.options(&http.Client{Timeout: 5 * time.Second}), WithAPIURL(api.srv.URL+"/api"))...)
			if err != nil {
				t.Fatal(err)
			}
			err = bot.Send(context.Background(), changesReport())
			noSecrets(t, rec.logs...)
			noSecrets(t, errorTexts(err)...)
			api.srv.Close() // waits for the handlers
			if fmt.Sprint(api.calls) != fmt.Sprint(c.wantCalls) {
				t.Errorf("calls %v, want %v", api.calls, c.wantCalls)
			}
			if api.post.Get("channel") != "#storage-alerts" {
				t.Errorf("posted to channel %q", api.post.Get("channel"))
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				msg := fmt.Sprintf(`{"text":%q,"blocks":%s}`, api.post.Get("text"), api.post.Get("blocks"))
				checkLimits(t, []byte(msg))
				return
			}
			var ne *Error
			if !errors.As(err, &ne) || ne.Via != "bot" {
				t.Fatalf("Send returned %v, want a bot *Error", err)
			}
			if !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(ne.Hint, c.wantHint) {
				t.Errorf("error %q\nwant it to contain %q and the hint %q", err, c.wantErr, c.wantHint)
			}
		})
	}
}

// uploadThroughBot posts the changes report's digest with a bot made with attach and
// checks the upload: the four calls in order, the file named and typed ext, its announced
// length. It returns the fake API, holding what was uploaded, and the report.
func uploadThroughBot(t *testing.T, attach Option, ext string) (*slackAPI, *audit.Report) {
	t.Helper()
	api := newSlackAPI(t, "")
	bot, err := NewBot(botToken, "#storage-alerts", WithAPIURL(api.srv.URL+"/api/"), attach)
	if err != nil {
		t.Fatal(err)
	}
	rep := changesReport()
	if err := bot.Send(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	api.srv.Close() // waits for the handlers
	want := []string{"/api/chat.postMessage", "/api/files.getUploadURLExternal", "/upload/F0REPORT", "/api/files.completeUploadExternal"}
	if fmt.Sprint(api.calls) != fmt.Sprint(want) {
		t.Fatalf("calls %v, want %v", api.calls, want)
	}
	if name, typ := api.getURL.Get("filename"), api.getURL.Get("snippet_type"); name != "storage-audit-prod-eu-----20261120T093000Z."+ext || typ != ext {
		t.Errorf("file name %q, type %q; want the .%s name and type %s", name, typ, ext, ext)
	}
	if api.getURL.Get("length") != fmt.Sprint(len(api.uploaded)) {
		t.Errorf("announced length %s, uploaded %d bytes", api.getURL.Get("length"), len(api.uploaded))
	}
	return api, rep
}

// TestBotAttachesTheReport: with WithAttachReport the JSON report is uploaded through
// files.getUploadURLExternal, the upload URL and files.completeUploadExternal, in the
// digest's thread.
func TestBotAttachesTheReport(t *testing.T) {
	api, rep := uploadThroughBot(t, WithAttachReport(true), "json")
	var doc audit.Report
	if err := json.Unmarshal(api.uploaded, &doc); err != nil {
		t.Fatalf("uploaded file is not the JSON report: %v\n%s", err, api.uploaded)
	}
	if doc.Cluster != rep.Cluster || len(doc.Findings) != len(rep.Findings) || len(doc.Resolved) != len(rep.Resolved) || doc.Cost == nil {
		t.Errorf("uploaded report differs: %+v", doc)
	}
	if api.complete.Get("channel_id") != "C0STORAGE" || api.complete.Get("thread_ts") != "1763631000.000100" {
		t.Errorf("file shared to channel %q thread %q, want the digest's C0STORAGE 1763631000.000100",
			api.complete.Get("channel_id"), api.complete.Get("thread_ts"))
	}
	if !strings.Contains(api.complete.Get("files"), `"id":"F0REPORT"`) {
		t.Errorf("completeUploadExternal files %q", api.complete.Get("files"))
	}
}

// TestBotAttachesTheHTMLReport: with WithAttachment(report.HTML) the upload is the
// self-contained HTML page of the report, named .html, with the rules documented.
func TestBotAttachesTheHTMLReport(t *testing.T) {
	docs := map[string]report.RuleDoc{"pod-node-missing": {Title: "Pod bound to a Node that no longer exists", Action: "Delete the pod", Doc: "**Why it matters.** The pod never runs."}}
	api, rep := uploadThroughBot(t, WithAttachment(report.HTML, report.Options{Rules: docs}), "html")
	page := string(api.uploaded)
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, "<h1>Storage audit of prod-eu &lt;&amp;&gt;</h1>") {
		t.Fatalf("uploaded file is not the HTML report of %q:\n%.300s", rep.Cluster, page)
	}
	for _, f := range append(append([]audit.Finding(nil), rep.Findings...), rep.Resolved...) {
		if !strings.Contains(page, `data-rule="`+f.RuleID+`"`) || !strings.Contains(page, "<code>"+report.ShortRef(f.Object)+"</code>") {
			t.Errorf("the HTML report lacks %s on %s", f.RuleID, f.Object)
		}
	}
	if !strings.Contains(page, "<strong>Why it matters.</strong> The pod never runs.") {
		t.Error("the HTML report lacks the rule documentation given in the options")
	}
	if api.complete.Get("channel_id") != "C0STORAGE" || api.complete.Get("thread_ts") != "1763631000.000100" {
		t.Errorf("file shared to channel %q thread %q, want the digest's thread", api.complete.Get("channel_id"), api.complete.Get("thread_ts"))
	}
}

func TestNewBotRejectsBadAttachment(t *testing.T) {
	_, err := NewBot(botToken, "#c", WithAttachment(report.YAML, report.Options{}))
	if err == nil || !strings.Contains(err.Error(), `cannot be attached as "yaml"`) {
		t.Errorf("attaching YAML: %v, want an error", err)
	}
	noSecrets(t, errorTexts(err)...)
}

func TestNewBotRejectsBadInput(t *testing.T) {
	cases := []struct{ token, channel, want string }{
		{"", "#c", "SLACK_BOT_TOKEN"},
		{"xoxb-a b", "#c", "SLACK_BOT_TOKEN"},
		{botToken, " ", "--slack-channel"},
	}
	for _, c := range cases {
		_, err := NewBot(c.token, c.channel)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewBot(%q, %q) = %v, want an error naming %s", c.token, c.channel, err, c.want)
			continue
		}
		noSecrets(t, errorTexts(err)...)
	}
}

func TestRedactor(t *testing.T) {
	raw := "https://hooks.slack.com" + webhookPath
	red := newRedactor(append(webhookSecrets(raw), botToken)...)
	inner := &url.Error{Op: "Post", URL: raw, Err: context.DeadlineExceeded}
	cases := []error{
		inner,
		fmt.Errorf("failed to post webhook: %w", inner),
		errors.Join(errors.New("token "+botToken), fmt.Errorf("x: %w", inner)),
		errors.New("plain " + url.PathEscape(webhookPath)),
	}
	for _, in := range cases {
		out := red.err(in)
		noSecrets(t, errorTexts(out)...)
		if !strings.Contains(out.Error(), "[redacted]") {
			t.Errorf("%q: nothing redacted in %q", in, out)
		}
		if strings.Contains(in.Error(), "Post") {
			var ue *url.Error
			if !errors.As(out, &ue) || !errors.Is(out, context.DeadlineExceeded) {
				t.Errorf("%q: redaction lost the *url.Error or its cause: %#v", in, out)
			}
		}
	}
	clean := errors.New("nothing secret")
	if red.err(clean) != clean {
		t.Error("an error without secrets should be kept as it is")
	}
}

// TestRetryStopsWhenTheRunEnds: a run cancelled while waiting to retry stops at once and
// says so, keeping Slack's error as the cause.
func TestRetryStopsWhenTheRunEnds(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cancelled := func(ctx context.Context, _ time.Duration) error {
		cancel()
		return ctx.Err()
	}
	wh, err := NewWebhook(srv.URL+webhookPath, WithRetry(Retry{Sleep: cancelled}))
	if err != nil {
		t.Fatal(err)
	}
	err = wh.Send(ctx, changesReport())
	var ne *Error
	if !errors.As(err, &ne) || requests.Load() != 1 || !strings.Contains(err.Error(), "502 Bad Gateway") || !strings.Contains(ne.Hint, "cancelled") {
		t.Errorf("Send = %v after %d requests, want the 502 with a hint that the run was cancelled, after 1", err, requests.Load())
	}
}

// TestBotAPIURLMustBeHTTPS: the bot token goes to the API URL, so it is https (or http to
// a loopback test server).
func TestBotAPIURLMustBeHTTPS(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://slack-gov.com/api/":   true,
		"http://127.0.0.1:8080/api":    true,
		"http://slack.example.com/api": false,
		"https://u:p@slack.com/api/":   false,
		"slack.com/api":                false,
	} {
		_, err := NewBot(botToken, "#storage-alerts", WithAPIURL(u))
		if (err == nil) != ok {
			t.Errorf("API URL %s: err %v, want accepted=%v", u, err, ok)
		}
		if err != nil && (strings.Contains(err.Error(), botToken) || strings.Contains(err.Error(), "u:p")) {
			t.Errorf("API URL %s: the error repeats a secret: %v", u, err)
		}
	}
}
