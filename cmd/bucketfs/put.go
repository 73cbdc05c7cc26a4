package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
	"golang.org/x/sync/errgroup"
)

// Multipart sizing: Invenio's part limits, and a part count that keeps
// memory and request counts reasonable.
const (
	minPartSize     = 5 << 20
	maxPartSize     = 5 << 30
	maxParts        = 10000
	defaultPartSize = 16 << 20
	partUploaders   = 4
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "put",
		Usage:     "upload a file (or stdin) as the new version of a key",
		ArgsUsage: "BUCKET/KEY [FILE|-]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "if-match", Usage: "only if the head is this version (\"null\": only if there is none)"},
			&cli.StringFlag{Name: "mimetype", Usage: "content type (default: guessed from the key)"},
			&cli.StringSliceFlag{Name: "tag", Usage: "object tag KEY=VALUE (repeatable)"},
			&cli.StringFlag{Name: "multipart-threshold", Value: "64MiB", Usage: "files at least this large are uploaded in parts"},
			&cli.StringFlag{Name: "part-size", Usage: "part size of a multipart upload (default: 16MiB, more for huge files)"},
			jsonFlag,
		},
		Action: putAction,
	})
}

func putAction(c *cli.Context) error {
	if err := nArgs(c, 1, 2); err != nil {
		return err
	}
	bucket, key, err := splitPath(c.Args().Get(0), false)
	if err != nil {
		return err
	}
	src := c.Args().Get(1)
	if src == "" && c.NArg() == 2 {
		return usagef("put: empty file name")
	}
	threshold, err := parseSize(c.String("multipart-threshold"))
	if err != nil {
		return err
	}
	var partSize int64
	if s := c.String("part-size"); s != "" {
		if partSize, err = parseSize(s); err != nil {
			return err
		}
	}
	tags, err := parseTags(c.StringSlice("tag"))
	if err != nil {
		return err
	}
	opts := storage.PutOptions{Size: -1, IfMatch: c.String("if-match"), Mimetype: c.String("mimetype"), Tags: tags}

	var r io.Reader = c.App.Reader
	var f *os.File
	if src == "" && storage.IsDirMarker(key) {
		r = eofReader{} // "put b/dir/" makes an empty directory
	} else if src != "" && src != "-" {
		if f, err = os.Open(src); err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return usagef("put: %s is a directory", src)
		}
		if fi.Mode().IsRegular() {
			opts.Size = fi.Size()
		}
		r = f
	}
	return withStore(c, func(st storage.ObjectStore) error {
		var v *storage.ObjectVersion
		var err error
		if f != nil && opts.Size >= threshold && opts.Size > minPartSize {
			v, err = putMultipart(c.Context, st, bucket, key, f, opts, partSize)
		} else {
			v, err = st.Put(c.Context, bucket, key, r, opts)
		}
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, v)
		}
		fmt.Fprintf(c.App.Writer, "%s/%s version %s (%s, %s)\n", bucket, key, v.VersionID, humanSize(v.Size()), v.File.BLAKE3)
		return nil
	})
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// choosePartSize picks a part size within Invenio's limits that does not
// divide size exactly (real Invenio servers cannot take a full-size last
// part, spec §8.3).
func choosePartSize(size, want int64) int64 {
	ps := want
	if ps <= 0 {
		ps = defaultPartSize
	}
	ps = max(ps, minPartSize, (size+maxParts-2)/(maxParts-1))
	ps = min(ps, maxPartSize)
	if size%ps == 0 && ps < maxPartSize {
		ps++
	}
	return ps
}

// putMultipart uploads f in parts, a few at a time; a failed upload is aborted.
func putMultipart(ctx context.Context, st storage.ObjectStore, bucket, key string, f io.ReaderAt, opts storage.PutOptions, partSize int64) (*storage.ObjectVersion, error) {
	size := opts.Size
	ps := choosePartSize(size, partSize)
	mp, err := st.InitMultipart(ctx, bucket, key, size, ps, opts)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partUploaders)
	for n := range mp.Parts() {
		off := int64(n) * ps
		n, length := n, min(ps, size-off)
		g.Go(func() error {
			_, err := st.UploadPart(gctx, mp.UploadID, n, io.NewSectionReader(f, off, length), length)
			if err != nil {
				return fmt.Errorf("part %d of %s: %w", n, path.Join(bucket, key), err)
			}
			return nil
		})
	}
	err = g.Wait()
	var v *storage.ObjectVersion
	if err == nil {
		v, err = st.CompleteMultipart(ctx, mp.UploadID)
	}
	if err != nil {
		// Free the reservation even when ctx was cancelled.
		if aerr := st.AbortMultipart(context.WithoutCancel(ctx), mp.UploadID); aerr != nil && !errors.Is(aerr, storage.ErrNotFound) {
			err = fmt.Errorf("%w (and aborting upload %s: %v)", err, mp.UploadID, aerr)
		}
		return nil, err
	}
	return v, nil
}
