package config

import (
	"strings"
	"testing"
	"time"

	"github.com/storage-auditor/auditor/pkg/rules/catalog"
)

func TestNotifyErrors(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"slack:\n  webhookURLEnv: https://hooks.slack.com/services/T0/B0/XYZ\n", `c.yaml:2: slack.webhookURLEnv must name an environment variable (such as SLACK_WEBHOOK_URL), and this looks like a secret`},
		{"slack:\n  botTokenEnv: xoxb-123-456\n", `c.yaml:2: slack.botTokenEnv must name an environment variable`},
		{"slack:\n  botTokenEnv: SLACK_BOT_TOKEN\n", `c.yaml:2: slack.botTokenEnv needs slack.channel`},
		{"slack:\n  webhookURLEnv: A\n  botTokenEnv: B\n  channel: x\n", `c.yaml:1: set slack.webhookURLEnv or slack.botTokenEnv, not both`},
		{"slack:\n  webhookURLEnv: A\n  attachReport: true\n", `c.yaml:3: slack.attachReport needs a bot token`},
		{"slack:\n  webhookURLEnv: A\n  attach: html\n", `c.yaml:3: slack.attach needs a bot token`},
		{"slack:\n  botTokenEnv: B\n  channel: x\n  attach: pdf\n", `c.yaml:4: slack.attach: unknown value "pdf" (want none, json or html)`},
		{"slack:\n  botTokenEnv: B\n  channel: x\n  attachReport: true\n  attach: html\n", `c.yaml:5: slack.attach: html contradicts slack.attachReport: true`},
		{"slack:\n  minSeverity: loud\n", `c.yaml:2: slack.minSeverity: unknown severity "loud"`},
		{"slack:\n  webhookURL: https://x\n", `c.yaml:2: unknown key "webhookURL"`},
		{"slack:\n  timeout: soon\n", `c.yaml:2: slack.timeout: "soon": want a duration such as 15m, 2h or 7d`},
		{"slack:\n  timeout: 0s\n", `c.yaml:2: slack.timeout: "0s": want more than 0s and at most 5m0s`},
		{"slack:\n  timeout: -5s\n", `c.yaml:2: slack.timeout: "-5s": want more than 0s`},
		{"slack:\n  timeout: 1h\n", `c.yaml:2: slack.timeout: "1h": want more than 0s and at most 5m0s`},
		{"slack:\n  attempts: 0\n", `c.yaml:2: slack.attempts: 0: want 1 to 10`},
		{"slack:\n  attempts: 11\n", `c.yaml:2: slack.attempts: 11: want 1 to 10`},
		{"slack:\n  attempts: -1\n", `c.yaml:2: slack.attempts: -1: want 1 to 10`},
		{"slack:\n  attempts: many\n", `c.yaml:2: cannot unmarshal a string (` + "`many`" + `) into`},
		{"slack:\n  webhookURLEnv: A\n  apiURL: https://slack.com/api/\n", `c.yaml:3: slack.apiURL is where the bot token is sent`},
		{"slack:\n  apiURL: http://slack.example.com/api/\n", `c.yaml:2: slack.apiURL: "http://slack.example.com/api/": want https`},
		{"slack:\n  apiURL: slack.com/api\n", `c.yaml:2: slack.apiURL: "slack.com/api": want the Web API's base URL`},
		{"slack:\n  apiURL: https://u:XYZ@slack.com/api/\n", `c.yaml:2: slack.apiURL:`},
		{"state:\n  file: s.json\n  configMap: x\n", `c.yaml:1: set state.file or state.configMap, not both`},
		{"state:\n  configMap: Bad_Name\n", `c.yaml:2: state.configMap: "Bad_Name"`},
		{"state:\n  configMap: a/b/c\n", `c.yaml:2: state.configMap:`},
	}
	for _, c := range cases {
		_, err := Parse("c.yaml", []byte(c.doc), catalog.All())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) = %v, want one line containing %q", c.doc, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "XYZ") || strings.Contains(err.Error(), "xoxb-123")) {
			t.Errorf("Parse(%q): the error repeats the secret: %v", c.doc, err)
		}
	}
	ok := "slack:\n  botTokenEnv: SLACK_BOT_TOKEN\n  channel: '#storage'\n  minSeverity: warning\n  onlyChanges: true\n  attachReport: true\nstate:\n  configMap: ops/auditor-state\n"
	if _, err := Parse("c.yaml", []byte(ok), catalog.All()); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

// TestSlackAttachFormat: slack.attach names the format; the older attachReport: true
// still means json; none (or nothing) attaches nothing.
func TestSlackAttachFormat(t *testing.T) {
	cases := []struct{ keys, want string }{
		{"", ""},
		{"  attach: none\n", ""},
		{"  attach: json\n", "json"},
		{"  attach: html\n", "html"},
		{"  attachReport: true\n", "json"},
		{"  attachReport: true\n  attach: json\n", "json"},
		{"  attachReport: false\n  attach: html\n", "html"},
	}
	for _, c := range cases {
		doc := "slack:\n  botTokenEnv: SLACK_BOT_TOKEN\n  channel: '#storage'\n" + c.keys
		cfg, err := Parse("c.yaml", []byte(doc), catalog.All())
		if err != nil {
			t.Errorf("%q: %v", c.keys, err)
			continue
		}
		if got := cfg.File.Slack.AttachFormat(); got != c.want {
			t.Errorf("%q: attach format %q, want %q", c.keys, got, c.want)
		}
	}
}

// TestSlackBounds: slack.timeout and slack.attempts bound each notification; unset, they
// are 30s and 4 tries.
func TestSlackBounds(t *testing.T) {
	cases := []struct {
		keys     string
		timeout  time.Duration
		attempts int
	}{
		{"", DefaultSlackTimeout, DefaultSlackAttempts},
		{"  timeout: 250ms\n", 250 * time.Millisecond, DefaultSlackAttempts},
		{"  timeout: 5m\n  attempts: 10\n", 5 * time.Minute, 10},
		{"  attempts: 1\n", DefaultSlackTimeout, 1},
	}
	for _, c := range cases {
		cfg, err := Parse("c.yaml", []byte("slack:\n  webhookURLEnv: W\n"+c.keys), catalog.All())
		if err != nil {
			t.Errorf("%q: %v", c.keys, err)
			continue
		}
		if got := cfg.File.Slack.AttemptTimeout(); got != c.timeout {
			t.Errorf("%q: timeout %s, want %s", c.keys, got, c.timeout)
		}
		if got := cfg.File.Slack.MaxAttempts(); got != c.attempts {
			t.Errorf("%q: attempts %d, want %d", c.keys, got, c.attempts)
		}
	}
	for _, u := range []string{"https://slack.com/api/", "https://slack-gov.com/api", "http://127.0.0.1:8080/api/", "http://localhost/api/", "http://[::1]:9/api/"} {
		if _, err := Parse("c.yaml", []byte("slack:\n  botTokenEnv: T\n  channel: x\n  apiURL: "+u+"\n"), catalog.All()); err != nil {
			t.Errorf("slack.apiURL %s rejected: %v", u, err)
		}
	}
}

func TestSplitConfigMap(t *testing.T) {
	for in, want := range map[string][2]string{"state": {"", "state"}, "ops/state": {"ops", "state"}} {
		ns, name, err := SplitConfigMap(in)
		if err != nil || ns != want[0] || name != want[1] {
			t.Errorf("SplitConfigMap(%q) = %q, %q, %v", in, ns, name, err)
		}
	}
}
