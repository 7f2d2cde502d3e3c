package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const token = "ghp_secretTOKEN123"

// fakeGitHub serves the v62 shapes of reference/integrations.md §3.3 under a
// GHES-style /api/v3/ prefix, checking method and headers.
func fakeGitHub(t *testing.T, routes map[string]http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("unexpected method %s", r.Method)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+token {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("X-GitHub-Api-Version"); got != "2022-11-28" {
			t.Errorf("X-GitHub-Api-Version = %q", got)
		}
		h, ok := routes[r.URL.Path]
		if !ok {
			t.Errorf("unexpected path %s", r.URL.Path)
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func run(id int, name, status, conclusion, actor string, created, updated time.Time) string {
	return fmt.Sprintf(`{"id":%d,"name":%q,"node_id":"WFR_%d","head_branch":"main","head_sha":"acb5820c","run_number":%d,"run_attempt":1,
	  "event":"push","display_title":"Bump terraform","status":%q,"conclusion":%s,"workflow_id":159038,
	  "html_url":"https://github.com/acme/infra/actions/runs/%d","created_at":%q,"updated_at":%q,"run_started_at":%q,
	  "actor":{"login":%q,"id":1},"head_commit":{"id":"acb5820c","message":"m","timestamp":%q},
	  "repository":{"id":1296269,"name":"infra","full_name":"acme/infra"}}`,
		id, name, id, id, status, conclusion, id, created.Format(time.RFC3339), updated.Format(time.RFC3339), created.Format(time.RFC3339), actor, created.Format(time.RFC3339))
}

func newClient(t *testing.T, srv *httptest.Server) *Client {
	t.Helper()
	c, err := New(Options{Token: token, APIURL: srv.URL + "/api/v3", HTTPClient: srv.Client()})
	require.NoError(t, err)
	return c
}

func TestRecentRuns(t *testing.T) {
	t0 := time.Date(2026, 11, 4, 11, 0, 0, 0, time.UTC)
	srv := fakeGitHub(t, map[string]http.HandlerFunc{
		"/api/v3/repos/acme/infra/actions/runs": func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("per_page"); got != "5" {
				t.Errorf("per_page = %q", got)
			}
			fmt.Fprintf(w, `{"total_count":2,"workflow_runs":[%s,%s]}`,
				run(2, "Deploy", "completed", `"success"`, "octocat", t0, t0.Add(5*time.Minute)),
				run(1, "Build", "in_progress", `null`, "hubot", t0.Add(-time.Hour), t0.Add(-time.Hour)))
		},
	})
	runs, err := newClient(t, srv).RecentRuns(context.Background(), "acme/infra", 5)
	require.NoError(t, err)
	require.Equal(t, []Run{
		{ID: 2, Name: "Deploy", Title: "Bump terraform", Branch: "main", Event: "push", Status: "completed", Conclusion: "success",
			Actor: "octocat", URL: "https://github.com/acme/infra/actions/runs/2", CreatedAt: t0, UpdatedAt: t0.Add(5 * time.Minute), StartedAt: t0},
		{ID: 1, Name: "Build", Title: "Bump terraform", Branch: "main", Event: "push", Status: "in_progress",
			Actor: "hubot", URL: "https://github.com/acme/infra/actions/runs/1", CreatedAt: t0.Add(-time.Hour), UpdatedAt: t0.Add(-time.Hour), StartedAt: t0.Add(-time.Hour)},
	}, runs)
	fin, ok := runs[0].Finished()
	require.True(t, ok)
	require.Equal(t, t0.Add(5*time.Minute), fin)
	_, ok = runs[1].Finished()
	require.False(t, ok)
}

func TestWindowPagesDeploymentsAndRuns(t *testing.T) {
	from := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	to := from.Add(7 * 24 * time.Hour)
	var srv *httptest.Server
	srv = fakeGitHub(t, map[string]http.HandlerFunc{
		"/api/v3/repos/acme/infra/actions/runs": func(w http.ResponseWriter, r *http.Request) {
			if got := r.URL.Query().Get("created"); got != "2026-11-02T09:00:00Z..2026-11-09T09:00:00Z" {
				t.Errorf("created = %q", got)
			}
			if r.URL.Query().Get("page") == "" {
				w.Header().Set("Link", fmt.Sprintf(`<%s/api/v3/repos/acme/infra/actions/runs?page=2>; rel="next", <%s/api/v3/repos/acme/infra/actions/runs?page=2>; rel="last"`, srv.URL, srv.URL))
				fmt.Fprintf(w, `{"total_count":2,"workflow_runs":[%s]}`, run(9, "Deploy", "completed", `"failure"`, "octocat", from.Add(48*time.Hour), from.Add(49*time.Hour)))
				return
			}
			fmt.Fprintf(w, `{"total_count":2,"workflow_runs":[%s]}`, run(8, "Build", "completed", `"success"`, "octocat", from.Add(time.Hour), from.Add(2*time.Hour)))
		},
		"/api/v3/repos/acme/infra/deployments": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `[
			 {"url":"u","id":3,"node_id":"n","sha":"c3","ref":"main","task":"deploy","payload":{},"environment":"production","description":"after","creator":{"login":"octocat","id":1},"created_at":%q,"updated_at":%q,"statuses_url":"s","repository_url":"r"},
			 {"url":"u","id":2,"node_id":"n","sha":"b2","ref":"main","task":"deploy","payload":{},"environment":"production","description":"in window","creator":{"login":"hubot","id":2},"created_at":%q,"updated_at":%q,"statuses_url":"s","repository_url":"r"},
			 {"url":"u","id":1,"node_id":"n","sha":"a1","ref":"main","task":"deploy","payload":{},"environment":"staging","description":"before","creator":{"login":"hubot","id":2},"created_at":%q,"updated_at":%q,"statuses_url":"s","repository_url":"r"}]`,
				to.Add(time.Hour).Format(time.RFC3339), to.Add(time.Hour).Format(time.RFC3339),
				from.Add(24*time.Hour).Format(time.RFC3339), from.Add(24*time.Hour).Format(time.RFC3339),
				from.Add(-time.Hour).Format(time.RFC3339), from.Add(-time.Hour).Format(time.RFC3339))
		},
		"/api/v3/repos/acme/infra/deployments/2/statuses": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `[{"id":1,"state":"success","creator":{"login":"octocat"},"description":"Deployment finished successfully.","environment":"production","target_url":"t","log_url":"l","environment_url":"e","created_at":%q,"updated_at":%q}]`,
				from.Add(24*time.Hour+3*time.Minute).Format(time.RFC3339), from.Add(24*time.Hour+3*time.Minute).Format(time.RFC3339))
		},
	})
	ch, err := newClient(t, srv).Window(context.Background(), "acme/infra", from, to)
	require.NoError(t, err)
	require.Equal(t, []Deployment{{ID: 2, Environment: "production", Ref: "main", SHA: "b2", Task: "deploy", Description: "in window",
		Creator: "hubot", State: "success", CreatedAt: from.Add(24 * time.Hour), StateAt: from.Add(24*time.Hour + 3*time.Minute)}}, ch.Deployments)
	require.Len(t, ch.Runs, 2)
	require.Equal(t, int64(9), ch.Runs[0].ID)
	require.Equal(t, int64(8), ch.Runs[1].ID)
}

func TestErrorsAreSafeAndRetried(t *testing.T) {
	var calls atomic.Int32
	srv := fakeGitHub(t, map[string]http.HandlerFunc{
		"/api/v3/repos/acme/infra/actions/runs": func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintf(w, `{"message":"Bad credentials %s","documentation_url":"https://docs.github.com/rest"}`, token)
		},
	})
	_, err := newClient(t, srv).RecentRuns(context.Background(), "acme/infra", 5)
	require.Error(t, err)
	require.Equal(t, int32(2), calls.Load(), "the 503 is retried")
	var ge *Error
	require.True(t, errors.As(err, &ge))
	require.Equal(t, http.StatusUnauthorized, ge.Status)
	require.Equal(t, "list workflow runs: GitHub answered 401 Unauthorized (check GITHUB_TOKEN)", err.Error())
	require.NotContains(t, err.Error(), token)
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := fakeGitHub(t, map[string]http.HandlerFunc{
		"/api/v3/repos/acme/infra/actions/runs": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		},
	})
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := newClient(t, srv).RecentRuns(ctx, "acme/infra", 5)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "list workflow runs: GitHub did not answer in time", err.Error())
}

func TestNewValidates(t *testing.T) {
	_, err := New(Options{APIURL: "ftp://x"})
	require.Error(t, err)
	_, err = New(Options{APIURL: "https://user:pass@ghe.example.com/api/v3/"})
	require.ErrorContains(t, err, "must not carry credentials")
	require.NotContains(t, err.Error(), "pass")
	c, err := New(Options{})
	require.NoError(t, err)
	require.Equal(t, DefaultAPIURL, c.c.BaseURL.String())
	c, err = New(Options{APIURL: "https://ghe.example.com/api/v3"})
	require.NoError(t, err)
	require.Equal(t, "https://ghe.example.com/api/v3/", c.c.BaseURL.String())
	_, err = c.RecentRuns(context.Background(), "not-a-repo", 5)
	require.ErrorContains(t, err, "is not a repository")
	require.True(t, strings.HasSuffix(c.c.BaseURL.Path, "/"))
}
