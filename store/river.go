package store

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// River defaults.
const (
	// DefaultQueueWorkers is the worker count of the default queue.
	DefaultQueueWorkers = 20
	// DefaultFetchPollInterval is how often River polls for jobs when
	// LISTEN/NOTIFY misses one. Short, because reminders and escalations are
	// user-visible.
	DefaultFetchPollInterval = 100 * time.Millisecond
	// DefaultJobTimeout bounds one job attempt.
	DefaultJobTimeout = time.Minute
)

// RiverOptions configures NewRiver. The zero value gives a working client.
type RiverOptions struct {
	// Queues maps queue names to worker counts; default {"default": 20}.
	Queues map[string]int
	// PeriodicJobs are scheduled by the elected leader among all clients.
	PeriodicJobs []*river.PeriodicJob
	// InsertOnly builds a client that only inserts jobs (also implied by nil
	// workers), for the `oncallbot` subcommands that enqueue and exit.
	InsertOnly bool
	// FetchPollInterval defaults to DefaultFetchPollInterval.
	FetchPollInterval time.Duration
	// JobTimeout defaults to DefaultJobTimeout.
	JobTimeout time.Duration
}

// NewRiver returns a River client on db's pool. With workers it can be
// started to work the configured queues; with nil workers or
// opts.InsertOnly it only inserts. The caller starts and stops it.
func NewRiver(db *DB, workers *river.Workers, log *slog.Logger, opts RiverOptions) (*river.Client[pgx.Tx], error) {
	if db == nil {
		return nil, errors.New("new River client: no database")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := &river.Config{
		Logger:            log,
		FetchPollInterval: opts.FetchPollInterval,
		JobTimeout:        opts.JobTimeout,
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = DefaultFetchPollInterval
	}
	if cfg.JobTimeout == 0 {
		cfg.JobTimeout = DefaultJobTimeout
	}
	// River refuses a poll interval shorter than the fetch cooldown (100 ms
	// by default); keep the two consistent when a short poll is asked for.
	if cfg.FetchPollInterval < river.FetchCooldownDefault {
		cfg.FetchCooldown = cfg.FetchPollInterval
	}

	insertOnly := opts.InsertOnly || workers == nil
	if insertOnly {
		if len(opts.PeriodicJobs) > 0 {
			return nil, fmt.Errorf("new River client: %w: periodic jobs need workers", ErrInvalid)
		}
	} else {
		cfg.Workers = workers
		cfg.PeriodicJobs = opts.PeriodicJobs
		queues := opts.Queues
		if len(queues) == 0 {
			queues = map[string]int{river.QueueDefault: DefaultQueueWorkers}
		}
		cfg.Queues = make(map[string]river.QueueConfig, len(queues))
		for name, n := range queues {
			if n < 1 {
				return nil, fmt.Errorf("new River client: %w: queue %q has %d workers, need at least 1", ErrInvalid, name, n)
			}
			cfg.Queues[name] = river.QueueConfig{MaxWorkers: n}
		}
	}

	client, err := river.NewClient(riverpgxv5.New(db.Pool), cfg)
	if err != nil {
		return nil, fmt.Errorf("new River client: %w", err)
	}
	return client, nil
}
