package syncer

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watcher feeds fsnotify events into the folder as hints. fsnotify has no
// recursive mode on Linux: every directory gets its own watch, added as
// directories appear (and scanned right after, for the mkdir race).
type watcher struct {
	f    *folder
	w    *fsnotify.Watcher
	dirs map[string]bool // absolute paths watched; owned by the event loop
	// readd receives created directories to watch again (see readdTree).
	readd chan string
	// addHook replaces w.Add in tests (simulated ENOSPC).
	addHook func(string) error
}

// watchAddHook, when set (tests), is used instead of fsnotify's Add.
var watchAddHook func(path string) error

func (f *folder) startWatcher(ctx context.Context) {
	w, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		f.toPolling(err)
		return
	}
	wt := &watcher{f: f, w: w, dirs: map[string]bool{}, addHook: watchAddHook, readd: make(chan string, 256)}
	f.mu.Lock()
	f.w = wt
	f.watching = true
	f.mu.Unlock()
	if err := wt.addTree(f.root); err != nil {
		f.toPolling(err)
		return
	}
	go wt.loop(ctx)
}

func (f *folder) closeWatcher() {
	f.mu.Lock()
	w := f.w
	f.w = nil
	f.mu.Unlock()
	if w != nil {
		_ = w.w.Close()
	}
}

// toPolling gives up on watches: the folder is rescanned every PollInterval.
func (f *folder) toPolling(err error) {
	msg := "file watching unavailable, polling every " + f.e.opts.PollInterval.String() + ": " + err.Error()
	if errors.Is(err, ErrWatchLimit) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
		msg = "inotify watch limit reached; polling every " + f.e.opts.PollInterval.String() +
			". Raise it with: sysctl fs.inotify.max_user_watches=524288 (and fs.inotify.max_user_instances)"
	}
	f.closeWatcher()
	f.mu.Lock()
	f.watching = false
	f.watches = 0
	f.watchWarn = msg
	f.mu.Unlock()
	f.e.warn("sync: "+msg, "folder", f.cfg.Path)
	f.emit(Event{Type: EvWarning, Message: msg})
}

func (wt *watcher) add(dir string) error {
	if wt.dirs[dir] {
		return nil
	}
	if max := wt.f.e.opts.MaxWatches; max > 0 && len(wt.dirs) >= max {
		return ErrWatchLimit
	}
	var err error
	if wt.addHook != nil {
		err = wt.addHook(dir)
	}
	if err == nil {
		err = wt.w.Add(dir)
	}
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EMFILE) {
			return errors.Join(ErrWatchLimit, err)
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	wt.dirs[dir] = true
	wt.f.mu.Lock()
	wt.f.watches = len(wt.dirs)
	wt.f.mu.Unlock()
	return nil
}

// addTree watches dir and every non-ignored directory below it.
func (wt *watcher) addTree(dir string) error {
	f := wt.f
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() && p != dir {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			return nil
		}
		if p != f.root {
			rel := filepath.ToSlash(p[len(f.root)+1:])
			if f.ignorer().Match(rel, true) || (f.e.stateDir != "" && p == f.e.stateDir) {
				return fs.SkipDir
			}
		}
		if err := wt.add(p); err != nil {
			if errors.Is(err, ErrWatchLimit) {
				return err
			}
		}
		return nil
	})
}

// removeTree drops the watches of a renamed or removed directory and
// everything below it: fsnotify keeps a watch's path from when it was added,
// so a moved subdirectory would go on reporting under its old name.
// Watches belong to inodes, so this may also drop a watch just added under
// the new name; the delayed re-add of created directories (readd) repairs
// that once fsnotify has processed the move.
func (wt *watcher) removeTree(dir string) {
	for d := range wt.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			_ = wt.w.Remove(d)
			delete(wt.dirs, d)
		}
	}
	wt.f.mu.Lock()
	wt.f.watches = len(wt.dirs)
	wt.f.mu.Unlock()
}

// readdTree watches a created directory again from scratch, shortly after
// its Create: by then fsnotify has handled the IN_MOVE_SELF of a directory
// moved here, whose inode (and watch) it shares.
func (wt *watcher) readdTree(dir string) {
	if _, fi, err := lstatTuple(dir); err != nil || !fi.IsDir() {
		return
	}
	for d := range wt.dirs {
		if d == dir || strings.HasPrefix(d, dir+"/") {
			_ = wt.w.Remove(d)
			delete(wt.dirs, d)
		}
	}
	if err := wt.addTree(dir); errors.Is(err, ErrWatchLimit) {
		wt.f.toPolling(err)
		wt.f.requestFull()
		return
	}
	// Anything created while the watch was being fixed is found by a walk.
	wt.f.hint(filepath.ToSlash(dir[len(wt.f.root)+1:]))
}

func (wt *watcher) loop(ctx context.Context) {
	f := wt.f
	for {
		select {
		case <-ctx.Done():
			return
		case dir := <-wt.readd:
			wt.readdTree(dir)
		case ev, ok := <-wt.w.Events:
			if !ok {
				if ctx.Err() == nil {
					f.toPolling(errors.New("watcher closed"))
					f.requestFull()
				}
				return
			}
			wt.handle(ev)
		case err, ok := <-wt.w.Errors:
			if !ok {
				if ctx.Err() == nil {
					f.toPolling(errors.New("watcher error channel closed"))
					f.requestFull()
				}
				return
			}
			wt.onError(err)
		}
	}
}

// onError: an overflow or any watcher error means events were lost; only a
// full rescan is safe.
func (wt *watcher) onError(err error) {
	f := wt.f
	f.mu.Lock()
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		f.overflows++
	}
	f.mu.Unlock()
	f.emit(Event{Type: EvWarning, Message: "watcher: " + err.Error() + "; full rescan"})
	f.requestFull()
}

func (wt *watcher) handle(ev fsnotify.Event) {
	f := wt.f
	if ev.Name == f.root || !strings.HasPrefix(ev.Name, f.root+"/") {
		if ev.Name == f.root && ev.Has(fsnotify.Remove|fsnotify.Rename) {
			f.requestFull() // the root itself went away: the pass will refuse
		}
		return
	}
	rel := filepath.ToSlash(ev.Name[len(f.root)+1:])
	if ev.Op == fsnotify.Chmod {
		return // attribute noise; mode changes are caught by rescans
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		if wt.dirs[ev.Name] {
			wt.removeTree(ev.Name)
		}
	}
	if ev.Has(fsnotify.Create) {
		if st, fi, err := lstatTuple(ev.Name); err == nil && fi.IsDir() && !f.ignorer().Match(rel, true) {
			_ = st
			if err := wt.addTree(ev.Name); errors.Is(err, ErrWatchLimit) {
				f.toPolling(err)
				f.requestFull()
				return
			}
			name := ev.Name
			time.AfterFunc(100*time.Millisecond, func() {
				select {
				case wt.readd <- name:
				default:
					f.requestFull() // too many at once: a rescan finds their content
				}
			})
		}
	}
	if f.ignorer().Match(rel, false) && !wt.dirs[ev.Name] {
		// Temp, swap and lock files never sync, but an ignored name renamed
		// over a tracked one arrives as Create of the tracked name, so only
		// the event's own path is skipped here.
		return
	}
	f.hint(rel)
}
