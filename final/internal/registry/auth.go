package registry

// auth.go answers a registry's 401: with a bearer token from the token
// service its WWW-Authenticate header names (Docker Hub's flow, anonymous
// unless credentials are known), or with basic auth. Credentials come from
// a docker config.json, the file `docker login` writes:
//
//	{"auths": {"HOST[:PORT]": {"auth": "base64(USER:PASSWORD)"}}}

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"box/final/internal/narrate"
)

// credentials are a user name and password for one registry.
type credentials struct {
	user, password string
	file           string // where they were read
}

// DefaultAuthFile is where docker keeps credentials: $DOCKER_CONFIG, or
// ~/.docker, then config.json.
func DefaultAuthFile() string {
	if dir := os.Getenv("DOCKER_CONFIG"); dir != "" {
		return filepath.Join(dir, "config.json")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker", "config.json")
}

// authFileName is the credentials file in use, for messages.
func (c *Client) authFileName() string {
	if c.opts.AuthFile != "" {
		return c.opts.AuthFile
	}
	if f := DefaultAuthFile(); f != "" {
		return f
	}
	return "~/.docker/config.json"
}

// loadCredentials reads the credentials for domain from file (or the
// default file, which may be missing). None found is not an error: the
// registry may not ask.
func loadCredentials(file, domain string) (*credentials, error) {
	explicit := file != ""
	if !explicit {
		file = DefaultAuthFile()
	}
	if file == "" {
		return nil, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("credentials %s: %w (want docker's config.json: {\"auths\": {\"HOST\": {\"auth\": \"base64 of USER:PASSWORD\"}}})", file, err)
	}
	keys := []string{domain, "https://" + domain, "http://" + domain}
	if domain == "docker.io" {
		keys = append(keys, "https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io")
	}
	for _, k := range keys {
		e, ok := cfg.Auths[k]
		if !ok {
			continue
		}
		if e.Username != "" {
			return &credentials{user: e.Username, password: e.Password, file: file}, nil
		}
		raw, err := base64.StdEncoding.DecodeString(e.Auth)
		user, password, found := strings.Cut(string(raw), ":")
		if err != nil || !found {
			return nil, fmt.Errorf("credentials %s: the auth of %s is not base64 of USER:PASSWORD", file, k)
		}
		return &credentials{user: user, password: password, file: file}, nil
	}
	return nil, nil
}

// wantScope is the token scope a request needs.
func (c *Client) wantScope(push bool) string {
	if push {
		return "repository:" + c.ref.Path + ":pull,push"
	}
	return "repository:" + c.ref.Path + ":pull"
}

// authenticate answers the challenge of a 401, and keeps the header that
// later requests send.
func (c *Client) authenticate(ctx context.Context, challenge string, push bool) error {
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		if c.creds == nil {
			return fmt.Errorf("registry %s asks for a user name and password; put them in %s as docker login does: {\"auths\": {%q: {\"auth\": \"base64 of USER:PASSWORD\"}}}", c.host, c.authFileName(), c.ref.Domain)
		}
		narrate.Explain(narrate.Layers, "The registry wants a password: send %s's, from %s, with each request (basic auth).", c.creds.user, c.creds.file)
		c.setAuth("Basic "+base64.StdEncoding.EncodeToString([]byte(c.creds.user+":"+c.creds.password)), push)
		return nil
	case "bearer":
		token, err := c.fetchToken(ctx, params, push)
		if err != nil {
			return err
		}
		c.setAuth("Bearer "+token, push)
		return nil
	}
	return fmt.Errorf("registry %s asks for authentication box does not know: %q", c.host, challenge)
}

func (c *Client) setAuth(header string, push bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.auth, c.scope = header, c.wantScope(push)
}

// fetchToken asks the token service in the challenge for a token that
// grants this repository's scope (docker's token authentication).
func (c *Client) fetchToken(ctx context.Context, params map[string]string, push bool) (string, error) {
	realm := params["realm"]
	u, err := url.Parse(realm)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", fmt.Errorf("registry %s names a token service box cannot use: realm %q", c.host, realm)
	}
	if u.Scheme == "http" && !isLoopback(u.Host) && !c.plainOK {
		return "", fmt.Errorf("registry %s sends box for a token over plain HTTP to %s; refused (only loopback or an --insecure-registry may use HTTP)", c.host, u.Host)
	}
	q := u.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	q.Set("scope", c.wantScope(push))
	u.RawQuery = q.Encode()
	who := "anonymously"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	if c.creds != nil {
		req.SetBasicAuth(c.creds.user, c.creds.password)
		who = "as " + c.creds.user + " (from " + c.creds.file + ")"
	}
	narrate.Explain(narrate.Layers, "The registry wants a token: ask its token service %s for one, %s, for %s.", u.Host, who, c.wantScope(push))
	resp, err := c.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("token service of %s: %w", c.host, c.netError(err))
	}
	defer drain(resp)
	line := fmt.Sprintf("GET %s://%s%s -> %d", u.Scheme, u.Host, u.RequestURI(), resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		narrate.Line(line)
		return "", fmt.Errorf("token service %s refuses a token for %s: %s; check the name, and the credentials in %s", u.Host, c.ref.Path, resp.Status, c.authFileName())
	}
	var answer struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&answer); err != nil {
		return "", fmt.Errorf("token service %s: its answer is not JSON: %w", u.Host, err)
	}
	token := answer.Token
	if token == "" {
		token = answer.AccessToken
	}
	if token == "" {
		return "", fmt.Errorf("token service %s answered no token", u.Host)
	}
	if answer.ExpiresIn == 0 {
		answer.ExpiresIn = 60 // the spec's default
	}
	narrate.Line(fmt.Sprintf("%s (a token for %ds)", line, answer.ExpiresIn))
	return token, nil
}

// parseChallenge reads `Bearer realm="...",service="...",scope="..."`.
func parseChallenge(h string) (scheme string, params map[string]string) {
	params = map[string]string{}
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	for rest = strings.TrimSpace(rest); rest != ""; {
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var value string
		if strings.HasPrefix(after, `"`) {
			end := strings.Index(after[1:], `"`)
			if end < 0 {
				value, rest = after[1:], ""
			} else {
				value, rest = after[1:end+1], after[end+2:]
			}
		} else {
			value, rest, _ = strings.Cut(after, ",")
		}
		params[key] = value
		rest = strings.TrimLeft(strings.TrimSpace(rest), ",")
		rest = strings.TrimSpace(rest)
	}
	return scheme, params
}
