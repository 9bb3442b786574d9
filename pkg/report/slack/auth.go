package slack

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// tokenInHeader sends the bot token in the Authorization header instead of the request
// body. slack-go puts it in the form body of every Web API call (token=xoxb-…), where
// anything that records request bodies — a debugging proxy, a WAF, a mock server's
// log — keeps it; Slack accepts it in the header, which such tools know to hide.
type tokenInHeader struct {
	base http.RoundTripper
}

func (t tokenInHeader) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || req.Body == http.NoBody {
		return t.base.RoundTrip(req)
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return t.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(b))
	token := form.Get("token")
	body := string(b)
	if err == nil && token != "" {
		form.Del("token")
		body = form.Encode()
	}
	// A RoundTripper must not change the caller's request: send a copy.
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(strings.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
	if token != "" && out.Header.Get("Authorization") == "" {
		out.Header.Set("Authorization", "Bearer "+token)
	}
	return t.base.RoundTrip(out)
}

// withTokenInHeader returns a copy of c whose requests carry the token in the header.
func withTokenInHeader(c *http.Client) *http.Client {
	cc := *c
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	cc.Transport = tokenInHeader{base: base}
	return &cc
}
