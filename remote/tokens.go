package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// The Invenio actions a token scope may name (spec §6.1).
const (
	ActionLocationUpdate       = "location-update"
	ActionBucketRead           = "bucket-read"
	ActionBucketReadVersions   = "bucket-read-versions"
	ActionBucketUpdate         = "bucket-update"
	ActionBucketListMultiparts = "bucket-listmultiparts"
	ActionObjectRead           = "object-read"
	ActionObjectReadVersion    = "object-read-version"
	ActionObjectDelete         = "object-delete"
	ActionObjectDeleteVersion  = "object-delete-version"
	ActionMultipartRead        = "multipart-read"
	ActionMultipartDelete      = "multipart-delete"
)

// Actions lists every scope a token may carry: Invenio's actions, then the
// functions API's (defined in functions_api.go).
var Actions = []string{
	ActionLocationUpdate, ActionBucketRead, ActionBucketReadVersions, ActionBucketUpdate,
	ActionBucketListMultiparts, ActionObjectRead, ActionObjectReadVersion, ActionObjectDelete,
	ActionObjectDeleteVersion, ActionMultipartRead, ActionMultipartDelete,
	ActionFunctionRead, ActionFunctionWrite, ActionFunctionCall,
}

// tokenPrefix is the key prefix of token records in the shared DB (core-api.md).
const tokenPrefix = "tok/"

// Token is a stored bearer token. The secret itself is never stored: Hash is
// the SHA-256 of the whole token string, so a copy of the DB does not grant
// access.
type Token struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Hash    string    `json:"hash,omitempty"`
	Admin   bool      `json:"admin"`
	Scopes  []string  `json:"scopes"`
	Buckets []string  `json:"buckets"` // ids or names; empty = every bucket
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"` // zero = never

	// anonymous marks the pseudo-token of AnonymousScopes: its refusals are
	// 401, not 403.
	anonymous bool
}

// Expired reports whether t is past its expiry at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.Expires.IsZero() && !now.Before(t.Expires)
}

// Allows reports whether t grants action on bucket b (nil b: a global action).
// Admin tokens pass everything, like Invenio's superuser.
func (t *Token) Allows(action string, b *storage.Bucket) bool {
	if t == nil {
		return false
	}
	if t.Admin {
		return true
	}
	if !slices.Contains(t.Scopes, action) {
		return false
	}
	if len(t.Buckets) == 0 {
		return true
	}
	if b == nil {
		// A bucket-limited token holds no global permission.
		return false
	}
	for _, id := range t.Buckets {
		if id == b.ID || (b.Name != "" && id == b.Name) {
			return true
		}
	}
	return false
}

// TokenSpec describes a token to create.
type TokenSpec struct {
	Name    string
	Admin   bool
	Scopes  []string
	Buckets []string
	Expires time.Time // zero = never
}

// TokenStore keeps tokens in a metadata.DB under "tok/". It caches verified
// tokens briefly; Revoke through the same TokenStore takes effect at once.
type TokenStore struct {
	db    metadata.DB
	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedToken // by hash of the secret
	// gen counts revocations: a lookup that read the DB before a Revoke
	// must not put what it read into the cache after that Revoke returned.
	gen uint64
	now func() time.Time
}

type cachedToken struct {
	tok *Token
	at  time.Time
}

// tokenCacheTTL bounds how long a token revoked by another process (the CLI
// on the same data directory cannot run beside a server, but a future
// cluster could) stays usable.
const tokenCacheTTL = 10 * time.Second

// NewTokenStore returns a TokenStore over db.
func NewTokenStore(db metadata.DB) *TokenStore {
	return &TokenStore{db: db, cache: map[[sha256.Size]byte]cachedToken{}, now: time.Now}
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Create stores a new token and returns its secret (shown once) and record.
func (ts *TokenStore) Create(ctx context.Context, spec TokenSpec) (string, *Token, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	for _, s := range spec.Scopes {
		if !slices.Contains(Actions, s) {
			return "", nil, fmt.Errorf("%w: unknown scope %q (allowed: %s)", storage.ErrInvalid, s, strings.Join(Actions, ", "))
		}
	}
	if !spec.Admin && len(spec.Scopes) == 0 {
		return "", nil, fmt.Errorf("%w: a token needs --admin or at least one scope", storage.ErrInvalid)
	}
	var idb [8]byte
	var sec [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", nil, err
	}
	if _, err := rand.Read(sec[:]); err != nil {
		return "", nil, err
	}
	id := hex.EncodeToString(idb[:])
	secret := "bfs_" + id + "_" + base64.RawURLEncoding.EncodeToString(sec[:])
	t := &Token{
		ID: id, Name: spec.Name, Hash: hashToken(secret), Admin: spec.Admin,
		Scopes: append([]string{}, spec.Scopes...), Buckets: append([]string{}, spec.Buckets...),
		Created: ts.now().UTC(), Expires: spec.Expires.UTC(),
	}
	if spec.Expires.IsZero() {
		t.Expires = time.Time{}
	}
	data, err := json.Marshal(t)
	if err != nil {
		return "", nil, err
	}
	err = ts.db.Update(func(tx metadata.Tx) error { return tx.Set([]byte(tokenPrefix+id), data) })
	if err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// Lookup verifies a presented secret. Unknown, malformed, expired and
// revoked tokens are all ErrTokenInvalid: the caller learns nothing more.
// Verified tokens are cached by the hash of their secret for
// tokenCacheTTL; a Revoke through this TokenStore takes effect at once.
func (ts *TokenStore) Lookup(ctx context.Context, secret string) (*Token, error) {
	now := ts.now()
	h := sha256.Sum256([]byte(secret))
	ts.mu.Lock()
	c, ok := ts.cache[h]
	gen := ts.gen
	ts.mu.Unlock()
	if ok && now.Sub(c.at) < tokenCacheTTL {
		if c.tok.Expired(now) {
			return nil, ErrTokenInvalid
		}
		return c.tok, nil
	}
	rest, ok := strings.CutPrefix(secret, "bfs_")
	if !ok {
		return nil, ErrTokenInvalid
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 16 {
		return nil, ErrTokenInvalid
	}
	for {
		t, err := ts.get(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			return nil, ErrTokenInvalid
		}
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hex.EncodeToString(h[:]))) != 1 || t.Expired(now) {
			return nil, ErrTokenInvalid
		}
		ts.mu.Lock()
		if ts.gen == gen {
			if len(ts.cache) > 10000 {
				clear(ts.cache)
			}
			ts.cache[h] = cachedToken{tok: t, at: now}
			ts.mu.Unlock()
			return t, nil
		}
		// A Revoke ran meanwhile and what we read may be gone: read again.
		gen = ts.gen
		ts.mu.Unlock()
	}
}

func (ts *TokenStore) get(ctx context.Context, id string) (*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var t Token
	err := ts.db.View(func(tx metadata.Tx) error {
		v, err := tx.Get([]byte(tokenPrefix + id))
		if err != nil {
			return err
		}
		return json.Unmarshal(v, &t)
	})
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, fmt.Errorf("%w: token %s", storage.ErrNotFound, id)
	}
	return &t, err
}

// List returns every token (with hashes cleared), oldest first.
func (ts *TokenStore) List(ctx context.Context) ([]*Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []*Token
	err := ts.db.View(func(tx metadata.Tx) error {
		return tx.Iterate([]byte(tokenPrefix), nil, false, func(_, v []byte) (bool, error) {
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return false, err
			}
			t.Hash = ""
			out = append(out, &t)
			return true, nil
		})
	})
	slices.SortFunc(out, func(a, b *Token) int { return a.Created.Compare(b.Created) })
	return out, err
}

// Revoke deletes a token by id; storage.ErrNotFound if there is none.
func (ts *TokenStore) Revoke(ctx context.Context, id string) error {
	t, err := ts.get(ctx, id)
	if err != nil {
		return err
	}
	err = ts.db.Update(func(tx metadata.Tx) error { return tx.Delete([]byte(tokenPrefix + id)) })
	if err != nil {
		return err
	}
	ts.mu.Lock()
	ts.gen++
	if h, err := hex.DecodeString(t.Hash); err == nil && len(h) == sha256.Size {
		delete(ts.cache, [sha256.Size]byte(h))
	} else {
		clear(ts.cache)
	}
	ts.mu.Unlock()
	return nil
}
