package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/storage-auditor/auditor/pkg/audit"
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
