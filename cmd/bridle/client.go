package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bridle-gw/bridle/envoy"
	"github.com/bridle-gw/bridle/internal/config"
	"github.com/bridle-gw/bridle/internal/statedir"
)

// apiClient talks to a running gateway's HTTP API, found through the
// config's state dir (endpoints.json).
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(cmd *cobra.Command) (*apiClient, error) {
	stateDir, err := config.PeekStateDir(configPath(cmd))
	if err != nil {
		return nil, err
	}
	dir := statedir.Dir(stateDir)
	eps, err := dir.ReadEndpoints()
	if err != nil {
		return nil, err
	}
	token := os.Getenv("BRIDLE_OPERATOR_TOKEN")
	if token == "" {
		if token, err = dir.ReadOperatorToken(); err != nil {
			return nil, err
		}
	}
	c := &apiClient{base: eps.APIScheme() + "://" + eps.API, token: token, http: &http.Client{Timeout: 10 * time.Second}}
	if eps.APITLS {
		caPEM, err := os.ReadFile(dir.Path("ca.pem"))
		if err != nil {
			return nil, fmt.Errorf("the API uses TLS but its CA is unreadable: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		c.http.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: envoy.ControlPlaneName, MinVersion: tls.VersionTLS12}}
	}
	return c, nil
}

// do sends a JSON request and decodes a JSON answer into out; a non-2xx
// answer is an error carrying the API's own message.
func (c *apiClient) do(method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("bridle API at %s: %w (is `bridle up` running?)", c.base, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, e.Error)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}
