-- Calendar feeds (SPEC §6 /oncall calendar, §11 GET /calendar/<token>.ics),
-- "your shift moved" notices and the weekly look-ahead. Timestamps come from
-- the application's injected clock, so no column has a time default.

-- +goose Up

-- Feed tokens. A token is 32 random bytes; only its first 8 bytes (the
-- selector, hex) and the SHA-256 of all 32 are stored, so the database never
-- holds a usable URL. The selector finds the row; the hash is compared in
-- constant time.
CREATE TABLE calendar_tokens (
    id         bigserial   PRIMARY KEY,
    user_id    text        NOT NULL CONSTRAINT calendar_tokens_user_id_check CHECK (user_id <> ''),
    kind       text        NOT NULL CONSTRAINT calendar_tokens_kind_check CHECK (kind IN ('personal', 'team')),
    selector   text        NOT NULL CONSTRAINT calendar_tokens_selector_key UNIQUE,
    token_hash bytea       NOT NULL CONSTRAINT calendar_tokens_hash_check CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX calendar_tokens_user_active_idx ON calendar_tokens (user_id, kind) WHERE revoked_at IS NULL;

-- Each person's future shifts as last seen, to tell them when one moves.
CREATE TABLE calendar_snapshots (
    user_id    text        PRIMARY KEY,
    taken_at   timestamptz NOT NULL,
    until      timestamptz NOT NULL,
    runs       jsonb       NOT NULL
);

-- "Your shift moved" DMs, written in the transaction that detects the change
-- and delivered after it commits (at most one sender per notice).
CREATE TABLE calendar_notices (
    id         bigserial   PRIMARY KEY,
    user_id    text        NOT NULL,
    body       text        NOT NULL,
    status     text        NOT NULL DEFAULT 'pending'
               CONSTRAINT calendar_notices_status_check CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts   integer     NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL,
    claimed_at timestamptz,
    sent_at    timestamptz
);
CREATE INDEX calendar_notices_open_idx ON calendar_notices (id) WHERE status IN ('pending', 'sending');

-- The weekly look-ahead message of each reminder slot, edited in place.
CREATE TABLE calendar_lookahead (
    slot       timestamptz PRIMARY KEY,
    channel    text        NOT NULL,
    ts         text        NOT NULL DEFAULT '',
    body       text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
