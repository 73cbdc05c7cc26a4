package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// objectCommandNames are the per-key commands that are also reachable as
// `bucketfs object NAME`, the grouping the data model suggests (bucket,
// location, object). The short top-level forms stay: they are what people
// type.
var objectCommandNames = []string{"put", "get", "cat", "ls", "versions", "rm", "restore", "cp", "mv"}

// objectCommand groups copies of the per-key commands under "object".
// Copies, because urfave/cli records a command's parent path in it while
// running, and one command value must not sit under two parents.
func objectCommand(top []*cli.Command) *cli.Command {
	group := &cli.Command{
		Name:  "object",
		Usage: "the per-key commands grouped: put, get, cat, ls, versions, rm, restore, cp, mv",
	}
	for _, c := range top {
		if slices.Contains(objectCommandNames, c.Name) {
			dup := *c
			group.Subcommands = append(group.Subcommands, &dup)
		}
	}
	slices.SortFunc(group.Subcommands, func(a, b *cli.Command) int { return strings.Compare(a.Name, b.Name) })
	return group
}
