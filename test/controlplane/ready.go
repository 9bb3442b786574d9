package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// readyCheck probes a process once; nil means ready.
type readyCheck func(ctx context.Context) error

// probeClient talks to loopback endpoints whose certificates are self-signed by the
// process itself: there is nothing to verify them against yet.
var probeClient = &http.Client{
	Timeout: 2 * time.Second,
	Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: true,
		Proxy:             nil, // never send loopback probes through $HTTPS_PROXY
	},
}

func httpOK(url, token string) readyCheck {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// etcdHealthy checks /health, which reports {"health":"true"} once the member has a
// leader (a single member elects itself within a second or so).
func etcdHealthy(clientURL string) readyCheck {
	url := clientURL + "/health"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"true"`) {
			return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// waiter waits for processes to become ready within the start deadline.
type waiter struct {
	ctx   context.Context
	start time.Time
}

// exitedError reports a process that exited while it was expected to start.
type exitedError struct {
	name, how, logPath, tail string
	portClash                bool
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("%s exited during startup (%s); last %d lines of %s:\n%s", e.name, e.how, tailLines, e.logPath, e.tail)
}

func (w *waiter) waitReady(p *process, ready readyCheck) error {
	var last error
	for {
		if !p.alive() {
			tail := p.tail(tailLines)
			return &exitedError{
				name: p.name, how: p.exitDescription(), logPath: p.logPath, tail: tail,
				portClash: strings.Contains(tail, "address already in use"),
			}
		}
		if last = ready(w.ctx); last == nil {
			return nil
		}
		if err := sleepCtx(w.ctx, 100*time.Millisecond); err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				// Either Options.Timeout or the caller's deadline, whichever came first.
				return fmt.Errorf("%s did not become ready within %s of starting the control plane (%w; last probe: %v); last %d lines of %s:\n%s",
					p.name, time.Since(w.start).Round(time.Second), err, last, tailLines, p.logPath, p.tail(tailLines))
			}
			return fmt.Errorf("start canceled while waiting for %s: %w", p.name, err)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
