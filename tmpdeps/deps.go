// Package tmpdeps pins dependencies while packages are being written; removed before release.
package tmpdeps

import (
	_ "github.com/adhocore/gronx"
	_ "github.com/dgraph-io/badger/v4"
	_ "github.com/fsnotify/fsnotify"
	_ "github.com/google/btree"
	_ "github.com/google/uuid"
	_ "github.com/hanwen/go-fuse/v2/fs"
	_ "github.com/urfave/cli/v2"
	_ "github.com/zeebo/blake3"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/sys/unix"
	_ "golang.org/x/time/rate"
	_ "gopkg.in/yaml.v3"
)
