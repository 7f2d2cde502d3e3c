-- Foundation tables shared by every feature: the audit trail, envelope
-- de-duplication, rotation overrides, small durable settings and
-- exactly-once cron slots. Timestamps always come from the application's
-- injected clock, so no column has a time default.

-- +goose Up
CREATE TABLE audit_log (
    id      bigserial   PRIMARY KEY,
    at      timestamptz NOT NULL,
    actor   text        NOT NULL,
    action  text        NOT NULL,
    subject text        NOT NULL,
    details jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject_at_idx ON audit_log (subject, at);
CREATE INDEX audit_log_at_idx ON audit_log (at);

CREATE TABLE processed_envelopes (
    key text        PRIMARY KEY,
    at  timestamptz NOT NULL
);
CREATE INDEX processed_envelopes_at_idx ON processed_envelopes (at);

CREATE TABLE overrides (
    id         bigserial   PRIMARY KEY,
    role       text        NOT NULL CONSTRAINT overrides_role_check CHECK (role IN ('primary', 'secondary')),
    user_id    text        NOT NULL CONSTRAINT overrides_user_id_check CHECK (user_id <> ''),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    reason     text        NOT NULL DEFAULT '',
    replaces   text        NOT NULL DEFAULT '',
    source     text        NOT NULL DEFAULT '',
    ref        text        NOT NULL DEFAULT '',
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    CONSTRAINT overrides_window_check CHECK (ends_at > starts_at)
);
CREATE INDEX overrides_active_ends_at_idx ON overrides (ends_at) WHERE deleted_at IS NULL;
CREATE INDEX overrides_ref_idx ON overrides (ref) WHERE ref <> '';

CREATE TABLE kv (
    key        text        PRIMARY KEY,
    value      jsonb       NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE cron_runs (
    job         text        NOT NULL,
    slot        timestamptz NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    status      text        NOT NULL DEFAULT 'running',
    PRIMARY KEY (job, slot)
);
