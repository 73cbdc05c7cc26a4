package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// intersperse lets flags follow positional arguments
// (`bucketfs put b/k file --json`), which urfave/cli v2 does not: like Go's
// flag package it stops at the first argument. It moves the flags of the
// command line's (sub)command in front of its arguments, keeping order.
func intersperse(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	flags, cmds := app.Flags, app.Commands
	i := 1
	// Global flags, then the command path.
	for i < len(args) {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if isFlag(a) {
			out = append(out, a)
			i++
			if takesValue(flags, a) && i < len(args) {
				out = append(out, args[i])
				i++
			}
			continue
		}
		c := findCommand(cmds, a)
		if c == nil {
			break
		}
		out = append(out, a)
		i++
		flags, cmds = c.Flags, c.Subcommands
		if len(cmds) == 0 {
			break
		}
	}
	var fl, pos []string
	dashdash := false
	for i < len(args) {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			dashdash = true
			break
		}
		if isFlag(a) {
			fl = append(fl, a)
			i++
			if takesValue(flags, a) && i < len(args) {
				fl = append(fl, args[i])
				i++
			}
			continue
		}
		pos = append(pos, a)
		i++
	}
	out = append(out, fl...)
	if dashdash || slices.ContainsFunc(pos, isFlag) {
		out = append(out, "--")
	}
	return append(out, pos...)
}

// isFlag: "-x", "--x", "--x=v"; a lone "-" (stdin) is an argument.
func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// takesValue reports whether flag a consumes the next argument.
func takesValue(flags []cli.Flag, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	for _, f := range flags {
		if slices.Contains(f.Names(), name) {
			_, isBool := f.(*cli.BoolFlag)
			return !isBool
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
