-- Non-paging alerts in #monitoring (SPEC §7): one Slack message per
-- Alertmanager alert group, edited as alerts fire and resolve, and who
-- acknowledged it with a ✅ reaction. version counts state changes;
-- rendered_version is the version the Slack message shows, so a failed
-- chat.update is redone by the next notification or reaction.

-- +goose Up
CREATE TABLE monitoring_alerts (
    group_key        text        PRIMARY KEY CONSTRAINT monitoring_alerts_group_key_check CHECK (group_key <> ''),
    channel          text        NOT NULL,
    ts               text        NOT NULL DEFAULT '',
    state            jsonb       NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    rendered_version bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE UNIQUE INDEX monitoring_alerts_message_idx ON monitoring_alerts (channel, ts) WHERE ts <> '';
