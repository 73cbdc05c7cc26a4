package fusefs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/bucketfs/bucketfs/storage"
)

// A file and a directory of the same name (possible through the API) are
// listed once, as the file, also when keys sorting between "x" and "x/"
// ("x-a", "x.b") separate them in the store's key order, and across page
// boundaries of the store's listing.
func TestListingHidesDirectoryBehindFile(t *testing.T) {
	for _, plus := range []bool{false, true} {
		t.Run(fmt.Sprintf("readdirplus=%v", plus), func(t *testing.T) {
			opts := DefaultOptions()
			opts.ReadDirPlus = plus
			s, b := setupOpts(t, opts)
			ctx := context.Background()
			var keys []string
			// Enough names between "x" and "x/" ('#' sorts before '/') to
			// put the two on different pages of the store's listing.
			for i := range listPage + 10 {
				keys = append(keys, fmt.Sprintf("x#%05d", i))
			}
			keys = append(keys, "x", "x-a", "x-a/in", "x.b", "x/in", "x/deeper/f", "y/", "y/f", "z")
			for _, k := range keys {
				if _, err := s.Put(ctx, "b", k, strings.NewReader(k), storage.PutOptions{Size: -1}); err != nil {
					t.Fatal(err)
				}
			}
			ents, err := os.ReadDir(b)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			types := map[string]os.FileMode{}
			for _, e := range ents {
				if !strings.HasPrefix(e.Name(), "x#") {
					names = append(names, e.Name())
				}
				types[e.Name()] = e.Type()
			}
			if want := []string{"x", "x-a", "x.b", "y", "z"}; !slices.Equal(names, want) {
				t.Fatalf("listing %v, want %v", names, want)
			}
			if len(ents) != listPage+10+5 {
				t.Fatalf("%d entries, want %d", len(ents), listPage+15)
			}
			if types["x"] != 0 || types["x-a"] != 0 || types["y"] != os.ModeDir {
				t.Fatalf("types %v", types)
			}
			for _, name := range []string{"x", "x-a", "x#00007"} {
				fi, err := os.Lstat(filepath.Join(b, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.IsDir() || fi.Size() != int64(len(name)) {
					t.Fatalf("%s: dir %v size %d", name, fi.IsDir(), fi.Size())
				}
			}
		})
	}
}

// With READDIRPLUS the attributes and inode numbers a listing hands the
// kernel are the ones lookup gives, and a file still open for writing
// (not yet in the store) is listed with its local size.
func TestReadDirPlusAttributesMatchLookup(t *testing.T) {
	opts := DefaultOptions()
	opts.ReadDirPlus = true
	s, b := setupOpts(t, opts)
	ctx := context.Background()
	attrs := map[string]string{attrMode: "384", attrUID: "123", attrGID: "456", attrMtime: "1700000000123456789"}
	if _, err := s.Put(ctx, "b", "d/f", strings.NewReader("12345"), storage.PutOptions{Size: -1, Attrs: attrs}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "b", "d/l", strings.NewReader(""), storage.PutOptions{Size: 0, Attrs: map[string]string{attrSymlink: "f"}}); err != nil {
		t.Fatal(err)
	}
	open, err := os.Create(filepath.Join(b, "d", "open"))
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if _, err := open.WriteString("abc"); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(b, "d"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"f", "l", "open"}) {
		t.Fatalf("listing %v", names)
	}
	fi, err := os.Lstat(filepath.Join(b, "d", "f"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Size() != 5 || fi.Mode().Perm() != 0o600 || st.Uid != 123 || st.Gid != 456 || fi.ModTime().UnixNano() != 1700000000123456789 {
		t.Fatalf("attributes %v %v uid %d gid %d %v", fi.Size(), fi.Mode(), st.Uid, st.Gid, fi.ModTime())
	}
	if st.Ino != inoOf('f', "b", "d/f") {
		t.Fatalf("inode %d, want %d", st.Ino, inoOf('f', "b", "d/f"))
	}
	if fi, err := os.Lstat(filepath.Join(b, "d", "l")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("symlink: %v %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(b, "d", "open")); err != nil || fi.Size() != 3 {
		t.Fatalf("open file: %v %v", fi, err)
	}
}
