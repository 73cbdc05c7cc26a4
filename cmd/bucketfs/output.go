package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
)

// jsonFlag is accepted globally and by every command that prints.
var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON for scripts instead of tables"}

// wantJSON reports whether --json was given to the command or globally.
func wantJSON(c *cli.Context) bool {
	for _, x := range c.Lineage() {
		if x.Bool("json") {
			return true
		}
	}
	return false
}

func printJSON(c *cli.Context, v any) error {
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table prints aligned columns; the first row is the header.
type table struct {
	w *tabwriter.Writer
}

func newTable(c *cli.Context, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(c.App.Writer, 2, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cols ...string) { fmt.Fprintln(t.w, strings.Join(cols, "\t")) }

func (t *table) flush() error { return t.w.Flush() }

// humanSize formats bytes with binary units (1.5 MiB).
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// limitText shows a size limit, where 0 means none.
func limitText(n int64) string {
	if n == 0 {
		return "-"
	}
	return humanSize(n)
}

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// parseSize reads a byte count: 123, 10K, 5MiB, 1.5G, 2GB (units are
// binary: K = 1024).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		if i := strings.IndexByte("KMGTPE", t[len(t)-1]); i >= 0 {
			t = t[:len(t)-1]
			for range i + 1 {
				mult *= 1024
			}
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, usagef("size %q: want a byte count such as 1000, 64K, 5MiB or 2G", s)
	}
	return int64(f * float64(mult)), nil
}

// printJSONLine prints one compact JSON value per line (a stream).
func printJSONLine(c *cli.Context, v any) error {
	return json.NewEncoder(c.App.Writer).Encode(v)
}
