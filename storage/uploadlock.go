package storage

import "sync"

// uploadLocks keeps part writes and the completion of one upload apart:
// UploadPart holds the shared lock while it writes and records a part,
// CompleteMultipart the exclusive one while it hashes and commits, so the
// checksums recorded at completion are those of the bytes on disk.
type uploadLocks struct {
	mu    sync.Mutex
	locks map[string]*uploadLock
}

type uploadLock struct {
	sync.RWMutex
	refs int
}

func (u *uploadLocks) get(id string) *uploadLock {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.locks == nil {
		u.locks = map[string]*uploadLock{}
	}
	l := u.locks[id]
	if l == nil {
		l = &uploadLock{}
		u.locks[id] = l
	}
	l.refs++
	return l
}

func (u *uploadLocks) put(id string, l *uploadLock) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if l.refs--; l.refs == 0 {
		delete(u.locks, id)
	}
}

// shared runs fn holding upload id's shared lock.
func (u *uploadLocks) shared(id string, fn func() error) error {
	l := u.get(id)
	defer u.put(id, l)
	l.RLock()
	defer l.RUnlock()
	return fn()
}

// exclusive runs fn holding upload id's exclusive lock.
func (u *uploadLocks) exclusive(id string, fn func() error) error {
	l := u.get(id)
	defer u.put(id, l)
	l.Lock()
	defer l.Unlock()
	return fn()
}
