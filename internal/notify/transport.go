package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxResponseBody bounds what is read of a receiver's answer.
const maxResponseBody = 64 << 10

const userAgent = "bridle-notify/1"

// checkURL accepts https URLs, and http ones only to a loopback host
// (tests, a local relay): webhooks and Slack calls carry signatures and a
// bot token, which must not cross a network in clear text.
func checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse's error quotes the URL, which may itself be a secret
		// (Slack incoming webhooks are bearer URLs).
		return nil, errors.New("not a valid URL")
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, errors.New("not an absolute URL with a host")
	}
	switch u.Scheme {
	case "https":
		return u, nil
	case "http":
		if isLoopback(u.Hostname()) {
			return u, nil
		}
		return nil, errors.New("http is accepted only to a loopback address; use https")
	default:
		return nil, fmt.Errorf("scheme %q: use https", u.Scheme)
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient returns a client with bounded time for every phase, so a
// receiver that stalls ties up a worker for at most timeout, and which
// refuses redirects: a redirect could lead a signed payload or the bot
// token to a place the operator never configured, or down to http.
func newHTTPClient(timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.ResponseHeaderTimeout = timeout
	tr.MaxIdleConnsPerHost = 2
	tr.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// postJSON POSTs body and returns the answer's status and (bounded) body.
// Its error is retryable unless it wraps permanentError, and never
// contains the URL.
func postJSON(ctx context.Context, c *http.Client, target string, header http.Header, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, permanentError{errors.New("building the request failed")}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", userAgent)
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error quotes the URL; keep only the cause (a secret URL must
		// not reach the logs).
		if ue, ok := errors.AsType[*url.Error](err); ok {
			err = ue.Err
		}
		return nil, fmt.Errorf("sending: %w", err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	return answer, statusError(resp)
}

// statusError classifies an answer: 2xx is success; 408 and 429 are
// retried, after Retry-After when given; other 4xx (and 3xx, redirects
// being refused) are permanent: the same request would fail again; 5xx is
// retried.
func statusError(resp *http.Response) error {
	code := resp.StatusCode
	err := fmt.Errorf("receiver answered %d", code)
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		return retryAfterError{err: err, after: retryAfter(resp.Header.Get("Retry-After"))}
	case code < 500:
		return permanentError{err}
	default:
		return err
	}
}

// retryAfter reads a Retry-After of delay-seconds; an HTTP date or garbage
// counts as none.
func retryAfter(v string) time.Duration {
	n, err := strconv.Atoi(v)
	switch {
	case err != nil || n < 0:
		return 0
	case n > int(maxRetryAfter/time.Second):
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}
