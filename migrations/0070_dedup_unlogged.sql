-- +goose Up
-- Envelope de-duplication records need no crash durability (they expire
-- after an hour, and handlers are idempotent), and a logged insert waits for
-- a WAL flush: under load that put checkpoint stalls of 50–100 ms on every
-- answer. UNLOGGED skips the WAL; after a PostgreSQL crash the table starts
-- empty, which at worst lets one redelivery through.
ALTER TABLE processed_envelopes SET UNLOGGED;
