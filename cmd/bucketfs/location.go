package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// locationManager is the location ability of the local store.
type locationManager interface {
	CreateLocation(ctx context.Context, name, uri string, def bool) (*storage.Location, error)
	SetDefaultLocation(ctx context.Context, name string) error
	Locations(ctx context.Context) ([]*storage.Location, error)
}

func init() {
	commands = append(commands, &cli.Command{
		Name:  "location",
		Usage: "storage roots for blobs (the default one is DATA/blobs)",
		Subcommands: []*cli.Command{
			{
				Name:      "add",
				Usage:     "add a location",
				ArgsUsage: "NAME DIR",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "default", Usage: "make it the default for new buckets"}, jsonFlag},
				Action:    locationAdd,
			},
			{Name: "ls", Usage: "list locations", Flags: []cli.Flag{jsonFlag}, Action: locationList},
			{Name: "default", Usage: "make a location the default for new buckets", ArgsUsage: "NAME", Action: locationDefault},
		},
	})
}

func withLocations(c *cli.Context, fn func(lm locationManager) error) error {
	return withStore(c, func(st storage.ObjectStore) error {
		lm, ok := st.(locationManager)
		if !ok {
			return fmt.Errorf("%s: not supported by this store", c.Command.FullName())
		}
		return fn(lm)
	})
}

func locationAdd(c *cli.Context) error {
	if err := nArgs(c, 2, 2); err != nil {
		return err
	}
	return withLocations(c, func(lm locationManager) error {
		l, err := lm.CreateLocation(c.Context, c.Args().Get(0), c.Args().Get(1), c.Bool("default"))
		if err != nil {
			return err
		}
		return printLocations(c, l)
	})
}

func locationList(c *cli.Context) error {
	if err := nArgs(c, 0, 0); err != nil {
		return err
	}
	return withLocations(c, func(lm locationManager) error {
		ls, err := lm.Locations(c.Context)
		if err != nil {
			return err
		}
		if wantJSON(c) {
			if ls == nil {
				ls = []*storage.Location{}
			}
			return printJSON(c, ls)
		}
		return printLocations(c, ls...)
	})
}

func printLocations(c *cli.Context, ls ...*storage.Location) error {
	if wantJSON(c) && len(ls) == 1 {
		return printJSON(c, ls[0])
	}
	t := newTable(c, "NAME", "URI", "DEFAULT", "ID")
	for _, l := range ls {
		t.row(l.Name, l.URI, strconv.FormatBool(l.Default), l.ID)
	}
	return t.flush()
}

func locationDefault(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withLocations(c, func(lm locationManager) error {
		if err := lm.SetDefaultLocation(c.Context, c.Args().First()); err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "default location: %s\n", c.Args().First())
		return nil
	})
}
