package qdrant

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const apiKey = "qdrant-secret-key"

// fakeQdrant answers with the v1.19 shapes; every path but /healthz and /
// requires the API key, as Qdrant does when auth is on.
func fakeQdrant(t *testing.T, collections map[string]string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			t.Errorf("unexpected method %s", r.Method)
		}
		switch r.URL.Path {
		case "/healthz":
			w.Header().Set("Content-Type", "text/plain")
			fmt.Fprint(w, "healthz check passed")
			return
		case "/":
			fmt.Fprint(w, `{"result":{"title":"qdrant - vector search engine","version":"1.19.0","commit":"74f3e85b"},"status":"ok","time":0.0001}`)
			return
		}
		if r.Header.Get("api-key") != apiKey {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":{"error":"Must provide an API key or an Authorization bearer token"},"time":0.0}`)
			return
		}
		if r.URL.Path == "/collections" {
			fmt.Fprint(w, `{"result":{"collections":[{"name":"chunks"},{"name":"arxiv"},{"name":"gone"}]},"status":"ok","time":0.002}`)
			return
		}
		name := r.URL.Path[len("/collections/"):]
		body, ok := collections[name]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, "{\"status\":{\"error\":\"Not found: Collection `%s` doesn't exist!\"},\"time\":0.0}", name)
			return
		}
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCheck(t *testing.T) {
	srv := fakeQdrant(t, map[string]string{
		"chunks": `{"result":{"status":"green","optimizer_status":"ok","segments_count":5,"points_count":1200,"indexed_vectors_count":1024,
			"config":{"params":{"vectors":{"size":4,"distance":"Dot"}}},"payload_schema":{}},"status":"ok","time":0.001}`,
		"arxiv": `{"result":{"status":"red","optimizer_status":{"error":"Service internal error: disk full"},"segments_count":2,
			"warnings":[{"message":"vectors are not indexed"}],"config":{},"payload_schema":{}},"status":"ok","time":0.001}`,
	})
	c, err := New(srv.URL+"/", apiKey, srv.Client())
	require.NoError(t, err)
	res, err := c.Check(context.Background())
	require.NoError(t, err)
	require.Equal(t, Result{
		Healthy: true, HealthText: "healthz check passed", Version: "1.19.0", Count: 3,
		Collections: []Collection{
			{Name: "chunks", Status: "green", Points: 1200, Segments: 5, IndexedVectors: 1024},
			{Name: "arxiv", Status: "red", OptimizerError: "Service internal error: disk full", Segments: 2, Warnings: []string{"vectors are not indexed"}},
			{Name: "gone", Err: "GET /collections/gone answered 404 Not Found"},
		},
	}, res)
	require.False(t, res.Collections[0].Alarming())
	require.True(t, res.Collections[1].Alarming())
	require.NotContains(t, fmt.Sprintf("%+v", res), apiKey)
}

func TestCheckFailures(t *testing.T) {
	srv := fakeQdrant(t, nil)
	c, err := New(srv.URL, "", nil)
	require.NoError(t, err)
	_, err = c.Check(context.Background())
	require.EqualError(t, err, "GET /collections answered 401 Unauthorized (API key?)")

	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(hang)
	c, err = New(slow.URL, "", nil)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Check(ctx)
	require.EqualError(t, err, "GET /healthz: no answer in time")

	_, err = New("http://user:pw@qdrant:6333", "", nil)
	require.ErrorContains(t, err, "must not carry credentials")
}
