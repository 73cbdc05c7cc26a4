package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/remote"
	"github.com/urfave/cli/v2"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:  "token",
		Usage: "manage the bearer tokens of the HTTP API (on --data, or through --remote with an admin --token)",
		Subcommands: []*cli.Command{
			{
				Name:  "create",
				Usage: "create a token; the token is printed alone on the last line",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "admin", Usage: "allow everything"},
					&cli.StringSliceFlag{Name: "scope", Usage: "allowed action (repeatable): " + strings.Join(remote.Actions, ", ")},
					&cli.StringSliceFlag{Name: "bucket", Usage: "limit the scopes to this bucket id or name (repeatable)"},
					&cli.StringFlag{Name: "expires", Usage: "lifetime (90m, 24h, 30d) or an RFC 3339 time"},
					&cli.StringFlag{Name: "name", Usage: "a label shown by token ls"},
				},
				Action: tokenCreate,
			},
			{Name: "ls", Usage: "list tokens (never their secrets)", Flags: []cli.Flag{jsonFlag}, Action: tokenList},
			{Name: "revoke", Usage: "revoke a token by id", ArgsUsage: "ID", Action: tokenRevoke},
		},
	})
}

// parseExpiry reads --expires: a duration (with "d" for days) or a time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(d, 64); err == nil && n > 0 {
			return now.Add(time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return time.Time{}, usagef("--expires %q: want a duration (90m, 24h, 30d) or an RFC 3339 time", s)
	}
	return now.Add(d), nil
}

func tokenSpec(c *cli.Context) (remote.TokenSpec, error) {
	exp, err := parseExpiry(c.String("expires"), time.Now())
	if err != nil {
		return remote.TokenSpec{}, err
	}
	spec := remote.TokenSpec{Name: c.String("name"), Admin: c.Bool("admin"), Scopes: c.StringSlice("scope"), Buckets: c.StringSlice("bucket"), Expires: exp}
	if !spec.Admin && len(spec.Scopes) == 0 {
		return spec, usagef("token create: give --admin or at least one --scope (%s)", strings.Join(remote.Actions, ", "))
	}
	return spec, nil
}

// withTokens runs fn on the token store of the local data directory.
func withTokens(c *cli.Context, fn func(ts *remote.TokenStore) error) error {
	st, err := openLocal(c)
	if err != nil {
		return fmt.Errorf("%w (is a server running on it? then use --remote URL --token ADMIN_TOKEN)", err)
	}
	defer st.Close()
	return fn(remote.NewTokenStore(st.DB()))
}

func tokenAdmin(c *cli.Context) *remote.TokenAdmin {
	return remote.NewTokenAdmin(c.String("remote"), c.String("token"), nil)
}

func tokenCreate(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	spec, err := tokenSpec(c)
	if err != nil {
		return err
	}
	if c.String("remote") != "" {
		t, err := tokenAdmin(c).Create(c.Context, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "created token %s\n", t.ID)
		fmt.Fprintln(c.App.Writer, t.Token)
		return nil
	}
	return withTokens(c, func(ts *remote.TokenStore) error {
		secret, t, err := ts.Create(c.Context, spec)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.ErrWriter, "created token %s\n", t.ID)
		fmt.Fprintln(c.App.Writer, secret)
		return nil
	})
}

func tokenList(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	var rows []remote.RemoteToken
	if c.String("remote") != "" {
		var err error
		if rows, err = tokenAdmin(c).List(c.Context); err != nil {
			return err
		}
	} else {
		err := withTokens(c, func(ts *remote.TokenStore) error {
			ts2, err := ts.List(c.Context)
			for _, t := range ts2 {
				rt := remote.RemoteToken{ID: t.ID, Name: t.Name, Admin: t.Admin, Scopes: t.Scopes, Buckets: t.Buckets, Created: t.Created.Format(time.RFC3339)}
				if !t.Expires.IsZero() {
					e := t.Expires.Format(time.RFC3339)
					rt.Expires = &e
				}
				rows = append(rows, rt)
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if wantJSON(c) {
		if rows == nil {
			rows = []remote.RemoteToken{}
		}
		return printJSON(c, rows)
	}
	t := newTable(c, "ID", "NAME", "ADMIN", "SCOPES", "BUCKETS", "CREATED", "EXPIRES")
	for _, r := range rows {
		exp := "-"
		if r.Expires != nil {
			exp = *r.Expires
		}
		t.row(r.ID, tokenDash(r.Name), strconv.FormatBool(r.Admin), tokenDash(strings.Join(r.Scopes, ",")), tokenDash(strings.Join(r.Buckets, ",")), r.Created, exp)
	}
	return t.flush()
}

func tokenDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func tokenRevoke(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	id := c.Args().First()
	if c.String("remote") != "" {
		return tokenAdmin(c).Revoke(c.Context, id)
	}
	return withTokens(c, func(ts *remote.TokenStore) error { return ts.Revoke(c.Context, id) })
}
