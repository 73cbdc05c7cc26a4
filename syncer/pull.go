package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zeebo/blake3"

	"github.com/bucketfs/bucketfs/storage"
)

// pullPass brings remote changes into the folder (modes pull and both):
// new and changed heads are downloaded through a temp file and renamed into
// place; a path changed on both sides keeps the local file and gets the
// remote content as a *.sync-conflict-* file beside it; remote deletes
// remove local files only if they are unchanged since we last synced them.
func (f *folder) pullPass(ctx context.Context) error {
	if err := f.checkRoot(); err != nil {
		f.emit(Event{Type: EvHeld, Message: err.Error() + "; nothing pulled"})
		return err
	}
	seen := map[string]bool{}
	after := ""
	for {
		res, err := f.e.store.List(ctx, f.cfg.Bucket, storage.ListOptions{Prefix: f.cfg.Prefix, After: after, Limit: 1000})
		if err != nil {
			return fmt.Errorf("list %s: %w", f.cfg.Bucket, err)
		}
		for _, v := range res.Objects {
			rel := strings.TrimPrefix(v.Key, f.cfg.Prefix)
			seen[rel] = true
			if v.File == nil || storage.IsDirMarker(v.Key) || f.ignorer().Match(rel, false) {
				continue
			}
			if err := f.pullOne(ctx, rel, v); err != nil && ctx.Err() == nil {
				f.emit(Event{Type: EvError, Path: rel, Key: v.Key, Err: err.Error()})
			}
		}
		if res.Next == "" || len(res.Objects) == 0 {
			break
		}
		after = res.Next
	}
	// Remote deletes.
	var gone []string
	recs := map[string]*record{}
	err := f.e.j.each(f.fid, "", func(rel string, rec *record) bool {
		if !seen[rel] && rec.VersionID != "" {
			gone = append(gone, rel)
			recs[rel] = rec
		}
		return true
	})
	if err != nil {
		return err
	}
	if n := len(gone); n > 0 && f.e.opts.MaxDelete >= 0 && n > f.e.opts.MaxDelete {
		f.emit(Event{Type: EvHeld, Message: fmt.Sprintf("%d remote deletes exceed --max-delete; no local file removed", n)})
		return nil
	}
	for _, rel := range gone {
		rec := recs[rel]
		st, _, err := lstatTuple(f.abs(rel))
		if err == nil && !sameContentStat(st, rec.Stat) {
			continue // changed locally: the push side uploads it again
		}
		if err == nil {
			if err := os.Remove(f.abs(rel)); err != nil {
				f.emit(Event{Type: EvError, Path: rel, Err: err.Error()})
				continue
			}
		}
		_ = f.e.j.del(f.fid, rel)
		f.emit(Event{Type: EvDelete, Path: rel, Key: rec.Key, Message: "deleted remotely"})
	}
	return nil
}

func (f *folder) pullOne(ctx context.Context, rel string, v *storage.ObjectVersion) error {
	rec, err := f.e.j.get(f.fid, rel)
	if err != nil {
		return err
	}
	if rec != nil && rec.VersionID == v.VersionID {
		return nil
	}
	abs := f.abs(rel)
	st, fi, lerr := lstatTuple(abs)
	if rec != nil && v.File.BLAKE3 != "" && rec.Hash == v.File.BLAKE3 {
		rec.VersionID = v.VersionID // same content written again remotely
		return f.e.j.put(f.fid, rel, rec)
	}
	localChanged := lerr == nil && (rec == nil || !sameContentStat(rec.Stat, st))
	if localChanged && fi.Mode().IsRegular() {
		if h, err := hashFile(abs, st); err == nil && h == v.File.BLAKE3 {
			return f.e.j.put(f.fid, rel, &record{Stat: st, Hash: h, Key: v.Key, VersionID: v.VersionID})
		}
		// Both sides changed: keep ours, put theirs beside it.
		ckey := conflictKey(rel, time.Now(), f.e.opts.Hostname)
		if _, _, err := f.download(ctx, ckey, v); err != nil {
			return err
		}
		f.addConflict(Conflict{Path: rel, Key: v.Key, Theirs: v.VersionID, Copy: ckey, Time: time.Now()})
		return nil
	}
	nst, hash, err := f.download(ctx, rel, v)
	if err != nil {
		return err
	}
	if err := f.e.j.put(f.fid, rel, &record{Stat: nst, Hash: hash, Key: v.Key, VersionID: v.VersionID}); err != nil {
		return err
	}
	f.emit(Event{Type: EvDownload, Path: rel, Key: v.Key, Bytes: v.Size(), Version: v.VersionID})
	return nil
}

// download writes version v to rel through a temp file and a rename.
func (f *folder) download(ctx context.Context, rel string, v *storage.ObjectVersion) (statTuple, string, error) {
	abs := f.abs(rel)
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return statTuple{}, "", err
	}
	if target, ok := v.Attrs["symlink"]; ok {
		tmp := filepath.Join(filepath.Dir(abs), ".bucketfs-tmp-"+strconv.FormatInt(time.Now().UnixNano(), 36))
		if err := os.Symlink(target, tmp); err != nil {
			return statTuple{}, "", err
		}
		if err := os.Rename(tmp, abs); err != nil {
			os.Remove(tmp)
			return statTuple{}, "", err
		}
		st, _, err := lstatTuple(abs)
		return st, "link:" + target, err
	}
	rc, _, err := f.e.store.Get(ctx, f.cfg.Bucket, v.Key, v.VersionID, 0, -1)
	if err != nil {
		return statTuple{}, "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(abs), ".bucketfs-tmp-*")
	if err != nil {
		return statTuple{}, "", err
	}
	h := blake3.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), rc)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if m, perr := strconv.ParseUint(v.Attrs["mode"], 10, 32); err == nil && perr == nil {
		err = os.Chmod(tmp.Name(), fs.FileMode(m).Perm())
	}
	if err == nil {
		err = os.Rename(tmp.Name(), abs)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return statTuple{}, "", err
	}
	st, _, err := lstatTuple(abs)
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		return st, "", err
	}
	return st, hashString(h.Sum(nil)), err
}
