package slack

import (
	"errors"
	"net/url"
	"sort"
	"strings"
)

// redacted replaces secrets in error and log text.
const redacted = "[redacted]"

// redactor removes secrets (the webhook URL's path, the bot token) from text and errors.
// net/http puts the whole request URL in its errors ("Post \"https://hooks.slack.com/
// services/T…/B…/secret\": context deadline exceeded"), and a webhook URL is its own
// credential, so every error and log line leaves this package through a redactor.
type redactor struct {
	secrets []string // longest first, so a secret containing another is replaced whole
}

func newRedactor(secrets ...string) redactor {
	var r redactor
	seen := map[string]bool{}
	for _, s := range secrets {
		// Very short strings would redact ordinary words; no real secret is that short.
		if len(s) >= 6 && !seen[s] {
			seen[s] = true
			r.secrets = append(r.secrets, s)
		}
	}
	sort.Slice(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

// webhookSecrets lists the forms in which a webhook URL can show up: as given, as
// net/url re-encodes it, its path and query, and its last path segment (the host is not
// secret, and keeping it in messages helps to diagnose network problems).
func webhookSecrets(raw string) []string {
	s := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		s = append(s, u.String(), u.Path, u.EscapedPath(), u.RawQuery)
		// The last segment is the webhook's key; alone it is enough to catch the URL in
		// forms not listed here (escaped differently, cut).
		if i := strings.LastIndexByte(strings.TrimSuffix(u.Path, "/"), '/'); i >= 0 {
			s = append(s, strings.TrimSuffix(u.Path, "/")[i+1:])
		}
		if u.User != nil {
			s = append(s, u.User.String())
		}
	}
	return s
}

func (r redactor) string(s string) string {
	for _, sec := range r.secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

func (r redactor) leaks(s string) bool {
	for _, sec := range r.secrets {
		if strings.Contains(s, sec) {
			return true
		}
	}
	return false
}

// err returns err with every secret removed from its message and from the errors it
// wraps. Errors that hold no secret are kept as they are, so errors.As still finds
// slack-go's StatusCodeError or SlackErrorResponse; a *url.Error is rebuilt as a *url.Error
// with its URL redacted, so errors.As and Timeout() keep working on it.
func (r redactor) err(err error) error {
	if err == nil || !r.leaks(err.Error()) {
		return err
	}
	if ue, ok := err.(*url.Error); ok {
		return &url.Error{Op: ue.Op, URL: r.string(ue.URL), Err: r.err(ue.Err)}
	}
	var cause error
	switch e := err.(type) {
	case interface{ Unwrap() error }:
		cause = r.err(e.Unwrap())
	case interface{ Unwrap() []error }:
		var causes []error
		for _, c := range e.Unwrap() {
			causes = append(causes, r.err(c))
		}
		cause = errors.Join(causes...)
	}
	return &redactedError{msg: r.string(err.Error()), cause: cause}
}

// redactedError stands for an error whose message held a secret.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
