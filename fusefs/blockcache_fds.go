package fusefs

import (
	"container/list"
	"os"
	"sync"
)

// openBlocks keeps the most recently read block files open, so the many
// FUSE reads that fall into one block cost no open(2)/fstat(2) each.
// Blocks are named by content, so a file kept open after its block was
// evicted (unlinked) or fetched again still holds the right bytes.
type openBlocks struct {
	mu  sync.Mutex
	max int
	m   map[string]*openBlock
	lru *list.List // of *openBlock, front = most recent
}

// openBlock is one shared open block file; refs counts its readers.
type openBlock struct {
	f    *os.File
	name string
	refs int
	el   *list.Element // nil once dropped from the set
}

func newOpenBlocks(max int) *openBlocks {
	return &openBlocks{max: max, m: map[string]*openBlock{}, lru: list.New()}
}

// get returns the open file of name with a reference, or nil.
func (o *openBlocks) get(name string) *openBlock {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := o.m[name]
	if b == nil {
		return nil
	}
	b.refs++
	o.lru.MoveToFront(b.el)
	return b
}

// add shares f as name's open file and returns it with a reference (the
// existing one when another reader added it first; f is then closed).
func (o *openBlocks) add(name string, f *os.File) *openBlock {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b := o.m[name]; b != nil {
		f.Close()
		b.refs++
		o.lru.MoveToFront(b.el)
		return b
	}
	b := &openBlock{f: f, name: name, refs: 1}
	b.el = o.lru.PushFront(b)
	o.m[name] = b
	for o.lru.Len() > o.max {
		old := o.lru.Back().Value.(*openBlock)
		o.dropLocked(old)
	}
	return b
}

// release gives back a reference from get or add.
func (o *openBlocks) release(b *openBlock) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b.refs--
	if b.refs == 0 && b.el == nil {
		b.f.Close()
	}
}

// forget drops name (a bad block); readers holding it finish first.
func (o *openBlocks) forget(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b := o.m[name]; b != nil {
		o.dropLocked(b)
	}
}

func (o *openBlocks) dropLocked(b *openBlock) {
	o.lru.Remove(b.el)
	b.el = nil
	delete(o.m, b.name)
	if b.refs == 0 {
		b.f.Close()
	}
}

// closeAll closes every file no reader holds.
func (o *openBlocks) closeAll() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.lru.Len() > 0 {
		o.dropLocked(o.lru.Back().Value.(*openBlock))
	}
}
