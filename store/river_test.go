package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/contextinject/oncallbot/store"
	"github.com/contextinject/oncallbot/store/storetest"
)

type greetArgs struct {
	Name string `json:"name"`
}

func (greetArgs) Kind() string { return "storetest.greet" }

// greetWorker reports the names it greets.
type greetWorker struct {
	river.WorkerDefaults[greetArgs]
	greeted chan string
}

func (w *greetWorker) Work(_ context.Context, job *river.Job[greetArgs]) error {
	w.greeted <- job.Args.Name
	return nil
}

func TestRiverRunsJobs(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	db := storetest.DB(t)
	workers := river.NewWorkers()
	w := &greetWorker{greeted: make(chan string, 1)}
	river.AddWorker(workers, w)

	client, err := store.NewRiver(db, workers, nil, store.RiverOptions{})
	require.NoError(t, err)
	completed, cancelSub := client.Subscribe(river.EventKindJobCompleted)
	defer cancelSub()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, client.Stop(sctx))
	})

	// Jobs inserted by an insert-only client (as a CLI would) are worked too.
	inserter, err := store.NewRiver(db, nil, nil, store.RiverOptions{})
	require.NoError(t, err)
	res, err := inserter.Insert(ctx, greetArgs{Name: "ada"}, nil)
	require.NoError(t, err)

	select {
	case ev := <-completed:
		require.Equal(t, res.Job.ID, ev.Job.ID)
		require.Equal(t, "storetest.greet", ev.Job.Kind)
	case <-time.After(15 * time.Second):
		t.Fatal("job did not complete within 15s")
	}
	require.Equal(t, "ada", <-w.greeted)
}

func TestNewRiverRejectsBadOptions(t *testing.T) {
	t.Parallel()
	db := storetest.DB(t)
	workers := river.NewWorkers()
	river.AddWorker(workers, &greetWorker{greeted: make(chan string, 1)})

	_, err := store.NewRiver(db, workers, nil, store.RiverOptions{Queues: map[string]int{"default": 0}})
	require.ErrorIs(t, err, store.ErrInvalid)

	periodic := river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return greetArgs{}, nil }, nil)
	_, err = store.NewRiver(db, nil, nil, store.RiverOptions{PeriodicJobs: []*river.PeriodicJob{periodic}})
	require.ErrorIs(t, err, store.ErrInvalid)

	_, err = store.NewRiver(nil, workers, nil, store.RiverOptions{})
	require.Error(t, err)

	client, err := store.NewRiver(db, workers, nil, store.RiverOptions{
		Queues:       map[string]int{"default": 2, "escalations": 1},
		PeriodicJobs: []*river.PeriodicJob{periodic},
	})
	require.NoError(t, err)
	require.NotNil(t, client)
}
