package functions

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/bucketfs/bucketfs/metadata"
)

// Key layout under "fn/" (ids are zero-padded so key order is id order):
//
//	fn/seq/<kind>                  last id handed out
//	fn/f/<id>                      Function
//	fn/fname/<name>, fn/fext/<xid> -> id
//	fn/c/<fid>/<callid>            Call
//	fn/cid/<callid>                -> fid
//	fn/cr/<callid>, fn/cl/<callid> response, logs
//	fn/s/<id>, fn/sd/<id>          Schedule, its input data
//	fn/t/<id>                      Trigger
//	fn/d/<deliveryid>              Delivery
//	fn/tok/<sha256>                token
//	fn/ng/<name>                   number generator
//	fn/fo/<id>                     file object (bucket, key)
//	fn/lock/<file object id>       upload lock
//	fn/up/<blob id>                upload session
//	fn/key                         HMAC key of presigned URLs
const prefix = "fn/"

func pad(id int64) string { return fmt.Sprintf("%020d", id) }

func kFunction(id int64) []byte        { return []byte(prefix + "f/" + pad(id)) }
func kFuncName(name string) []byte     { return []byte(prefix + "fname/" + name) }
func kFuncExt(x string) []byte         { return []byte(prefix + "fext/" + x) }
func kCall(fid, cid int64) []byte      { return []byte(prefix + "c/" + pad(fid) + "/" + pad(cid)) }
func kCallPrefix(fid int64) []byte     { return []byte(prefix + "c/" + pad(fid) + "/") }
func kCallIndex(cid int64) []byte      { return []byte(prefix + "cid/" + pad(cid)) }
func kCallResponse(cid int64) []byte   { return []byte(prefix + "cr/" + pad(cid)) }
func kCallLogs(cid int64) []byte       { return []byte(prefix + "cl/" + pad(cid)) }
func kSchedule(id int64) []byte        { return []byte(prefix + "s/" + pad(id)) }
func kScheduleData(id int64) []byte    { return []byte(prefix + "sd/" + pad(id)) }
func kTrigger(id int64) []byte         { return []byte(prefix + "t/" + pad(id)) }
func kDelivery(id string) []byte       { return []byte(prefix + "d/" + id) }
func kToken(hash string) []byte        { return []byte(prefix + "tok/" + hash) }
func kGenerator(name string) []byte    { return []byte(prefix + "ng/" + name) }
func kFileObject(id string) []byte     { return []byte(prefix + "fo/" + id) }
func kLock(fileObjectID string) []byte { return []byte(prefix + "lock/" + fileObjectID) }
func kUpload(blobID string) []byte     { return []byte(prefix + "up/" + blobID) }
func kSeq(kind string) []byte          { return []byte(prefix + "seq/" + kind) }
func kURLKey() []byte                  { return []byte(prefix + "key") }
func kFunctionPrefix() []byte          { return []byte(prefix + "f/") }
func kSchedulePrefix() []byte          { return []byte(prefix + "s/") }
func kTriggerPrefix() []byte           { return []byte(prefix + "t/") }
func kDeliveryPrefix() []byte          { return []byte(prefix + "d/") }
func kTokenPrefix() []byte             { return []byte(prefix + "tok/") }

func getJSON(tx metadata.Tx, key []byte, v any) error {
	b, err := tx.Get(key)
	if errors.Is(err, metadata.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func putJSON(tx metadata.Tx, key []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Set(key, b)
}

// nextID hands out the next id of a kind inside tx.
func nextID(tx metadata.Tx, kind string) (int64, error) {
	var n int64
	b, err := tx.Get(kSeq(kind))
	switch {
	case errors.Is(err, metadata.ErrNotFound):
	case err != nil:
		return 0, err
	default:
		n, err = strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("functions: corrupt sequence %s: %w", kind, err)
		}
	}
	n++
	return n, tx.Set(kSeq(kind), []byte(strconv.FormatInt(n, 10)))
}

// update retries a transaction that lost a conflict, as the metadata
// contract invites.
func update(db metadata.DB, fn func(tx metadata.Tx) error) error {
	var err error
	for i := 0; i < 20; i++ {
		err = db.Update(fn)
		if !errors.Is(err, metadata.ErrConflict) {
			return err
		}
	}
	return err
}

// iterJSON decodes every record under a prefix.
func iterJSON[T any](tx metadata.Tx, pfx []byte, reverse bool, fn func(v *T) (bool, error)) error {
	return tx.Iterate(pfx, nil, reverse, func(_, val []byte) (bool, error) {
		v := new(T)
		if err := json.Unmarshal(val, v); err != nil {
			return false, err
		}
		return fn(v)
	})
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
