-- Weekly and emergency handoffs (SPEC §9). A weekly handoff is keyed by the
-- shift change it hands over (boundary): one row per change, created by the
-- reminder or the first opened modal, posted once, confirmed Ready once. An
-- emergency handoff is one row per departing primary and shift; the
-- volunteer column is claimed by the first "I'll take secondary" click.

-- +goose Up
CREATE TABLE handoffs (
    boundary       timestamptz PRIMARY KEY,
    outgoing       text        NOT NULL,
    incoming       text        NOT NULL,
    reminded_at    timestamptz,
    fields         jsonb       NOT NULL DEFAULT '{}',
    message        text        NOT NULL DEFAULT '',
    posted_by      text        NOT NULL DEFAULT '',
    posted_at      timestamptz,
    channel        text        NOT NULL DEFAULT '',
    ts             text        NOT NULL DEFAULT '',
    ready_channel  text        NOT NULL DEFAULT '',
    ready_ts       text        NOT NULL DEFAULT '',
    ready_by       text        NOT NULL DEFAULT '',
    ready_at       timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE TABLE emergency_handoffs (
    id             bigserial   PRIMARY KEY,
    shift_start    timestamptz NOT NULL,
    shift_end      timestamptz NOT NULL,
    requested_by   text        NOT NULL,
    reason         text        NOT NULL,
    from_primary   text        NOT NULL,
    new_primary    text        NOT NULL,
    volunteer      text        NOT NULL DEFAULT '',
    volunteered_at timestamptz,
    channel        text        NOT NULL DEFAULT '',
    ts             text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL,
    CONSTRAINT emergency_handoffs_once UNIQUE (shift_start, from_primary),
    CONSTRAINT emergency_handoffs_shift_check CHECK (shift_end > shift_start)
);
