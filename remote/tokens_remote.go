package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// TokenAdmin manages the tokens of a running server over HTTP with an admin
// token (`bucketfs token --remote`): the server holds the data directory,
// so the CLI cannot open it.
type TokenAdmin struct {
	base  string // scheme://host/prefix
	token string
	hc    *http.Client
}

// NewTokenAdmin returns a TokenAdmin for a server URL ("http://h:7480" or
// with a prefix "http://h/api"; "/api" is assumed when none is given; a
// trailing "/files" is ignored).
func NewTokenAdmin(serverURL, adminToken string, hc *http.Client) *TokenAdmin {
	base := strings.TrimRight(serverURL, "/")
	base = strings.TrimSuffix(base, "/files")
	if i := strings.Index(base, "://"); i >= 0 && !strings.Contains(base[i+3:], "/") {
		base += "/api"
	}
	if hc == nil {
		hc = &http.Client{Timeout: time.Minute}
	}
	return &TokenAdmin{base: base, token: adminToken, hc: hc}
}

// RemoteToken is a token as the server reports it.
type RemoteToken struct {
	ID      string   `json:"id"`
	Name    string   `json:"name"`
	Admin   bool     `json:"admin"`
	Scopes  []string `json:"scopes"`
	Buckets []string `json:"buckets"`
	Created string   `json:"created"`
	Expires *string  `json:"expires"`
	Token   string   `json:"token,omitempty"`
}

func (ta *TokenAdmin) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, ta.base+path, rd)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrInvalid, err)
	}
	req.Header.Set("Authorization", "Bearer "+ta.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := ta.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		var eb errorBody
		_ = json.Unmarshal(data, &eb)
		msg := resp.Status
		if eb.Message != nil {
			msg = *eb.Message
		}
		kind := storage.ErrInvalid
		switch resp.StatusCode {
		case http.StatusNotFound:
			kind = storage.ErrNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			kind = storage.ErrPermission
		case http.StatusServiceUnavailable, http.StatusBadGateway:
			kind = storage.ErrUnavailable
		}
		return fmt.Errorf("%w: %s %s: %s", kind, method, path, msg)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Create makes a token on the server; the secret is in the result's Token.
func (ta *TokenAdmin) Create(ctx context.Context, spec TokenSpec) (*RemoteToken, error) {
	body := map[string]any{"name": spec.Name, "admin": spec.Admin, "scopes": nonNil(spec.Scopes), "buckets": nonNil(spec.Buckets)}
	if !spec.Expires.IsZero() {
		body["expires"] = spec.Expires.UTC().Format(time.RFC3339Nano)
	}
	var t RemoteToken
	return &t, ta.do(ctx, http.MethodPost, "/tokens", body, &t)
}

// List returns the server's tokens (without secrets).
func (ta *TokenAdmin) List(ctx context.Context) ([]RemoteToken, error) {
	var out struct {
		Tokens []RemoteToken `json:"tokens"`
	}
	return out.Tokens, ta.do(ctx, http.MethodGet, "/tokens", nil, &out)
}

// Revoke deletes a token by id.
func (ta *TokenAdmin) Revoke(ctx context.Context, id string) error {
	return ta.do(ctx, http.MethodDelete, "/tokens/"+id, nil, nil)
}
