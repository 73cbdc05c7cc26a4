package metadata

import (
	"bytes"
	"fmt"
	"testing"
)

// ReleaseMemory leaves every record readable: only mappings of table pages
// are dropped, the tables stay.
func TestReleaseMemoryKeepsData(t *testing.T) {
	o := DefaultBadgerOptions()
	o.MemTableSize = 1 << 20 // flush to tables quickly
	db, err := OpenBadger(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	val := bytes.Repeat([]byte("v"), 200)
	for batch := 0; batch < 200; batch++ {
		if err := db.Update(func(tx Tx) error {
			for i := 0; i < 100; i++ {
				if err := tx.Set([]byte(fmt.Sprintf("k/%03d/%04d", batch, i)), val); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := db.View(func(tx Tx) error {
			return tx.Iterate([]byte("k/"), nil, false, func(k, v []byte) (bool, error) {
				if !bytes.Equal(v, val) {
					return false, fmt.Errorf("%s: wrong value", k)
				}
				n++
				return true, nil
			})
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 20000 {
		t.Fatal(n)
	}
	for i := 0; i < 3; i++ {
		if err := db.(MemoryReleaser).ReleaseMemory(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 20000 {
			t.Fatalf("after release: %d records", n)
		}
	}
}
