// Package github reads a repository's recent GitHub Actions workflow runs and
// deployments for the deploys diagnostic and the handoff's "infrastructure
// changes of the past shift", over go-github v62. It returns its own small
// structs; errors carry no token and no response bodies.
package github

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	gh "github.com/google/go-github/v62/github"
)

// DefaultAPIURL is GitHub.com's REST base URL (SPEC §3 GITHUB_API_URL).
const DefaultAPIURL = "https://api.github.com/"

// Limits of the window listings: enough for a week of a busy repository,
// bounded so one call cannot page forever.
const (
	maxPages          = 5
	perPage           = 100
	maxDeployStatuses = 50
)

// Options configure a Client.
type Options struct {
	// Token is a GitHub token (read-only is enough); "" calls anonymously.
	Token string
	// APIURL is the REST base URL; "" means DefaultAPIURL. GitHub Enterprise:
	// https://HOST/api/v3/ (a missing trailing slash is added).
	APIURL string
	// HTTPClient is the client to use; nil uses a default one. Its transport
	// is wrapped to retry 429 and 5xx answers.
	HTTPClient *http.Client
	// Retries bounds retries of a 429 or 5xx answer (default 2; <0 none).
	Retries int
}

// Client reads workflow runs and deployments.
type Client struct {
	c *gh.Client
}

// New returns a Client. It fails only on a malformed APIURL.
func New(o Options) (*Client, error) {
	base := o.APIURL
	if base == "" {
		base = DefaultAPIURL
	}
	if !strings.HasSuffix(base, "/") {
		base += "/"
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("GITHUB_API_URL is not an http(s) URL")
	}
	if u.User != nil {
		return nil, errors.New("GITHUB_API_URL must not carry credentials; use GITHUB_TOKEN")
	}
	hc := &http.Client{}
	if o.HTTPClient != nil {
		cp := *o.HTTPClient
		hc = &cp
	}
	retries := o.Retries
	if retries == 0 {
		retries = 2
	}
	hc.Transport = &retryTransport{next: hc.Transport, retries: max(retries, 0)}
	c := gh.NewClient(hc)
	if o.Token != "" {
		c = c.WithAuthToken(o.Token)
	}
	// Setting BaseURL directly keeps a GHES URL as given: WithEnterpriseURLs
	// would append api/v3/ to any host not starting with "api.".
	c.BaseURL = u
	return &Client{c: c}, nil
}

// Run is one GitHub Actions workflow run.
type Run struct {
	ID         int64
	Name       string // the workflow's name
	Title      string // display title (commit message or PR title)
	Branch     string
	Event      string
	Status     string // queued, in_progress, completed, …
	Conclusion string // success, failure, cancelled, … ("" while running)
	Actor      string
	URL        string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time
}

// Finished reports whether the run has completed, and when (its last update).
func (r Run) Finished() (time.Time, bool) {
	if r.Status != "completed" {
		return time.Time{}, false
	}
	return r.UpdatedAt, true
}

// Deployment is one GitHub deployment with its latest status.
type Deployment struct {
	ID          int64
	Environment string
	Ref         string
	SHA         string
	Task        string
	Description string
	Creator     string
	// State is the latest status (success, failure, in_progress, …), "" when none.
	State     string
	CreatedAt time.Time
	// StateAt is when the latest status was set (zero when none).
	StateAt time.Time
}

// Changes are the repository's changes in a time window.
type Changes struct {
	Deployments []Deployment
	Runs        []Run
}

// RecentRuns returns the repository's last n workflow runs, newest first.
func (c *Client) RecentRuns(ctx context.Context, repo string, n int) ([]Run, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	n = min(max(n, 1), perPage)
	runs, _, err := c.c.Actions.ListRepositoryWorkflowRuns(ctx, owner, name, &gh.ListWorkflowRunsOptions{ListOptions: gh.ListOptions{PerPage: n}})
	if err != nil {
		return nil, wrap("list workflow runs", err)
	}
	out := make([]Run, 0, len(runs.WorkflowRuns))
	for _, r := range runs.WorkflowRuns {
		if len(out) == n {
			break
		}
		out = append(out, toRun(r))
	}
	return out, nil
}

// RunsBetween returns the workflow runs created in [from, to), newest first.
func (c *Client) RunsBetween(ctx context.Context, repo string, from, to time.Time) ([]Run, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.ListWorkflowRunsOptions{
		Created:     from.UTC().Format(time.RFC3339) + ".." + to.UTC().Format(time.RFC3339),
		ListOptions: gh.ListOptions{PerPage: perPage},
	}
	var out []Run
	for page := 0; page < maxPages; page++ {
		runs, resp, err := c.c.Actions.ListRepositoryWorkflowRuns(ctx, owner, name, opts)
		if err != nil {
			return nil, wrap("list workflow runs", err)
		}
		for _, r := range runs.WorkflowRuns {
			run := toRun(r)
			if !run.CreatedAt.Before(from) && run.CreatedAt.Before(to) {
				out = append(out, run)
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return out, nil
}

// DeploymentsBetween returns the deployments created in [from, to), newest
// first, each with its latest status.
func (c *Client) DeploymentsBetween(ctx context.Context, repo string, from, to time.Time) ([]Deployment, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	opts := &gh.DeploymentsListOptions{ListOptions: gh.ListOptions{PerPage: perPage}}
	var out []Deployment
pages:
	for page := 0; page < maxPages; page++ {
		deps, resp, err := c.c.Repositories.ListDeployments(ctx, owner, name, opts)
		if err != nil {
			return nil, wrap("list deployments", err)
		}
		for _, d := range deps {
			created := d.GetCreatedAt().Time
			if created.Before(from) {
				break pages // newest first: the rest are older still
			}
			if !created.Before(to) {
				continue
			}
			out = append(out, Deployment{
				ID: d.GetID(), Environment: d.GetEnvironment(), Ref: d.GetRef(), SHA: d.GetSHA(),
				Task: d.GetTask(), Description: d.GetDescription(), Creator: d.GetCreator().GetLogin(),
				CreatedAt: created,
			})
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	for i := range out {
		if i == maxDeployStatuses {
			break
		}
		sts, _, err := c.c.Repositories.ListDeploymentStatuses(ctx, owner, name, out[i].ID, &gh.ListOptions{PerPage: 1})
		if err != nil {
			return nil, wrap("list deployment statuses", err)
		}
		if len(sts) > 0 {
			out[i].State = sts[0].GetState()
			out[i].StateAt = sts[0].GetCreatedAt().Time
		}
	}
	return out, nil
}

// Window returns the deployments and workflow runs of [from, to): the
// "infrastructure changes" of a shift.
func (c *Client) Window(ctx context.Context, repo string, from, to time.Time) (Changes, error) {
	deps, err := c.DeploymentsBetween(ctx, repo, from, to)
	if err != nil {
		return Changes{}, err
	}
	runs, err := c.RunsBetween(ctx, repo, from, to)
	if err != nil {
		return Changes{}, err
	}
	return Changes{Deployments: deps, Runs: runs}, nil
}

func toRun(r *gh.WorkflowRun) Run {
	return Run{
		ID: r.GetID(), Name: r.GetName(), Title: r.GetDisplayTitle(), Branch: r.GetHeadBranch(),
		Event: r.GetEvent(), Status: r.GetStatus(), Conclusion: r.GetConclusion(),
		Actor: r.GetActor().GetLogin(), URL: r.GetHTMLURL(),
		CreatedAt: r.GetCreatedAt().Time, UpdatedAt: r.GetUpdatedAt().Time, StartedAt: r.GetRunStartedAt().Time,
	}
}

func splitRepo(repo string) (owner, name string, err error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q is not a repository (owner/name)", repo)
	}
	return owner, name, nil
}

// Error is a GitHub failure whose message is safe to show: it names the
// operation and the cause (HTTP status, rate limit, network) and never the
// token or a response body. Unwrap gives the underlying error.
type Error struct {
	Msg string
	// Status is the HTTP status GitHub answered (0 when none).
	Status int
	Err    error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func wrap(op string, err error) error {
	var (
		rl  *gh.RateLimitError
		ab  *gh.AbuseRateLimitError
		er  *gh.ErrorResponse
		dns *net.DNSError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: op + ": GitHub did not answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: op + ": cancelled", Err: err}
	case errors.As(err, &rl):
		return &Error{Msg: fmt.Sprintf("%s: GitHub rate limit reached until %s", op, rl.Rate.Reset.UTC().Format("15:04 UTC")), Status: http.StatusForbidden, Err: err}
	case errors.As(err, &ab):
		return &Error{Msg: op + ": GitHub secondary rate limit reached", Status: http.StatusForbidden, Err: err}
	case errors.As(err, &er) && er.Response != nil:
		code := er.Response.StatusCode
		msg := fmt.Sprintf("%s: GitHub answered %d %s", op, code, http.StatusText(code))
		switch code {
		case http.StatusUnauthorized:
			msg += " (check GITHUB_TOKEN)"
		case http.StatusNotFound:
			msg += " (check diagnostics.github.repo and the token's access)"
		}
		return &Error{Msg: msg, Status: code, Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: op + ": GitHub host not found", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: op + ": GitHub refused the connection", Err: err}
	}
	return &Error{Msg: op + ": GitHub is unreachable", Err: err}
}

// retryTransport retries idempotent requests answered 429 or 5xx, honouring
// Retry-After, within the request's context deadline (SPEC §13).
type retryTransport struct {
	next    http.RoundTripper
	retries int
}

// RoundTrip implements http.RoundTripper.
func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next
	if next == nil {
		next = http.DefaultTransport
	}
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	for attempt := 0; ; attempt++ {
		resp, err := next.RoundTrip(req)
		if err != nil || !idempotent || attempt >= t.retries || !retryable(resp.StatusCode) {
			return resp, err
		}
		wait := retryAfter(resp.Header.Get("Retry-After"), attempt)
		if dl, ok := req.Context().Deadline(); ok && time.Until(dl) < wait {
			return resp, nil // no time left to wait: the caller sees this answer
		}
		resp.Body.Close()
		timer := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			timer.Stop()
			return nil, req.Context().Err()
		case <-timer.C:
		}
	}
}

func retryable(code int) bool {
	return code == http.StatusTooManyRequests || (code >= 500 && code != http.StatusNotImplemented)
}

// retryAfter reads a Retry-After in seconds, else backs off 250ms, 500ms, …
func retryAfter(h string, attempt int) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return 250 * time.Millisecond << attempt
}
