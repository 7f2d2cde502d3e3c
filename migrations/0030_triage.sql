-- Triage runs (SPEC §8): one row per incident whose thread walks a playbook,
-- holding a snapshot of the playbook as it was when the run started (so a
-- later configuration change cannot renumber the steps under a click), and
-- one row per step with its thread message, its latest diagnostic results
-- and who marked it done. Timestamps come from the application's injected
-- clock.

-- +goose Up
CREATE TABLE triage_runs (
    incident_id  bigint      PRIMARY KEY,
    incident_key text        NOT NULL DEFAULT '',
    playbook     text        NOT NULL CONSTRAINT triage_runs_playbook_check CHECK (playbook <> ''),
    definition   jsonb       NOT NULL,
    channel      text        NOT NULL,
    thread_ts    text        NOT NULL,
    started_by   text        NOT NULL,
    started_at   timestamptz NOT NULL,
    escalated_at timestamptz
);

CREATE TABLE triage_steps (
    incident_id bigint      NOT NULL REFERENCES triage_runs (incident_id) ON DELETE CASCADE,
    step        integer     NOT NULL CONSTRAINT triage_steps_step_check CHECK (step >= 0),
    message_ts  text        NOT NULL DEFAULT '',
    results     text[]      NOT NULL DEFAULT '{}',
    results_at  timestamptz,
    done_by     text        NOT NULL DEFAULT '',
    done_at     timestamptz,
    PRIMARY KEY (incident_id, step)
);
