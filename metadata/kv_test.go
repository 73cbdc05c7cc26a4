package metadata

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// forEachDB runs a test against badger (in a temp dir) and the memory twin.
func forEachDB(t *testing.T, f func(t *testing.T, db DB)) {
	t.Run("badger", func(t *testing.T) {
		db, err := OpenBadger(t.TempDir(), DefaultBadgerOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		f(t, db)
	})
	t.Run("memory", func(t *testing.T) {
		db := NewMemory()
		t.Cleanup(func() { db.Close() })
		f(t, db)
	})
}

func set(t *testing.T, db DB, kvs ...string) {
	t.Helper()
	if err := db.Update(func(tx Tx) error {
		for i := 0; i < len(kvs); i += 2 {
			if err := tx.Set([]byte(kvs[i]), []byte(kvs[i+1])); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func keys(t *testing.T, db DB, prefix, start string, reverse bool, limit int) string {
	t.Helper()
	var out []string
	var st []byte
	if start != "" {
		st = []byte(start)
	}
	if err := db.View(func(tx Tx) error {
		return tx.Iterate([]byte(prefix), st, reverse, func(k, v []byte) (bool, error) {
			out = append(out, string(k))
			return limit <= 0 || len(out) < limit, nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(out)
}

func TestKVContract(t *testing.T) {
	forEachDB(t, func(t *testing.T, db DB) {
		set(t, db, "a", "0", "p/1", "1", "p/2", "2", "p/3", "3", "p\xff", "x", "q", "4")
		for _, c := range []struct {
			prefix, start string
			reverse       bool
			limit         int
			want          string
		}{
			{"p/", "", false, 0, "[p/1 p/2 p/3]"},
			{"p/", "", true, 0, "[p/3 p/2 p/1]"},
			{"p/", "p/2", false, 0, "[p/2 p/3]"},
			{"p/", "p/2", true, 0, "[p/2 p/1]"},
			{"p/", "p/25", true, 0, "[p/2 p/1]"},
			{"p/", "a", false, 0, "[p/1 p/2 p/3]"},
			{"p/", "z", true, 0, "[p/3 p/2 p/1]"},
			{"p", "", true, 0, "[p\xff p/3 p/2 p/1]"},
			{"p/", "", false, 2, "[p/1 p/2]"},
			{"", "", false, 0, "[a p/1 p/2 p/3 p\xff q]"},
			{"", "", true, 1, "[q]"},
			{"none/", "", false, 0, "[]"},
		} {
			if got := keys(t, db, c.prefix, c.start, c.reverse, c.limit); got != c.want {
				t.Errorf("Iterate(%q, %q, %v) = %s, want %s", c.prefix, c.start, c.reverse, got, c.want)
			}
		}
		// Get, missing keys, delete.
		if err := db.View(func(tx Tx) error {
			v, err := tx.Get([]byte("p/2"))
			if err != nil || string(v) != "2" {
				return fmt.Errorf("get p/2 = %q, %v", v, err)
			}
			if _, err := tx.Get([]byte("nope")); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("get nope: %v", err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// A failed Update leaves nothing behind.
		boom := errors.New("boom")
		if err := db.Update(func(tx Tx) error {
			tx.Set([]byte("p/9"), []byte("9"))
			tx.Delete([]byte("a"))
			return boom
		}); !errors.Is(err, boom) {
			t.Fatalf("update: %v", err)
		}
		if got := keys(t, db, "", "", false, 0); got != "[a p/1 p/2 p/3 p\xff q]" {
			t.Fatalf("after failed update: %s", got)
		}
		// Writes are visible to later reads in the same transaction, and an
		// iterator sees the writes made before it.
		if err := db.Update(func(tx Tx) error {
			tx.Set([]byte("p/0"), []byte("0"))
			tx.Delete([]byte("p/3"))
			if _, err := tx.Get([]byte("p/3")); !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("deleted key still there: %v", err)
			}
			var seen []string
			err := tx.Iterate([]byte("p/"), nil, false, func(k, v []byte) (bool, error) {
				seen = append(seen, string(k))
				// Writing while iterating must not disturb the iteration.
				return true, tx.Set(append([]byte("r/"), k...), v)
			})
			if fmt.Sprint(seen) != "[p/0 p/1 p/2]" {
				return fmt.Errorf("iterate in update saw %v", seen)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if got := keys(t, db, "r/", "", false, 0); got != "[r/p/0 r/p/1 r/p/2]" {
			t.Fatalf("writes during iterate: %s", got)
		}
		// Values handed to Iterate are stable while fn runs; errors stop it.
		stop := errors.New("stop")
		err := db.View(func(tx Tx) error {
			return tx.Iterate([]byte("p/"), nil, false, func(k, v []byte) (bool, error) {
				if !bytes.HasPrefix(k, []byte("p/")) {
					return false, fmt.Errorf("key %q outside prefix", k)
				}
				return false, stop
			})
		})
		if !errors.Is(err, stop) {
			t.Fatalf("iterate error: %v", err)
		}
	})
}

// TestKVSerializable: concurrent read-modify-write increments lose nothing
// when conflicting transactions are retried.
func TestKVSerializable(t *testing.T) {
	forEachDB(t, func(t *testing.T, db DB) {
		var wg sync.WaitGroup
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 25; i++ {
					for {
						err := db.Update(func(tx Tx) error {
							n := 0
							if v, err := tx.Get([]byte("ctr")); err == nil {
								fmt.Sscan(string(v), &n)
							} else if !errors.Is(err, ErrNotFound) {
								return err
							}
							return tx.Set([]byte("ctr"), []byte(fmt.Sprint(n+1)))
						})
						if errors.Is(err, ErrConflict) {
							continue
						}
						if err != nil {
							t.Error(err)
						}
						break
					}
				}
			}()
		}
		wg.Wait()
		db.View(func(tx Tx) error {
			v, err := tx.Get([]byte("ctr"))
			if err != nil || string(v) != "200" {
				t.Errorf("counter = %q, %v; want 200", v, err)
			}
			return nil
		})
	})
}

func TestBadgerReopenDurable(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenBadger(dir, DefaultBadgerOptions())
	if err != nil {
		t.Fatal(err)
	}
	set(t, db, "st/x", "1")
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = OpenBadger(dir, DefaultBadgerOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if got := keys(t, db, "st/", "", false, 0); got != "[st/x]" {
		t.Fatalf("after reopen: %s", got)
	}
	if err := db.(ValueLogGCer).ValueLogGC(0.5); err != nil {
		t.Fatal(err)
	}
}
