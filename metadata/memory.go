package metadata

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// memDB is the in-memory twin of the badger index, for tests. Writers are
// serialized by one mutex and work on a copy-on-write clone of the tree
// that replaces the original only on commit, so a failed Update leaves no
// trace and readers always see a committed snapshot.
type memDB struct {
	writer sync.Mutex // serializes Update
	mu     sync.Mutex // guards tree and closed
	tree   *btree.BTreeG[kv]
	closed bool
}

type kv struct{ k, v []byte }

func kvLess(a, b kv) bool { return bytes.Compare(a.k, b.k) < 0 }

var (
	_ DB     = (*memDB)(nil)
	_ Syncer = (*memDB)(nil)
)

// NewMemory returns an empty in-memory DB with the same semantics as badger.
func NewMemory() DB {
	return &memDB{tree: btree.NewG[kv](16, kvLess)}
}

func (m *memDB) snapshot() (*btree.BTreeG[kv], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errClosed
	}
	return m.tree.Clone(), nil
}

func (m *memDB) View(fn func(tx Tx) error) error {
	t, err := m.snapshot()
	if err != nil {
		return err
	}
	return fn(&memTx{tree: t})
}

func (m *memDB) Update(fn func(tx Tx) error) error {
	m.writer.Lock()
	defer m.writer.Unlock()
	t, err := m.snapshot()
	if err != nil {
		return err
	}
	if err := fn(&memTx{tree: t, update: true}); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errClosed
	}
	m.tree = t
	return nil
}

// UpdateNoSync is Update: memory has nothing to sync.
func (m *memDB) UpdateNoSync(fn func(tx Tx) error) error { return m.Update(fn) }

// Sync does nothing.
func (m *memDB) Sync() error { return nil }

func (m *memDB) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

type memTx struct {
	tree   *btree.BTreeG[kv]
	update bool
}

func (t *memTx) Get(key []byte) ([]byte, error) {
	it, ok := t.tree.Get(kv{k: key})
	if !ok {
		return nil, ErrNotFound
	}
	return bytes.Clone(it.v), nil
}

func (t *memTx) Set(key, value []byte) error {
	if !t.update {
		return errReadOnly
	}
	if len(key) == 0 {
		return errEmptyKey // as badger
	}
	t.tree.ReplaceOrInsert(kv{k: bytes.Clone(key), v: bytes.Clone(value)})
	return nil
}

func (t *memTx) Delete(key []byte) error {
	if !t.update {
		return errReadOnly
	}
	t.tree.Delete(kv{k: key})
	return nil
}

func (t *memTx) Iterate(prefix, start []byte, reverse bool, fn func(key, value []byte) (bool, error)) error {
	// Like badger, an iterator sees the transaction's writes made before it
	// was created, and none made while it runs.
	snap := t.tree.Clone()
	var ferr error
	visit := func(it kv) bool {
		if !bytes.HasPrefix(it.k, prefix) {
			return false
		}
		more, err := fn(it.k, it.v)
		if err != nil {
			ferr = err
			return false
		}
		return more
	}
	if !reverse {
		from := prefix
		if start != nil && bytes.Compare(start, prefix) > 0 {
			from = start
		}
		snap.AscendGreaterOrEqual(kv{k: from}, visit)
		return ferr
	}
	if start != nil && (bytes.HasPrefix(start, prefix) || bytes.Compare(start, prefix) < 0) {
		snap.DescendLessOrEqual(kv{k: start}, visit)
		return ferr
	}
	if end := PrefixEnd(prefix); end != nil {
		snap.DescendLessOrEqual(kv{k: end}, func(it kv) bool {
			if bytes.Equal(it.k, end) {
				return true
			}
			return visit(it)
		})
	} else {
		snap.Descend(visit)
	}
	return ferr
}
