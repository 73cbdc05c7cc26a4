package syncer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
)

// Journal keys, all below "sj/" in the shared badger:
//
//	sj/f/<fid>/<rel>         record of a synced path
//	sj/n/<fid>/<dev>:<ino>   rel of the record with that inode (rename detection)
//	sj/h/<fid>/<hash>/<rel>  hash index (copy detection)
//	sj/u/<fid>/<rel>         multipart session of a path
//	sj/m/<fid>               folder meta (the root's device, to spot an unmounted root)
//	sj/wb/<seq>              staged write-back entry
const journalPrefix = "sj/"

// statTuple is what "unchanged" means: any move of these rehashes.
type statTuple struct {
	Dev     uint64 `json:"dev"`
	Ino     uint64 `json:"ino"`
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime"`
	CtimeNs int64  `json:"ctime"`
	Mode    uint32 `json:"mode"`
}

// record is the journal's knowledge of one path.
type record struct {
	Stat statTuple `json:"stat"`
	// Hash is "blake3:<hex>", or "link:<target>" for a symlink.
	Hash      string `json:"hash"`
	Key       string `json:"key"`
	VersionID string `json:"version_id"`
	Conflict  bool   `json:"conflict,omitempty"`
}

// session is a journaled multipart upload.
type session struct {
	UploadID   string    `json:"upload_id"`
	Bucket     string    `json:"bucket"`
	Key        string    `json:"key"`
	Size       int64     `json:"size"`
	PartSize   int64     `json:"part_size"`
	Stat       statTuple `json:"stat"`
	Hash       string    `json:"hash"`
	Created    time.Time `json:"created"`
	Completing bool      `json:"completing,omitempty"`
}

type journal struct {
	db metadata.DB
}

func fKey(fid, rel string) []byte { return []byte("sj/f/" + fid + "/" + rel) }
func nKey(fid string, st statTuple) []byte {
	return []byte(fmt.Sprintf("sj/n/%s/%d:%d", fid, st.Dev, st.Ino))
}
func hKey(fid, hash, rel string) []byte { return []byte("sj/h/" + fid + "/" + hash + "/" + rel) }
func uKey(fid, rel string) []byte       { return []byte("sj/u/" + fid + "/" + rel) }
func mKey(fid string) []byte            { return []byte("sj/m/" + fid) }

func getJSON(tx metadata.Tx, key []byte, v any) (bool, error) {
	b, err := tx.Get(key)
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal(b, v)
}

// getRecord reads the record at key; ok is false when there is none.
func getRecord(tx metadata.Tx, key []byte, r *record) (bool, error) {
	b, err := tx.Get(key)
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, decodeRecord(b, r)
}

func setJSON(tx metadata.Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Set(key, b)
}

func (j *journal) update(fn func(tx metadata.Tx) error) error {
	for i := 0; ; i++ {
		err := j.db.Update(fn)
		if errors.Is(err, metadata.ErrConflict) && i < 10 {
			continue
		}
		return err
	}
}

// updateLazy commits fn without waiting for the disk when the DB can (it
// survives a crash of the process at once, a power loss after the next
// sync). Records are a cache of what the server holds: one lost to a power
// cut makes the next pass stat, hash and adopt the remote head, never send
// twice. A synced commit per file cost two fsync rounds of the journal and
// bounded a small-file sync.
func (j *journal) updateLazy(fn func(tx metadata.Tx) error) error {
	s, ok := j.db.(metadata.Syncer)
	if !ok {
		return j.update(fn)
	}
	for i := 0; ; i++ {
		err := s.UpdateNoSync(fn)
		if errors.Is(err, metadata.ErrConflict) && i < 10 {
			continue
		}
		return err
	}
}

// sync makes every lazy commit durable (at the end of each pass, at close).
func (j *journal) sync() error {
	if s, ok := j.db.(metadata.Syncer); ok {
		return s.Sync()
	}
	return nil
}

// get returns the record of rel, or nil.
func (j *journal) get(fid, rel string) (*record, error) {
	var r *record
	err := j.db.View(func(tx metadata.Tx) error {
		var rec record
		ok, err := getRecord(tx, fKey(fid, rel), &rec)
		if ok {
			r = &rec
		}
		return err
	})
	return r, err
}

// put stores rec for rel and keeps the inode and hash indexes in step.
func (j *journal) put(fid, rel string, rec *record) error {
	return j.updateLazy(func(tx metadata.Tx) error { return j.putTx(tx, fid, rel, rec) })
}

func (j *journal) putTx(tx metadata.Tx, fid, rel string, rec *record) error {
	if err := j.delTx(tx, fid, rel); err != nil {
		return err
	}
	if err := tx.Set(fKey(fid, rel), encodeRecord(rec)); err != nil {
		return err
	}
	if rec.Stat.Ino != 0 {
		if err := tx.Set(nKey(fid, rec.Stat), []byte(rel)); err != nil {
			return err
		}
	}
	if rec.Hash != "" && rec.VersionID != "" {
		return tx.Set(hKey(fid, rec.Hash, rel), nil)
	}
	return nil
}

// del forgets rel.
func (j *journal) del(fid, rel string) error {
	return j.updateLazy(func(tx metadata.Tx) error { return j.delTx(tx, fid, rel) })
}

func (j *journal) delTx(tx metadata.Tx, fid, rel string) error {
	var old record
	ok, err := getRecord(tx, fKey(fid, rel), &old)
	if err != nil || !ok {
		return err
	}
	if old.Stat.Ino != 0 {
		// Only drop the inode entry if it still points at rel.
		if b, err := tx.Get(nKey(fid, old.Stat)); err == nil && string(b) == rel {
			if err := tx.Delete(nKey(fid, old.Stat)); err != nil {
				return err
			}
		}
	}
	if old.Hash != "" {
		if err := tx.Delete(hKey(fid, old.Hash, rel)); err != nil {
			return err
		}
	}
	return tx.Delete(fKey(fid, rel))
}

// byInode returns the path recorded for an inode.
func (j *journal) byInode(fid string, st statTuple) (string, *record, error) {
	var rel string
	var rec *record
	err := j.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get(nKey(fid, st))
		if errors.Is(err, metadata.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		rel = string(b)
		var r record
		ok, err := getRecord(tx, fKey(fid, rel), &r)
		if ok {
			rec = &r
		}
		return err
	})
	return rel, rec, err
}

// byHash returns the paths recorded with hash.
func (j *journal) byHash(fid, hash string) ([]string, error) {
	var out []string
	p := []byte("sj/h/" + fid + "/" + hash + "/")
	err := j.db.View(func(tx metadata.Tx) error {
		return tx.Iterate(p, nil, false, func(k, _ []byte) (bool, error) {
			out = append(out, string(k[len(p):]))
			return len(out) < 16, nil
		})
	})
	return out, err
}

// each calls fn for every record of the folder below prefix (a rel prefix).
func (j *journal) each(fid, prefix string, fn func(rel string, rec *record) bool) error {
	p := []byte("sj/f/" + fid + "/")
	return j.db.View(func(tx metadata.Tx) error {
		return tx.Iterate(append(append([]byte{}, p...), prefix...), nil, false, func(k, v []byte) (bool, error) {
			var r record
			if err := decodeRecord(v, &r); err != nil {
				return false, err
			}
			return fn(string(k[len(p):]), &r), nil
		})
	})
}

func (j *journal) getSession(fid, rel string) (*session, error) {
	var s *session
	err := j.db.View(func(tx metadata.Tx) error {
		var ss session
		ok, err := getJSON(tx, uKey(fid, rel), &ss)
		if ok {
			s = &ss
		}
		return err
	})
	return s, err
}

func (j *journal) putSession(fid, rel string, s *session) error {
	return j.update(func(tx metadata.Tx) error { return setJSON(tx, uKey(fid, rel), s) })
}

// delSession forgets a session; lazily, since a session that comes back
// after a power cut is resolved by asking the server.
func (j *journal) delSession(fid, rel string) error {
	return j.updateLazy(func(tx metadata.Tx) error { return tx.Delete(uKey(fid, rel)) })
}

// sessions lists every journaled session (all folders and write-back).
func (j *journal) sessions() (map[string]*session, error) {
	out := map[string]*session{}
	p := []byte("sj/u/")
	err := j.db.View(func(tx metadata.Tx) error {
		return tx.Iterate(p, nil, false, func(k, v []byte) (bool, error) {
			var s session
			if err := json.Unmarshal(v, &s); err != nil {
				return false, err
			}
			out[string(k[len(p):])] = &s
			return true, nil
		})
	})
	return out, err
}

// splitSessionKey splits "<fid>/<rel>".
func splitSessionKey(k string) (fid, rel string) {
	fid, rel, _ = strings.Cut(k, "/")
	return
}

// commit records a finished upload and drops its session in one step.
func (j *journal) commit(fid, rel string, rec *record) error {
	return j.updateLazy(func(tx metadata.Tx) error {
		if err := j.putTx(tx, fid, rel, rec); err != nil {
			return err
		}
		return tx.Delete(uKey(fid, rel))
	})
}
