-- On-call swaps (SPEC §6 `/oncall swap`): requests between two people of the
-- pool, their acceptance, undo, and the PagerDuty overrides written for them.
-- Every transition is a conditional UPDATE on status, so the first click wins.

-- +goose Up
CREATE TABLE swaps (
    id              bigserial   PRIMARY KEY,
    requested_by    text        NOT NULL,
    -- party_a gives away window A (their primary shift) and takes window B
    -- (party_b's primary shift); party_b the other way round.
    party_a         text        NOT NULL,
    party_b         text        NOT NULL,
    shift_a         integer     NOT NULL,
    shift_b         integer     NOT NULL,
    a_start         timestamptz NOT NULL,
    a_end           timestamptz NOT NULL,
    b_start         timestamptz NOT NULL,
    b_end           timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
        CONSTRAINT swaps_status_check CHECK (status IN
            ('pending', 'accepted', 'declined', 'cancelled', 'expired', 'obsolete', 'undone', 'failed')),
    a_accepted_at   timestamptz,
    b_accepted_at   timestamptz,
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    decided_at      timestamptz,
    decided_by      text        NOT NULL DEFAULT '',
    undo_by         text        NOT NULL DEFAULT '',
    undo_at         timestamptz,
    -- DMs carrying the request's buttons, updated when it is answered.
    dm_a_ts         text        NOT NULL DEFAULT '',
    dm_b_ts         text        NOT NULL DEFAULT '',
    undo_dm_ts      text        NOT NULL DEFAULT '',
    CONSTRAINT swaps_parties_check CHECK (party_a <> party_b),
    CONSTRAINT swaps_windows_check CHECK (a_end > a_start AND b_end > b_start)
);
CREATE INDEX swaps_party_a_idx ON swaps (party_a, status);
CREATE INDEX swaps_party_b_idx ON swaps (party_b, status);
CREATE INDEX swaps_pending_expiry_idx ON swaps (expires_at) WHERE status = 'pending';

-- One pending request per shift: a row per shift of a pending swap, removed
-- when the swap leaves 'pending'. The primary key refuses a second request.
CREATE TABLE swap_pending_shifts (
    shift   integer PRIMARY KEY,
    swap_id bigint  NOT NULL REFERENCES swaps (id) ON DELETE CASCADE
);
CREATE INDEX swap_pending_shifts_swap_idx ON swap_pending_shifts (swap_id);

-- PagerDuty overrides the bot wrote for a swap's stored overrides.
CREATE TABLE swap_pd_overrides (
    id           bigserial   PRIMARY KEY,
    swap_id      bigint      NOT NULL REFERENCES swaps (id),
    override_id  bigint      NOT NULL,
    schedule_id  text        NOT NULL,
    pd_id        text        NOT NULL,
    pd_user      text        NOT NULL,
    user_id      text        NOT NULL,
    replaces     text        NOT NULL DEFAULT '',
    role         text        NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text        NOT NULL DEFAULT 'active'
        CONSTRAINT swap_pd_overrides_status_check CHECK (status IN ('active', 'removed', 'drifted')),
    created_at   timestamptz NOT NULL,
    changed_at   timestamptz
);
CREATE UNIQUE INDEX swap_pd_overrides_active_idx ON swap_pd_overrides (override_id, schedule_id) WHERE status = 'active';
CREATE INDEX swap_pd_overrides_swap_idx ON swap_pd_overrides (swap_id);
