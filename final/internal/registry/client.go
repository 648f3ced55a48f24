// Package registry talks to image registries with the distribution API
// (the OCI distribution spec, which Docker Hub and docker-registry speak):
// manifests and blobs under /v2/NAME/, each named by its sha256, fetched
// with net/http alone.
//
// Every request and its answer is narrated with --explain, the way the
// syscalls are: the method, the path, the headers that matter, then the
// status and what came back.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"box/final/internal/image"
	"box/final/internal/narrate"
)

// Options say how to reach registries.
type Options struct {
	// Insecure are registries (host[:port]) spoken to over plain HTTP.
	// Loopback registries always are: nothing crosses a network there.
	Insecure []string
	// AuthFile is a docker config.json with credentials under "auths".
	AuthFile string
	// Platform is the OS/ARCH[/VARIANT] to choose from an index.
	Platform Platform
}

// Client talks to one registry about one repository.
type Client struct {
	ref     image.Reference
	host    string // where the API is: registry-1.docker.io for docker.io
	scheme  string // https, or http once a plainOK registry answered HTTPS with HTTP
	plainOK bool   // loopback, or named by --insecure-registry
	http    *http.Client
	creds   *credentials // nil: anonymous
	opts    Options

	mu    sync.Mutex
	auth  string // the Authorization header that worked last
	scope string // the scope auth was granted for
}

// New makes a client for the repository of ref.
func New(ref image.Reference, opts Options) (*Client, error) {
	// HTTPS always comes first; loopback and --insecure-registry only
	// allow falling back to plain HTTP when the registry answers HTTPS
	// with HTTP, as docker does.
	c := &Client{ref: ref, host: ref.RegistryHost(), scheme: "https", opts: opts}
	c.plainOK = isLoopback(c.host)
	for _, h := range opts.Insecure {
		if h == ref.Domain || h == c.host {
			c.plainOK = true
		}
	}
	creds, err := loadCredentials(opts.AuthFile, ref.Domain)
	if err != nil {
		return nil, err
	}
	c.creds = creds
	c.http = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 15 * time.Second}).DialContext,
			TLSHandshakeTimeout:   15 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
			MaxIdleConnsPerHost:   8,
			ForceAttemptHTTP2:     true,
		},
		// A redirect (to a CDN for blobs) is followed; Go drops the
		// Authorization header when the host changes, as it must.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("more than 5 redirects")
			}
			narrate.Line(fmt.Sprintf("  -> redirected to %s://%s%s", req.URL.Scheme, req.URL.Host, req.URL.Path))
			return nil
		},
	}
	return c, nil
}

// Describe names where the client talks, for the narration.
func (c *Client) Describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s://%s", c.scheme, c.host)
}

// isLoopback tells whether host[:port] is this machine.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// url is the URL of an API path under /v2/NAME/.
func (c *Client) url(p string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%s://%s/v2/%s/%s", c.scheme, c.host, c.ref.Path, p)
}

// request is one API request: how to make it again after a 401, and what
// to narrate of it.
type request struct {
	method  string
	url     string
	headers map[string]string // narrated
	body    func() io.Reader  // nil: no body
	length  int64             // of body
	push    bool              // needs push access, not only pull
}

// do sends r, authenticating when the registry asks (401), and returns
// the response. Only the narration is printed here; the caller narrates
// the answer. The response's body is the caller's to close.
func (c *Client) do(ctx context.Context, r request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, r.method, r.url, nil)
		if err != nil {
			return nil, err
		}
		if r.body != nil {
			req.Body = io.NopCloser(r.body())
			req.ContentLength = r.length
		}
		for k, v := range r.headers {
			req.Header.Set(k, v)
		}
		c.mu.Lock()
		if c.auth != "" && c.scope == c.wantScope(r.push) {
			req.Header.Set("Authorization", c.auth)
		}
		c.mu.Unlock()
		resp, err := c.http.Do(req)
		if err != nil && c.plainOK && req.URL.Scheme == "https" && req.URL.Host == c.host &&
			strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			why := "it is on loopback"
			if !isLoopback(c.host) {
				why = "it is named by --insecure-registry"
			}
			narrate.Explain(narrate.Layers, "%s answers HTTPS with plain HTTP; %s, so speak plain HTTP to it.", c.host, why)
			c.mu.Lock()
			c.scheme = "http"
			c.mu.Unlock()
			r.url = "http" + strings.TrimPrefix(r.url, "https")
			attempt--
			continue
		}
		if err != nil {
			return nil, c.netError(err)
		}
		if resp.StatusCode != http.StatusUnauthorized || attempt > 0 {
			return resp, nil
		}
		challenge := resp.Header.Get("WWW-Authenticate")
		narrate.Line(fmt.Sprintf("%s -> 401 (WWW-Authenticate: %s)", c.requestLine(r, req), challenge))
		drain(resp)
		if err := c.authenticate(ctx, challenge, r.push); err != nil {
			return nil, err
		}
	}
}

// requestLine is how a request is narrated: method, path, headers.
func (c *Client) requestLine(r request, req *http.Request) string {
	line := r.method + " " + req.URL.Path
	if q := req.URL.Query(); len(q) > 0 {
		// An upload's _state is opaque and long: it is shown as "...".
		var parts []string
		for _, k := range sortedKeys(q) {
			v := q.Get(k)
			if len(v) > 80 {
				v = "..."
			}
			parts = append(parts, k+"="+v)
		}
		line += "?" + strings.Join(parts, "&")
	}
	keys := make([]string, 0, len(r.headers))
	for k := range r.headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		line += " " + k + ": " + r.headers[k]
	}
	if req.Header.Get("Authorization") != "" {
		kind, _, _ := strings.Cut(req.Header.Get("Authorization"), " ")
		line += " Authorization: " + kind + " ..."
	}
	return line
}

func sortedKeys(q url.Values) []string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// plural is "1 layer" or "3 layers".
func plural(n int, noun string) string { return image.Plural(n, noun) }

// narrateAnswer prints the request and its answer on one line.
func (c *Client) narrateAnswer(r request, resp *http.Response, what string) {
	if !narrate.Enabled() {
		return
	}
	line := c.requestLine(r, resp.Request) + fmt.Sprintf(" -> %d", resp.StatusCode)
	if what != "" {
		line += " (" + what + ")"
	}
	narrate.Line(line)
}

// netError says in one line why the registry could not be reached.
func (c *Client) netError(err error) error {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("cannot reach registry %s: connection refused; is it running, and is the host and port right?", c.host)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("registry %s did not answer in time: %w", c.host, err)
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Errorf("cannot reach registry %s: no such host %s (check the name, and the network)", c.host, dnsErr.Name)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("registry %s speaks plain HTTP, not HTTPS; if you trust the network to it, add --insecure-registry %s", c.host, c.ref.Domain)
	}
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Errorf("registry %s: %v", c.host, err)
}

// apiError turns an error answer into one line, with the registry's own
// words: the distribution spec's {"errors": [{"code", "message"}]}.
func (c *Client) apiError(resp *http.Response, what string) error {
	defer drain(resp)
	var body struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	var words []string
	for _, e := range body.Errors {
		words = append(words, strings.TrimSpace(e.Code+": "+e.Message))
	}
	said := ""
	if len(words) > 0 {
		said = " (" + strings.Join(words, "; ") + ")"
	}
	codes := ""
	if len(body.Errors) > 0 {
		codes = body.Errors[0].Code
	}
	switch {
	case resp.StatusCode == http.StatusNotFound && codes == "NAME_UNKNOWN":
		return fmt.Errorf("%s: registry %s has no repository %s%s", what, c.host, c.ref.Path, said)
	case resp.StatusCode == http.StatusNotFound && codes == "MANIFEST_UNKNOWN":
		// docker-registry says this for a repository it does not have too.
		return fmt.Errorf("%s: registry %s has no image %s%s%s; check the name and the tag", what, c.host, c.ref.Path, objectSuffix(c.ref), said)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: registry %s answers 404 Not Found%s; check the name", what, c.host, said)
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%s: registry %s refuses access (%s)%s; check the credentials in %s", what, c.host, resp.Status, said, c.authFileName())
	}
	return fmt.Errorf("%s: registry %s answers %s%s", what, c.host, resp.Status, said)
}

// objectSuffix is ":TAG" or "@DIGEST", as a name ends.
func objectSuffix(r image.Reference) string {
	if r.Digest != "" {
		return "@" + r.Digest
	}
	return ":" + r.Tag
}

// drain reads what is left of a body, so the connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}
