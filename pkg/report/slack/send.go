package slack

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/storage-auditor/auditor/pkg/audit"
	"github.com/storage-auditor/auditor/pkg/report"
)

// Sender posts a report's digest to Slack. Send posts nothing and returns nil when the
// digest options ask for changes only and ShouldPost is false. A failure is an *Error.
type Sender interface {
	Send(ctx context.Context, rep *audit.Report) error
}

var (
	_ Sender = (*Webhook)(nil)
	_ Sender = (*Bot)(nil)
)

// Error is a failed notification: the CLI tells it apart from a failed audit with
// errors.As. Its message says what failed and what to do; it never holds the webhook URL
// or the token.
type Error struct {
	// Via is "webhook" or "bot".
	Via string
	// Op is what failed: "posting the digest", "uploading the report file".
	Op string
	// Attempts is how many times it was tried.
	Attempts int
	// Hint says what to do next.
	Hint string
	// Err is the cause, secrets redacted.
	Err error
}

func (e *Error) Error() string {
	s := "Slack " + e.Via + ": " + e.Op + " failed"
	if e.Attempts > 1 {
		s += fmt.Sprintf(" after %d attempts", e.Attempts)
	}
	s += ": " + e.Err.Error()
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Option tunes a sender.
type Option func(*settings)

type settings struct {
	digest DigestOptions
	client *http.Client
	retry  Retry
	logf   func(format string, args ...any)
	apiURL string
	// attach is the format of the report file uploaded with the digest; "" for none.
	attach     report.Format
	attachOpts report.Options
}

// WithDigest sets what the digest lists (severity floor, changes only, rule titles and
// actions, version, caps).
func WithDigest(o DigestOptions) Option { return func(s *settings) { s.digest = o } }

// WithHTTPClient sets the HTTP client; its Timeout bounds each attempt. The default
// client times out after 30s.
func WithHTTPClient(c *http.Client) Option { return func(s *settings) { s.client = c } }

// WithRetry sets the retry policy (see Retry for the defaults).
func WithRetry(r Retry) Option { return func(s *settings) { s.retry = r } }

// WithLogf receives a line for each retry, secrets redacted. By default nothing is logged.
func WithLogf(logf func(format string, args ...any)) Option {
	return func(s *settings) { s.logf = logf }
}

// WithAPIURL sets the Slack Web API base URL for the bot (default https://slack.com/api/);
// tests point it at a local server.
func WithAPIURL(u string) Option { return func(s *settings) { s.apiURL = u } }

// WithAttachReport uploads the full JSON report as a file in the digest's thread. Bot
// only: incoming webhooks cannot upload files. It is WithAttachment(report.JSON, …).
func WithAttachReport(on bool) Option {
	return func(s *settings) {
		s.attach = ""
		if on {
			s.attach = report.JSON
		}
	}
}

// WithAttachment uploads the full report as a file in the digest's thread, rendered in
// format f with o: report.JSON (the document, for scripts) or report.HTML (the
// self-contained page people open, with o.Rules documenting the rules); "" attaches
// nothing. Bot only: incoming webhooks cannot upload files.
func WithAttachment(f report.Format, o report.Options) Option {
	return func(s *settings) { s.attach, s.attachOpts = f, o }
}

// attachments maps the formats a report can be attached in to Slack's file type.
var attachments = map[report.Format]string{report.JSON: "json", report.HTML: "html"}

// checkAttachment rejects a format that cannot be attached.
func (s *settings) checkAttachment() error {
	if _, ok := attachments[s.attach]; s.attach != "" && !ok {
		return fmt.Errorf("the report cannot be attached as %q: attach it as json or html", s.attach)
	}
	return nil
}

func newSettings(opts []Option) settings {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 30 * time.Second}
	}
	return s
}

// Webhook posts the digest to an incoming webhook.
type Webhook struct {
	url string
	s   settings
	red redactor
}

// NewWebhook returns a sender for the incoming-webhook URL webhookURL (a secret: it never
// appears in errors or logs). The URL must be https, or http to a loopback address.
func NewWebhook(webhookURL string, opts ...Option) (*Webhook, error) {
	s := newSettings(opts)
	u, err := url.Parse(strings.TrimSpace(webhookURL))
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return nil, errors.New("the Slack webhook URL is not an https URL (want https://hooks.slack.com/services/…): check SLACK_WEBHOOK_URL or --slack-webhook-url")
	}
	if s.attach != "" {
		return nil, errors.New("attaching the report needs a bot token (SLACK_BOT_TOKEN and --slack-channel): incoming webhooks cannot upload files")
	}
	return &Webhook{url: u.String(), s: s, red: newRedactor(append(webhookSecrets(webhookURL), webhookSecrets(u.String())...)...)}, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send posts rep's digest.
func (w *Webhook) Send(ctx context.Context, rep *audit.Report) error {
	if !ShouldPost(rep, w.s.digest) {
		return nil
	}
	msg := Digest(rep, w.s.digest)
	body := &slackapi.WebhookMessage{Text: msg.Text, Blocks: &slackapi.Blocks{BlockSet: msg.Blocks}}
	const op = "posting the digest"
	attempts, err := w.s.retry.do(ctx, op, w.red, w.s.logf, func(ctx context.Context) error {
		return slackapi.PostWebhookCustomHTTPContext(ctx, w.url, w.s.client, body)
	})
	if err != nil {
		return &Error{Via: "webhook", Op: op, Attempts: attempts, Hint: webhookHint(ctx, err), Err: w.red.err(err)}
	}
	return nil
}

// webhookHint explains a webhook failure. Slack answers a bad webhook with a status code
// (its body, which slack-go drops, names the reason).
func webhookHint(ctx context.Context, err error) string {
	var sc slackapi.StatusCodeError
	if errors.As(err, &sc) {
		switch sc.Code {
		case http.StatusBadRequest:
			return "Slack rejected the message as invalid: please report this as a bug of the auditor"
		case http.StatusForbidden:
			return "Slack refused the webhook (posting is restricted, or the app lost its permission): check the app in the workspace, or create a new webhook"
		case http.StatusNotFound:
			return "Slack does not know this webhook (deleted, revoked or mistyped): create a new incoming webhook and update SLACK_WEBHOOK_URL or --slack-webhook-url"
		case http.StatusGone:
			return "the webhook's channel was archived: unarchive it, or create a webhook for another channel"
		}
	}
	return commonHint(ctx, err, "check SLACK_WEBHOOK_URL or --slack-webhook-url")
}

// commonHint explains failures both senders share; other is for the rest.
func commonHint(ctx context.Context, err error, other string) string {
	var rl *slackapi.RateLimitedError
	var sc slackapi.StatusCodeError
	switch {
	case ctx.Err() != nil:
		return "the run was cancelled or ran out of time before Slack answered"
	case errors.As(err, &rl), errors.As(err, &sc) && sc.Code == http.StatusTooManyRequests:
		return "Slack kept rate-limiting the posts: post less often"
	case errors.As(err, &sc) && sc.Code >= 500:
		return "Slack's servers are failing; the next run will try again"
	case isTimeout(err):
		return "Slack did not answer in time: check the network path to Slack (proxy, firewall, egress NetworkPolicy)"
	case isConnection(err):
		return "could not reach Slack: check DNS, the proxy and egress rules"
	}
	var dns *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certInvalid x509.CertificateInvalidError
	var tlsRecord tls.RecordHeaderError
	switch {
	case errors.As(err, &dns):
		return "cannot resolve " + dns.Name + ": check the DNS and the proxy settings (HTTPS_PROXY) of where the auditor runs"
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &certInvalid), errors.As(err, &tlsRecord):
		return "the TLS connection to Slack failed: a proxy re-signing traffic needs its CA in the system trust store (or SSL_CERT_FILE)"
	}
	return other
}

// Bot posts the digest with a bot token to a channel, and can attach the full report.
type Bot struct {
	api     *slackapi.Client
	channel string
	s       settings
	red     redactor
}

// NewBot returns a sender posting to channel (a name such as #storage-alerts, or an ID)
// with the bot token token (a secret: it never appears in errors or logs). The bot needs
// the chat:write scope, and files:write to attach the report.
func NewBot(token, channel string, opts ...Option) (*Bot, error) {
	s := newSettings(opts)
	token = strings.TrimSpace(token)
	switch {
	case token == "":
		return nil, errors.New("the Slack bot token is empty: set SLACK_BOT_TOKEN to the app's xoxb- token")
	case strings.ContainsAny(token, " \t\r\n"):
		return nil, errors.New("the Slack bot token holds spaces or line breaks: check SLACK_BOT_TOKEN")
	case strings.TrimSpace(channel) == "":
		return nil, errors.New("posting with a bot token needs a channel: set --slack-channel (e.g. #storage-alerts)")
	}
	if err := s.checkAttachment(); err != nil {
		return nil, err
	}
	apiOpts := []slackapi.Option{slackapi.OptionHTTPClient(withTokenInHeader(s.client))}
	if s.apiURL != "" {
		u := s.apiURL
		if p, err := url.Parse(u); err != nil || p.Host == "" || p.User != nil || (p.Scheme != "https" && !(p.Scheme == "http" && loopback(p.Hostname()))) {
			return nil, errors.New("the Slack API URL is not an https URL (want https://slack.com/api/): the bot token is sent there")
		}
		if !strings.HasSuffix(u, "/") {
			u += "/" // slack-go appends the method name to it
		}
		apiOpts = append(apiOpts, slackapi.OptionAPIURL(u))
	}
	return &Bot{
		api:     slackapi.New(token, apiOpts...),
		channel: strings.TrimSpace(channel),
		s:       s,
		red:     newRedactor(token),
	}, nil
}

// Send posts rep's digest to the channel and, when asked, uploads the report (JSON or
// HTML) in its thread.
func (b *Bot) Send(ctx context.Context, rep *audit.Report) error {
	if !ShouldPost(rep, b.s.digest) {
		return nil
	}
	msg := Digest(rep, b.s.digest)
	var channelID, ts string
	op := "posting the digest to " + b.channel
	attempts, err := b.s.retry.do(ctx, op, b.red, b.s.logf, func(ctx context.Context) error {
		var err error
		channelID, ts, err = b.api.PostMessageContext(ctx, b.channel,
			slackapi.MsgOptionText(msg.Text, false), slackapi.MsgOptionBlocks(msg.Blocks...))
		return err
	})
	if err != nil {
		return &Error{Via: "bot", Op: op, Attempts: attempts, Hint: b.hint(ctx, err, "chat:write"), Err: b.red.err(err)}
	}
	if b.s.attach == "" {
		return nil
	}
	var doc bytes.Buffer
	if err := report.Write(&doc, rep, b.s.attach, b.s.attachOpts); err != nil {
		return &Error{Via: "bot", Op: "rendering the report file", Attempts: 1, Err: err}
	}
	op = "uploading the report file to " + b.channel
	attempts, err = b.s.retry.do(ctx, op, b.red, b.s.logf, func(ctx context.Context) error {
		_, err := b.api.UploadFileContext(ctx, slackapi.UploadFileParameters{
			Filename:        reportFileName(rep, b.s.attach),
			Title:           "Storage audit report of " + rep.Cluster + ", " + when(rep.GeneratedAt),
			Content:         doc.String(),
			FileSize:        doc.Len(),
			SnippetType:     attachments[b.s.attach],
			Channel:         channelID,
			ThreadTimestamp: ts,
		})
		return err
	})
	if err != nil {
		return &Error{Via: "bot", Op: op + " (the digest was posted)", Attempts: attempts, Hint: b.hint(ctx, err, "files:write"), Err: b.red.err(err)}
	}
	return nil
}

// hint explains a bot failure; scope is the scope the failed call needs.
func (b *Bot) hint(ctx context.Context, err error, scope string) string {
	var api slackapi.SlackErrorResponse
	if errors.As(err, &api) {
		switch api.Err {
		case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
			return fmt.Sprintf("Slack does not accept the bot token (%s): check SLACK_BOT_TOKEN, a bot token (xoxb-…) of an app installed in this workspace", api.Err)
		case "not_allowed_token_type":
			return "the token is not a bot token: set SLACK_BOT_TOKEN to the app's xoxb- token"
		case "channel_not_found":
			return fmt.Sprintf("Slack finds no channel %s the bot can see: check --slack-channel, and invite the bot if the channel is private (/invite @your-bot)", b.channel)
		case "not_in_channel":
			return fmt.Sprintf("invite the bot to %s (/invite @your-bot in the channel)", b.channel)
		case "is_archived":
			return fmt.Sprintf("channel %s is archived: unarchive it or set another --slack-channel", b.channel)
		case "missing_scope":
			if api.Needed != "" {
				scope = api.Needed
			}
			return fmt.Sprintf("the bot token lacks the %s scope: add it under OAuth & Permissions in the Slack app, reinstall the app and update SLACK_BOT_TOKEN", scope)
		case "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel", "ekm_access_denied":
			return fmt.Sprintf("the workspace does not let the bot post in %s (%s): ask a Slack admin, or choose another channel", b.channel, api.Err)
		case "msg_too_long", "msg_blocks_too_long", "too_many_blocks", "invalid_blocks", "invalid_blocks_format", "invalid_arguments", "invalid_form_data":
			return fmt.Sprintf("Slack rejected the message (%s): please report this as a bug of the auditor", api.Err)
		}
		return "see Slack's documentation of the error " + api.Err
	}
	return commonHint(ctx, err, "check SLACK_BOT_TOKEN and --slack-channel")
}

// reportFileName names the attached report after the cluster and the time, with only
// characters every file system accepts, and the format's extension.
func reportFileName(rep *audit.Report, f report.Format) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, rep.Cluster)
	if len(name) > 100 { // every rune is ASCII now
		name = name[:100]
	}
	return "storage-audit-" + name + "-" + rep.GeneratedAt.UTC().Format("20060102T150405Z") + "." + attachments[f]
}
