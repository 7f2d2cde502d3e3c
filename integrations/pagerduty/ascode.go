package pagerduty

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// maxRawBody bounds how much of a PagerDuty answer is read: a schedule with its
// rendered entries is a few hundred KiB at most.
const maxRawBody = 8 << 20

// ResponseError is a PagerDuty REST answer other than 2xx, after retries
// (429 and 5xx are retried by the client's transport first). Its Error text
// never holds the token.
type ResponseError struct {
	Method, Path string
	Status       int
	Code         int    // PagerDuty error code (2006 authentication failed, 2100 not found, …), 0 when absent
	Message      string // PagerDuty's message, "" when the body was not a JSON error
	Errors       []string
}

func (e *ResponseError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "PagerDuty answered %d %s to %s %s", e.Status, http.StatusText(e.Status), e.Method, e.Path)
	switch {
	case e.Status == http.StatusUnauthorized:
		b.WriteString(": the token was refused; check PAGERDUTY_TOKEN")
	case e.Status == http.StatusForbidden:
		b.WriteString(": the token may not do this (a read-only key cannot write)")
	case e.Status == http.StatusNotFound:
		b.WriteString(": no such rawObject; check the ID in the configuration")
	case e.Status == http.StatusTooManyRequests:
		b.WriteString(": rate limited, and retries ran out; try again in a minute")
	case e.Status >= 500:
		b.WriteString(": PagerDuty is failing, and retries ran out; try again later")
	}
	if e.Message != "" {
		fmt.Fprintf(&b, " (%s", e.Message)
		if e.Code != 0 {
			fmt.Fprintf(&b, ", code %d", e.Code)
		}
		if len(e.Errors) > 0 {
			fmt.Fprintf(&b, ": %s", strings.Join(e.Errors, "; "))
		}
		b.WriteString(")")
	}
	return b.String()
}

// rawJSON sends one REST request through go-pagerduty's Do (headers, token,
// the retrying transport) and decodes a JSON answer into out (when non-nil).
// It exists for read-modify-write: go-pagerduty's structs drop fields they
// do not model and omit zero delays and loops, so a PUT built from them
// could change what the bot must leave alone.
func (c *Client) rawJSON(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		buf, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(buf)
	}
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", method, path, err)
	}
	resp, err := c.pd.Do(req, true)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxRawBody))
	if err != nil {
		return fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		re := &ResponseError{Method: method, Path: path, Status: resp.StatusCode}
		var doc struct {
			Error struct {
				Code    int      `json:"code"`
				Message string   `json:"message"`
				Errors  []string `json:"errors"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &doc) == nil {
			re.Code, re.Message, re.Errors = doc.Error.Code, doc.Error.Message, doc.Error.Errors
		}
		return re
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
	}
	return nil
}

// rawObject is a PagerDuty JSON object kept whole for read-modify-write.
type rawObject = map[string]json.RawMessage
