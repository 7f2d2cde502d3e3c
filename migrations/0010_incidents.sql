-- Incidents (SPEC §7): the incident with its response deadlines and the
-- position of its escalation chain, the steps and reminders that fired (one
-- row each, so two replicas or a redelivered job never page or remind twice),
-- the DMs and prompts the bot sent about an incident (to keep them current),
-- and the alerts that opened incidents. Timestamps come from the
-- application's injected clock.

-- +goose Up
CREATE TABLE incidents (
    id               bigserial   PRIMARY KEY,
    severity         text        NOT NULL,
    title            text        NOT NULL CONSTRAINT incidents_title_check CHECK (title <> ''),
    status           text        NOT NULL DEFAULT 'triggered'
                     CONSTRAINT incidents_status_check CHECK (status IN ('triggered', 'acknowledged', 'resolved')),
    owner            text        NOT NULL DEFAULT '',
    playbook         text        NOT NULL DEFAULT '',
    source           text        NOT NULL,
    source_ref       text        NOT NULL DEFAULT '',
    pd_id            text        NOT NULL DEFAULT '',
    opened_by        text        NOT NULL,
    channel          text        NOT NULL DEFAULT '',
    ts               text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    acked_at         timestamptz,
    acked_by         text        NOT NULL DEFAULT '',
    acked_via        text        NOT NULL DEFAULT '',
    resolved_at      timestamptz,
    resolved_by      text        NOT NULL DEFAULT '',
    clock_start      timestamptz NOT NULL,
    ack_due          timestamptz,
    investigate_due  timestamptz,
    first_update_due timestamptz,
    resolve_due      timestamptz,
    first_update_at  timestamptz,
    last_activity_at timestamptz NOT NULL,
    impact           text        NOT NULL DEFAULT '',
    latest_update    text        NOT NULL DEFAULT '',
    root_cause       text        NOT NULL DEFAULT '',
    resolution       text        NOT NULL DEFAULT '',
    notes            jsonb       NOT NULL DEFAULT '{}',
    paging           text        NOT NULL DEFAULT 'bot'
                     CONSTRAINT incidents_paging_check CHECK (paging IN ('bot', 'pagerduty')),
    paged            text[]      NOT NULL DEFAULT '{}',
    esc_round        integer     NOT NULL DEFAULT 0,
    esc_loop         integer     NOT NULL DEFAULT 0,
    esc_step         integer     NOT NULL DEFAULT 0,
    esc_due          timestamptz,
    esc_state        text        NOT NULL DEFAULT 'running'
                     CONSTRAINT incidents_esc_state_check CHECK (esc_state IN ('running', 'done', 'stopped', 'off')),
    check_seq        integer     NOT NULL DEFAULT 0
);
-- One open incident per outside reference (an alert fingerprint, a
-- PagerDuty incident): a repeat finds it instead of opening a second.
CREATE UNIQUE INDEX incidents_open_source_ref_key ON incidents (source, source_ref)
    WHERE source_ref <> '' AND status <> 'resolved';
CREATE INDEX incidents_source_ref_idx ON incidents (source, source_ref) WHERE source_ref <> '';
CREATE INDEX incidents_pd_id_idx ON incidents (pd_id) WHERE pd_id <> '';
CREATE INDEX incidents_open_idx ON incidents (created_at) WHERE status <> 'resolved';
CREATE INDEX incidents_created_at_idx ON incidents (created_at);

CREATE TABLE incident_pages (
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    round       integer     NOT NULL,
    loop        integer     NOT NULL,
    step        integer     NOT NULL,
    fired_at    timestamptz NOT NULL,
    recipients  text[]      NOT NULL DEFAULT '{}',
    actor       text        NOT NULL,
    PRIMARY KEY (incident_id, round, loop, step)
);

CREATE TABLE incident_reminders (
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    kind        text        NOT NULL,
    fired_at    timestamptz NOT NULL,
    PRIMARY KEY (incident_id, kind)
);

CREATE TABLE incident_messages (
    id          bigserial   PRIMARY KEY,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    channel     text        NOT NULL,
    ts          text        NOT NULL,
    user_id     text        NOT NULL DEFAULT '',
    kind        text        NOT NULL,
    created_at  timestamptz NOT NULL,
    CONSTRAINT incident_messages_channel_ts_key UNIQUE (channel, ts)
);
CREATE INDEX incident_messages_incident_idx ON incident_messages (incident_id);
CREATE INDEX incident_messages_user_idx ON incident_messages (user_id, incident_id);

CREATE TABLE incident_alerts (
    fingerprint text        NOT NULL,
    incident_id bigint      NOT NULL REFERENCES incidents (id),
    status      text        NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (fingerprint, incident_id)
);
