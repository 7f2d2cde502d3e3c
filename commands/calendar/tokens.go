package calendar

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/contextinject/oncallbot/store"
)

// Kind is what a feed token opens.
type Kind string

// Feed kinds: a person's own shifts, or every shift of the team.
const (
	Personal Kind = "personal"
	Team     Kind = "team"
)

// Token sizes. A token is tokenBytes random bytes from crypto/rand, written
// in unpadded base64url (43 characters). Its first selectorBytes are stored
// in clear (hex) to find the row; the rest, 192 bits, is what a guesser
// would have to find, and only the SHA-256 of the whole token is stored.
const (
	tokenBytes    = 32
	selectorBytes = 8
	tokenLen      = 43 // base64.RawURLEncoding.EncodedLen(tokenBytes)
)

// maxActive bounds the live tokens of each kind a person may hold: every
// `/oncall calendar` issues fresh ones (stored tokens cannot be shown again).
const maxActive = 10

// errNoToken is returned for a malformed, unknown or revoked token; callers
// answer 404 and nothing else.
var errNoToken = errors.New("no such calendar token")

// newToken returns a fresh token, its selector and its hash.
func newToken() (token, selector string, hash []byte, err error) {
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", "", nil, fmt.Errorf("read random token: %w", err)
	}
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(raw), hex.EncodeToString(raw[:selectorBytes]), sum[:], nil
}

// parseToken decodes a token into its selector and hash; ok is false for
// anything that is not a well-formed token.
func parseToken(token string) (selector string, hash []byte, ok bool) {
	if len(token) != tokenLen {
		return "", nil, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != tokenBytes {
		return "", nil, false
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(raw[:selectorBytes]), sum[:], true
}

// issued are the URLs' tokens of one issue.
type issued struct {
	Personal, Team string
}

// issue stores a new personal and team token for user in q (with audit
// rows) and returns them. reset revokes user's earlier tokens first.
func issue(ctx context.Context, q store.DBTX, user string, reset bool, now time.Time) (issued, error) {
	var out issued
	if reset {
		n, err := revokeTokens(ctx, q, user, now)
		if err != nil {
			return out, err
		}
		if err := store.Audit(ctx, q, store.AuditEntry{At: now, Actor: user, Action: "calendar.token.revoke",
			Subject: "calendar:" + user, Details: map[string]any{"revoked": n}}); err != nil {
			return out, err
		}
	}
	for _, kind := range []Kind{Personal, Team} {
		n, err := activeTokens(ctx, q, user, kind)
		if err != nil {
			return out, err
		}
		if n >= maxActive {
			return out, errTooMany
		}
		token, selector, hash, err := newToken()
		if err != nil {
			return out, err
		}
		id, err := insertToken(ctx, q, user, kind, selector, hash, now)
		if err != nil {
			return out, err
		}
		if err := store.Audit(ctx, q, store.AuditEntry{At: now, Actor: user, Action: "calendar.token.issue",
			Subject: "calendar:" + user, Details: map[string]any{"kind": string(kind), "token_id": id}}); err != nil {
			return out, err
		}
		if kind == Personal {
			out.Personal = token
		} else {
			out.Team = token
		}
	}
	return out, nil
}

// errTooMany is returned by issue when the person already holds maxActive
// live tokens of a kind.
var errTooMany = errors.New("too many calendar tokens")

// lookup returns whose feed token opens and which kind. Any malformed,
// unknown or revoked token is errNoToken; the hashes are compared in
// constant time.
func lookup(ctx context.Context, q store.DBTX, token string) (user string, kind Kind, err error) {
	selector, hash, ok := parseToken(token)
	if !ok {
		return "", "", errNoToken
	}
	row, err := tokenBySelector(ctx, q, selector)
	if errors.Is(err, store.ErrNotFound) {
		return "", "", errNoToken
	}
	if err != nil {
		return "", "", err
	}
	if subtle.ConstantTimeCompare(row.Hash, hash) != 1 {
		return "", "", errNoToken
	}
	return row.UserID, row.Kind, nil
}
