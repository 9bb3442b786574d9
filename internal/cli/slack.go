package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/storage-auditor/auditor/internal/ruledocs"

	"github.com/spf13/pflag"

	"github.com/storage-auditor/auditor/internal/version"
	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/config"
	"github.com/storage-auditor/auditor/pkg/report"
	"github.com/storage-auditor/auditor/pkg/report/slack"
)

// The environment variables read when neither a flag nor the config names another.
const (
	envWebhookURL = "SLACK_WEBHOOK_URL"
	envBotToken   = "SLACK_BOT_TOKEN"
)

// slackFlags select the Slack digest. Secrets come from the environment (or, for the
// webhook, a flag for quick tests): the config file names variables, never values.
type slackFlags struct {
	webhookURL   string
	channel      string
	minSeverity  string
	onlyChanges  bool
	attach       string
	attachReport bool
	// retryLog receives a line for each retried post (secrets redacted); nil drops them.
	retryLog func(line string)
}

func (s *slackFlags) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&s.webhookURL, "slack-webhook-url", "", "post the digest to this Slack incoming webhook (default $"+envWebhookURL+"; prefer the variable: flags show in process lists)")
	fs.StringVar(&s.channel, "slack-channel", "", "post the digest to this channel with the bot token in $"+envBotToken+" (chat.postMessage)")
	fs.StringVar(&s.minSeverity, "slack-min-severity", "", "list only findings at or above this severity in the digest (counts show all; default info)")
	fs.BoolVar(&s.onlyChanges, "slack-only-changes", false, "post only when a finding is new or resolved since the previous run (needs run-to-run state)")
	fs.StringVar(&s.attach, "slack-attach", "", "attach the full report to the digest: none (default), json (the document) or html (the self-contained page to open or forward); bot token only")
	fs.BoolVar(&s.attachReport, "slack-attach-report", false, "same as --slack-attach json")
}

// attachment resolves what is attached to the digest: --slack-attach, else
// --slack-attach-report, else the config's slack.attach (or attachReport). "" is none.
func (s *slackFlags) attachment(a *auditor) (report.Format, error) {
	switch s.attach {
	case "":
	case "none":
		if s.attachReport {
			return "", usageError("--slack-attach none contradicts --slack-attach-report; give one")
		}
		return "", nil
	case "json", "html":
		if s.attachReport && s.attach != "json" {
			return "", usageError("--slack-attach %s contradicts --slack-attach-report (which attaches json); give one", s.attach)
		}
		return report.Format(s.attach), nil
	default:
		return "", usageError("--slack-attach: unknown value %q (want none, json or html)", s.attach)
	}
	if s.attachReport {
		return report.JSON, nil
	}
	if a.cfg != nil {
		return report.Format(a.cfg.File.Slack.AttachFormat()), nil
	}
	return "", nil
}

// notifier posts digests through one sender.
type notifier struct {
	sender slack.Sender
	opts   slack.DigestOptions
	// attach is the format of the report uploaded with the digest; "" for none.
	attach report.Format
}

// logRetriesTo sends a line for each retried Slack call to logf: run prints them on
// stderr, serve logs them. Call it before prepare.
func (s *slackFlags) logRetriesTo(logf func(line string)) { s.retryLog = logf }

// sendOptions bound every post: slack.timeout limits each attempt, slack.attempts the
// tries (config defaults without a config file), and each retry is logged.
func (s *slackFlags) sendOptions(a *auditor, digest slack.DigestOptions) []slack.Option {
	var c config.Slack
	if a.cfg != nil {
		c = a.cfg.File.Slack
	}
	opts := []slack.Option{
		slack.WithDigest(digest),
		slack.WithHTTPClient(&http.Client{Timeout: c.AttemptTimeout()}),
		slack.WithRetry(slack.Retry{Attempts: c.MaxAttempts()}),
	}
	if log := s.retryLog; log != nil {
		opts = append(opts, slack.WithLogf(func(format string, args ...any) { log(fmt.Sprintf(format, args...)) }))
	}
	if c.APIURL != "" {
		opts = append(opts, slack.WithAPIURL(c.APIURL))
	}
	return opts
}

// prepare resolves the Slack settings: flags first, then the config file's slack
// section, then the standard environment variables. It returns nil when Slack is not
// configured. A configured-but-empty secret is an error now rather than a silent
// missing digest later.
func (s *slackFlags) prepare(a *auditor) (*notifier, error) {
	var cfgWebhookEnv, cfgTokenEnv, channel, minSev string
	onlyChanges := s.onlyChanges
	if a.cfg != nil {
		c := a.cfg.File.Slack
		cfgWebhookEnv, cfgTokenEnv, channel, minSev = c.WebhookURLEnv, c.BotTokenEnv, c.Channel, c.MinSeverity
		onlyChanges = onlyChanges || c.OnlyChanges
	}
	attach, err := s.attachment(a)
	if err != nil {
		return nil, err
	}
	if s.channel != "" {
		channel = s.channel
	}
	if s.minSeverity != "" {
		minSev = s.minSeverity
	}
	sev, err := severityOr(minSev, audit.Info)
	if err != nil {
		return nil, usageError("--slack-min-severity: %v", err)
	}

	webhook, webhookFrom := s.webhookURL, "--slack-webhook-url"
	if webhook == "" && cfgWebhookEnv != "" {
		webhook, webhookFrom = os.Getenv(cfgWebhookEnv), "$"+cfgWebhookEnv
		if webhook == "" {
			return nil, usageError("config %s: slack.webhookURLEnv names %s, which is not set; set it (from a Secret in the cluster) or remove the slack section", a.cfg.Path, cfgWebhookEnv)
		}
	}
	tokenEnv := envBotToken
	if cfgTokenEnv != "" {
		tokenEnv = cfgTokenEnv
	}
	token := os.Getenv(tokenEnv)
	if cfgTokenEnv != "" && token == "" {
		return nil, usageError("config %s: slack.botTokenEnv names %s, which is not set; set it (from a Secret in the cluster) or remove the slack section", a.cfg.Path, cfgTokenEnv)
	}
	if webhook == "" && channel == "" {
		webhook, webhookFrom = os.Getenv(envWebhookURL), "$"+envWebhookURL
	}

	opts := slack.DigestOptions{MinSeverity: sev, OnlyChanges: onlyChanges, Version: version.Get().Version, Rules: map[string]slack.RuleInfo{}}
	for _, r := range a.eng.Rules() {
		opts.Rules[r.ID] = slack.RuleInfo{Title: r.Title, Action: r.Action}
	}
	n := &notifier{opts: opts, attach: attach}
	switch {
	case channel != "" && webhook != "":
		return nil, usageError("Slack: both a webhook (%s) and a channel for the bot token are set; use one", webhookFrom)
	case channel != "":
		if token == "" {
			return nil, usageError("--slack-channel %s needs a bot token in $%s (chat:write scope; files:write for --slack-attach)", channel, tokenEnv)
		}
		var ropts report.Options
		if attach == report.HTML {
			ropts.Rules = ruledocs.For(a.eng.Rules())
		}
		bot, err := slack.NewBot(token, channel, append(s.sendOptions(a, opts), slack.WithAttachment(attach, ropts))...)
		if err != nil {
			return nil, usageError("Slack: %v", err)
		}
		n.sender = bot
	case webhook != "":
		if attach != "" {
			return nil, usageError("attaching the report (--slack-attach %s) needs a bot token and --slack-channel: incoming webhooks cannot upload files", attach)
		}
		wh, err := slack.NewWebhook(webhook, s.sendOptions(a, opts)...)
		if err != nil {
			return nil, usageError("Slack webhook from %s: %v", webhookFrom, err)
		}
		n.sender = wh
	default:
		if onlyChanges || attach != "" || s.minSeverity != "" {
			return nil, usageError("Slack options given but no destination: set $%s (or --slack-webhook-url), or --slack-channel with $%s", envWebhookURL, envBotToken)
		}
		return nil, nil
	}
	return n, nil
}

// post sends the digest; posted is false when --slack-only-changes found nothing to say.
func (n *notifier) post(ctx context.Context, rep *audit.Report) (posted bool, err error) {
	if !slack.ShouldPost(rep, n.opts) {
		return false, nil
	}
	if err := n.sender.Send(ctx, rep); err != nil {
		// The sender's error already says "Slack webhook: posting the digest failed …".
		return false, err
	}
	return true, nil
}
