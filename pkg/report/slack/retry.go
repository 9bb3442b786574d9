package slack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	slackapi "github.com/slack-go/slack"
)

// Retry is how both senders retry a failed call to Slack. A rate limit (HTTP 429) waits
// what Slack's Retry-After asks; server errors (5xx), timeouts and dropped connections
// back off exponentially; anything else (a 4xx, an API error such as invalid_auth) fails
// at once, since trying again cannot help. Every wait is capped by MaxWait and the number
// of tries by Attempts, so a notification never holds a run for long.
type Retry struct {
	// Attempts is the number of tries in all (default 4).
	Attempts int
	// Backoff is the first wait after a server error or timeout, doubled after each
	// (default 1s).
	Backoff time.Duration
	// MaxWait caps any single wait, Retry-After included (default 60s).
	MaxWait time.Duration
	// Sleep waits d or until ctx is done; tests replace it to record the waits instead.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 4
	}
	if r.Backoff <= 0 {
		r.Backoff = time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = time.Minute
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// do calls fn until it succeeds, fails for good or the attempts run out, logging each
// retry through logf with secrets redacted. It returns the attempts made and the last
// error as slack-go returned it: the caller classifies it, then redacts it.
func (r Retry) do(ctx context.Context, what string, red redactor, logf func(string, ...any), fn func(context.Context) error) (int, error) {
	r = r.withDefaults()
	backoff := r.Backoff
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return attempt, nil
		}
		retry, after := transient(err)
		if !retry || attempt >= r.Attempts || ctx.Err() != nil {
			return attempt, err
		}
		wait := after
		if wait <= 0 {
			wait = backoff
			backoff *= 2
		}
		wait = min(wait, r.MaxWait)
		if logf != nil {
			logf("%s", red.string(fmt.Sprintf("Slack: %s failed (%v); retrying in %s (attempt %d of %d)", what, err, wait, attempt+1, r.Attempts)))
		}
		if r.Sleep(ctx, wait) != nil {
			return attempt, err // the run ended while waiting; Slack's error says more
		}
	}
}

// transient reports whether another attempt may succeed, and how long Slack asked to wait
// first (0: back off).
func transient(err error) (retry bool, after time.Duration) {
	var rl *slackapi.RateLimitedError
	var sc slackapi.StatusCodeError
	var api slackapi.SlackErrorResponse
	var num *strconv.NumError
	switch {
	case errors.Is(err, context.Canceled):
		return false, 0
	case errors.As(err, &rl):
		return true, rl.RetryAfter
	case errors.As(err, &sc):
		return sc.Retryable(), 0
	case errors.As(err, &api):
		switch api.Err {
		case "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return true, 0
		}
		return false, 0
	case errors.As(err, &num):
		// slack-go could not parse a 429's Retry-After: still a rate limit.
		return true, 0
	case isTimeout(err):
		return true, 0
	case isConnection(err):
		return true, 0
	}
	return false, 0
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}

// isConnection is true for a connection refused, reset or closed mid-response.
func isConnection(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	var ue *url.Error
	switch {
	case errors.As(err, &dns):
		return dns.IsTimeout || dns.IsTemporary
	case errors.As(err, &op):
		return true
	case errors.As(err, &ue):
		return errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF)
	}
	return false
}
