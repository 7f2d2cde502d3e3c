package pagerduty

import (
	"context"
	"errors"
	"fmt"
	"strings"

	pd "github.com/PagerDuty/go-pagerduty"
)

// User is a PagerDuty user.
type User struct {
	ID    string
	Name  string
	Email string
}

// ErrNoUser is returned (wrapped) when no PagerDuty user has the email asked for.
var ErrNoUser = errors.New("no PagerDuty user with that email")

func userOf(u pd.User) User {
	name := u.Name
	if name == "" {
		name = u.Summary
	}
	return User{ID: u.ID, Name: name, Email: u.Email}
}

// UserByEmail finds the user whose email is email. PagerDuty's query also
// matches names and parts of addresses, so results are filtered for an
// exact, case-insensitive match (as PagerDuty's Terraform provider does).
func (c *Client) UserByEmail(ctx context.Context, email string) (User, error) {
	email = strings.TrimSpace(email)
	if email == "" {
		return User{}, fmt.Errorf("find PagerDuty user: %w: email is empty", ErrNoUser)
	}
	opts := pd.ListUsersOptions{Limit: 100, Query: email}
	for page := 0; page < maxPages; page++ {
		resp, err := c.pd.ListUsersWithContext(ctx, opts)
		if err != nil {
			return User{}, fmt.Errorf("find PagerDuty user %s: %w", email, err)
		}
		for _, u := range resp.Users {
			if strings.EqualFold(u.Email, email) {
				return userOf(u), nil
			}
		}
		if !resp.More || len(resp.Users) == 0 {
			break
		}
		opts.Offset += uint(len(resp.Users))
	}
	return User{}, fmt.Errorf("find PagerDuty user %s: %w", email, ErrNoUser)
}
