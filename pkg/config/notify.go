package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/rules"
)

// Slack configures the digest. Secrets are never written in the file: it names the
// environment variables that hold them (set from a Kubernetes Secret in the cluster).
type Slack struct {
	// WebhookURLEnv names the variable holding an incoming-webhook URL.
	WebhookURLEnv string `yaml:"webhookURLEnv"`
	// BotTokenEnv names the variable holding a bot token (xoxb-…); Channel is required then.
	BotTokenEnv string `yaml:"botTokenEnv"`
	Channel     string `yaml:"channel"`
	// MinSeverity lists only findings at or above it in the digest (counts show all).
	MinSeverity string `yaml:"minSeverity"`
	// OnlyChanges posts only when a finding is new or resolved since the previous run.
	OnlyChanges bool `yaml:"onlyChanges"`
	// Attach uploads the full report with the digest, as json or html (the
	// self-contained page); none (the default) attaches nothing. Bot token only.
	Attach string `yaml:"attach"`
	// AttachReport is the older way to say attach: json, kept working.
	AttachReport bool `yaml:"attachReport"`
	// Timeout bounds each attempt to reach Slack (a duration: 10s, 1m); default 30s.
	Timeout string `yaml:"timeout"`
	// Attempts is how many times a post is tried in all, 1 to 10; default 4. A pointer,
	// so that "attempts: 0" is an error rather than the default.
	Attempts *int `yaml:"attempts"`
	// APIURL is the Slack Web API the bot token is sent to: https://slack.com/api/ by
	// default, https://slack-gov.com/api/ for GovSlack. Bot token only.
	APIURL string `yaml:"apiURL"`
}

// Bounds of a notification: a failing Slack holds a run for at most about
// Attempts × (Timeout + 60s), the longest wait between two attempts.
const (
	DefaultSlackTimeout  = 30 * time.Second
	MaxSlackTimeout      = 5 * time.Minute
	DefaultSlackAttempts = 4
	MaxSlackAttempts     = 10
)

// AttemptTimeout is slack.timeout (validated by Parse), or its default.
func (s Slack) AttemptTimeout() time.Duration {
	if s.Timeout == "" {
		return DefaultSlackTimeout
	}
	d, _ := rules.ParseDuration(s.Timeout)
	return d
}

// MaxAttempts is slack.attempts (validated by Parse), or its default.
func (s Slack) MaxAttempts() int {
	if s.Attempts == nil {
		return DefaultSlackAttempts
	}
	return *s.Attempts
}

// AttachFormats are the values slack.attach accepts.
var AttachFormats = []string{"none", "json", "html"}

// AttachFormat is the format the report is attached in: "json", "html", or "" for none.
// slack.attach wins; attachReport: true alone means json.
func (s Slack) AttachFormat() string {
	switch {
	case s.Attach == "none":
		return ""
	case s.Attach != "":
		return s.Attach
	case s.AttachReport:
		return "json"
	}
	return ""
}

// State says where run-to-run state is kept.
type State struct {
	// File is a path on the machine running the auditor.
	File string `yaml:"file"`
	// ConfigMap is "name" (in the auditor's namespace) or "namespace/name".
	ConfigMap string `yaml:"configMap"`
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) checkNotify(at func(keys ...string) string) error {
	s := c.File.Slack
	for _, e := range []struct{ key, val string }{{"webhookURLEnv", s.WebhookURLEnv}, {"botTokenEnv", s.BotTokenEnv}} {
		if e.val != "" && !envNameRE.MatchString(e.val) {
			what := "the value"
			if strings.Contains(e.val, "://") || strings.HasPrefix(e.val, "xox") {
				what = "a secret"
			}
			return fmt.Errorf("%s: slack.%s must name an environment variable (such as SLACK_WEBHOOK_URL), and this looks like %s: keep secrets out of the config file and set the variable from a Secret", at("slack", e.key), e.key, what)
		}
	}
	if s.BotTokenEnv != "" && s.Channel == "" {
		return fmt.Errorf("%s: slack.botTokenEnv needs slack.channel (the channel to post to, e.g. #storage-alerts)", at("slack", "botTokenEnv"))
	}
	if s.WebhookURLEnv != "" && s.BotTokenEnv != "" {
		return fmt.Errorf("%s: set slack.webhookURLEnv or slack.botTokenEnv, not both", at("slack"))
	}
	if s.Attach != "" && !slices.Contains(AttachFormats, s.Attach) {
		return fmt.Errorf("%s: slack.attach: unknown value %q (want none, json or html)", at("slack", "attach"), s.Attach)
	}
	if s.AttachReport && s.Attach != "" && s.Attach != "json" {
		return fmt.Errorf("%s: slack.attach: %s contradicts slack.attachReport: true (which means json); keep only slack.attach", at("slack", "attach"), s.Attach)
	}
	if s.AttachFormat() != "" && s.BotTokenEnv == "" {
		key := "attach"
		if s.Attach == "" {
			key = "attachReport"
		}
		return fmt.Errorf("%s: slack.%s needs a bot token (slack.botTokenEnv): incoming webhooks cannot upload files", at("slack", key), key)
	}
	if s.MinSeverity != "" {
		if _, err := audit.ParseSeverity(s.MinSeverity); err != nil {
			return fmt.Errorf("%s: slack.minSeverity: %v", at("slack", "minSeverity"), err)
		}
	}
	if s.Timeout != "" {
		d, err := rules.ParseDuration(s.Timeout)
		if err == nil && (d <= 0 || d > MaxSlackTimeout) {
			err = fmt.Errorf("%q: want more than 0s and at most %s", s.Timeout, MaxSlackTimeout)
		}
		if err != nil {
			return fmt.Errorf("%s: slack.timeout: %v (the limit of each attempt; default %s)", at("slack", "timeout"), err, DefaultSlackTimeout)
		}
	}
	if s.Attempts != nil && (*s.Attempts < 1 || *s.Attempts > MaxSlackAttempts) {
		return fmt.Errorf("%s: slack.attempts: %d: want 1 to %d (tries in all, the first included; default %d)", at("slack", "attempts"), *s.Attempts, MaxSlackAttempts, DefaultSlackAttempts)
	}
	if s.APIURL != "" {
		if s.WebhookURLEnv != "" {
			return fmt.Errorf("%s: slack.apiURL is where the bot token is sent; a webhook URL is complete: remove slack.apiURL or use slack.botTokenEnv", at("slack", "apiURL"))
		}
		if err := CheckSlackAPIURL(s.APIURL); err != nil {
			return fmt.Errorf("%s: slack.apiURL: %v", at("slack", "apiURL"), err)
		}
	}
	if c.File.State.File != "" && c.File.State.ConfigMap != "" {
		return fmt.Errorf("%s: set state.file or state.configMap, not both", at("state"))
	}
	if cm := c.File.State.ConfigMap; cm != "" {
		if _, _, err := SplitConfigMap(cm); err != nil {
			return fmt.Errorf("%s: state.configMap: %v", at("state", "configMap"), err)
		}
	}
	return nil
}

// CheckSlackAPIURL accepts an https URL, or http to a loopback address (a local test
// server): the bot token is sent there, never in clear over a network.
func CheckSlackAPIURL(s string) error {
	u, err := url.Parse(s)
	if err == nil && u.User != nil {
		return fmt.Errorf("the URL holds credentials (user:password@), which are not repeated here: keep secrets out of the config file")
	}
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: want the Web API's base URL, such as https://slack.com/api/", s)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return fmt.Errorf("%q: want https (the bot token is sent there; http only to a loopback address)", s)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`)

// SplitConfigMap parses "name" or "namespace/name"; namespace is "" when not given.
func SplitConfigMap(s string) (namespace, name string, err error) {
	name = s
	if ns, n, ok := strings.Cut(s, "/"); ok {
		namespace, name = ns, n
		if !dnsLabelRE.MatchString(namespace) {
			return "", "", fmt.Errorf("%q: namespace %q is not a valid name", s, namespace)
		}
	}
	if !dnsLabelRE.MatchString(name) || len(name) > 253 {
		return "", "", fmt.Errorf("%q: want name or namespace/name (lower-case letters, digits, '-' and '.')", s)
	}
	return namespace, name, nil
}
