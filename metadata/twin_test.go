package metadata

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// TestTwinParity drives badger and the memory twin with the same random
// writes and compares random iterations, so tests run on the twin mean
// something for badger. Replay with BUCKETFS_TWIN_SEED=<seed>.
func TestTwinParity(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s, err := strconv.ParseUint(os.Getenv("BUCKETFS_TWIN_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (replay: BUCKETFS_TWIN_SEED=%d)", seed, seed)
	r := rand.New(rand.NewPCG(seed, 7))
	bdb, err := OpenBadger(t.TempDir(), DefaultBadgerOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer bdb.Close()
	mdb := NewMemory()
	dbs := []DB{bdb, mdb}
	alphabet := []byte{'a', 'b', '/', 0x00, 0xff}
	randKey := func() []byte {
		k := make([]byte, 1+r.IntN(4))
		for i := range k {
			k[i] = alphabet[r.IntN(len(alphabet))]
		}
		return k
	}
	for step := 0; step < 300; step++ {
		// One transaction of a few writes, sometimes failing.
		type w struct {
			k, v []byte
			del  bool
		}
		var ws []w
		for i := r.IntN(6); i >= 0; i-- {
			ws = append(ws, w{randKey(), []byte(fmt.Sprint(step, i)), r.IntN(4) == 0})
		}
		fail := r.IntN(8) == 0
		for _, db := range dbs {
			err := db.Update(func(tx Tx) error {
				for _, x := range ws {
					var err error
					if x.del {
						err = tx.Delete(x.k)
					} else {
						err = tx.Set(x.k, x.v)
					}
					if err != nil {
						return err
					}
				}
				if fail {
					return errTwinAbort
				}
				return nil
			})
			if err != nil && !(fail && err == errTwinAbort) {
				t.Fatalf("step %d: %v", step, err)
			}
		}
		// A random iteration must agree.
		prefix, start := randKey()[:r.IntN(3)%2], randKey()
		if r.IntN(3) == 0 {
			start = nil
		}
		reverse := r.IntN(2) == 0
		var got [2]string
		for i, db := range dbs {
			db.View(func(tx Tx) error {
				var out []string
				err := tx.Iterate(prefix, start, reverse, func(k, v []byte) (bool, error) {
					out = append(out, fmt.Sprintf("%q=%s", k, v))
					return true, nil
				})
				got[i] = fmt.Sprint(out, err)
				return nil
			})
		}
		if got[0] != got[1] {
			t.Fatalf("step %d: Iterate(%q, %q, reverse=%v):\nbadger %s\nmemory %s", step, prefix, start, reverse, got[0], got[1])
		}
	}
}

var errTwinAbort = fmt.Errorf("abort")
