// Package qdrant reads a Qdrant server's state over its HTTP API (v1.19
// shapes, reference/integrations.md §7): /healthz, the collections, and each
// collection's status and optimizer status. It only reads.
package qdrant

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
)

// MaxCollections bounds the collections whose details are read.
const MaxCollections = 20

const maxBody = 1 << 20

// Client reads one Qdrant server.
type Client struct {
	base   *url.URL
	apiKey string
	hc     *http.Client
}

// New returns a Client for baseURL (http(s)://host:6333). apiKey may be ""
// (it is sent as the api-key header when set). hc nil uses a default client.
func New(baseURL, apiKey string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("the Qdrant URL is not an http(s) URL")
	}
	if u.User != nil {
		return nil, errors.New("the Qdrant URL must not carry credentials")
	}
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: u, apiKey: apiKey, hc: hc}, nil
}

// Collection is one collection's state.
type Collection struct {
	Name string
	// Status is green, yellow (optimizing), grey (optimizations pending) or
	// red (failed operations); "" when the details could not be read.
	Status string
	// OptimizerError is the optimizer's error, "" when its status is "ok".
	OptimizerError string
	Points         int64
	Segments       int64
	IndexedVectors int64
	Warnings       []string
	// Err says why the details could not be read.
	Err string
}

// Alarming reports whether the collection should page: red, or an
// optimizer error (yellow and grey are informational).
func (c Collection) Alarming() bool { return c.Status == "red" || c.OptimizerError != "" }

// Result is the server's state.
type Result struct {
	Healthy    bool
	HealthText string // the /healthz answer, shortened
	Version    string
	// Count is the number of collections; Collections holds at most
	// MaxCollections of them, in the server's order.
	Count       int
	Collections []Collection
}

// Check reads health, version and collections.
func (c *Client) Check(ctx context.Context) (Result, error) {
	var res Result
	body, status, err := c.get(ctx, "/healthz")
	if err != nil {
		return res, err
	}
	res.Healthy = status == http.StatusOK
	res.HealthText = shorten(strings.TrimSpace(string(body)), 80)

	var root struct {
		Result struct {
			Version string `json:"version"`
		} `json:"result"`
		Version string `json:"version"` // before v1.8 the fields were top-level
	}
	if err := c.getJSON(ctx, "/", &root); err == nil {
		res.Version = root.Result.Version
		if res.Version == "" {
			res.Version = root.Version
		}
	}

	var list struct {
		Result struct {
			Collections []struct {
				Name string `json:"name"`
			} `json:"collections"`
		} `json:"result"`
	}
	if err := c.getJSON(ctx, "/collections", &list); err != nil {
		return res, err
	}
	res.Count = len(list.Result.Collections)
	for i, col := range list.Result.Collections {
		if i == MaxCollections {
			break
		}
		res.Collections = append(res.Collections, c.collection(ctx, col.Name))
	}
	return res, nil
}

func (c *Client) collection(ctx context.Context, name string) Collection {
	out := Collection{Name: name}
	var info struct {
		Result struct {
			Status          string          `json:"status"`
			OptimizerStatus json.RawMessage `json:"optimizer_status"`
			SegmentsCount   int64           `json:"segments_count"`
			PointsCount     *int64          `json:"points_count"`
			IndexedVectors  *int64          `json:"indexed_vectors_count"`
			Warnings        []struct {
				Message string `json:"message"`
			} `json:"warnings"`
		} `json:"result"`
	}
	if err := c.getJSON(ctx, "/collections/"+url.PathEscape(name), &info); err != nil {
		out.Err = err.Error()
		return out
	}
	r := info.Result
	out.Status = r.Status
	out.Segments = r.SegmentsCount
	if r.PointsCount != nil {
		out.Points = *r.PointsCount
	}
	if r.IndexedVectors != nil {
		out.IndexedVectors = *r.IndexedVectors
	}
	out.OptimizerError = optimizerError(r.OptimizerStatus)
	for _, w := range r.Warnings {
		out.Warnings = append(out.Warnings, shorten(w.Message, 120))
	}
	return out
}

// optimizerError decodes optimizer_status: the string "ok" or {"error": "…"}.
func optimizerError(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "ok" {
			return ""
		}
		return shorten(s, 200)
	}
	var obj struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.Error != "" {
		return shorten(obj.Error, 200)
	}
	return "unrecognised optimizer status"
}

func (c *Client) getJSON(ctx context.Context, path string, dst any) error {
	body, status, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		msg := fmt.Sprintf("GET %s answered %d %s", path, status, http.StatusText(status))
		if status == http.StatusUnauthorized || status == http.StatusForbidden {
			msg += " (API key?)"
		}
		return &Error{Msg: msg, Status: status}
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return &Error{Msg: fmt.Sprintf("GET %s answered something that is not Qdrant's JSON", path), Err: err}
	}
	return nil
}

func (c *Client) get(ctx context.Context, path string) ([]byte, int, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, &Error{Msg: "cannot build the request", Err: err}
	}
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("api-key", c.apiKey)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, wrap(path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, 0, wrap(path, err)
	}
	return body, resp.StatusCode, nil
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Error is a failed call whose message is safe to show: no URL, no key.
type Error struct {
	Msg    string
	Status int
	Err    error
}

// Error returns the message, safe to show.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

func wrap(path string, err error) error {
	var dns *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Msg: "GET " + path + ": no answer in time", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Msg: "cancelled", Err: err}
	case errors.As(err, &dns):
		return &Error{Msg: "Qdrant host not found (DNS)", Err: err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Msg: "Qdrant refused the connection", Err: err}
	}
	return &Error{Msg: "GET " + path + " failed", Err: err}
}
