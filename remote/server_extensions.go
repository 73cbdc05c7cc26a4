package remote

import (
	"errors"
	"net/http"

	"github.com/bucketfs/bucketfs/storage"
)

// copyObject (extension): POST {dst}?copy with the source in a JSON body; a
// new head at dst shares the source's file (no bytes are copied).
func (s *Server) copyObject(rq *srvReq, seg, key string) error {
	var body struct {
		Bucket    string `json:"bucket"`
		Key       string `json:"key"`
		VersionID string `json:"version_id"`
	}
	if err := readJSONBody(rq, &body); err != nil {
		return err
	}
	if body.Key == "" {
		return validationErr("key", "Missing source key.")
	}
	dst, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, dst, true); err != nil {
		return err
	}
	src := dst
	if body.Bucket != "" {
		if src, err = s.lookupBucket(rq, body.Bucket); err != nil {
			return err
		}
	}
	sv, err := s.lookupObject(rq, src, body.Key, body.VersionID)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionObjectRead, src, true); err != nil {
		return err
	}
	if !sv.IsHead {
		if err := s.check(rq, ActionObjectReadVersion, src, false); err != nil {
			return err
		}
	}
	if sv.DeleteMarker() {
		return apiErr(http.StatusBadRequest, "A delete marker cannot be copied.")
	}
	if dst.Locked {
		return storage.ErrLocked
	}
	if err := checkNewKey(key); err != nil {
		return err
	}
	ifMatch, err := s.ifMatchOf(rq, dst, key)
	if err != nil {
		return err
	}
	v, err := s.store.Copy(rq.ctx(), storage.CopySource{Bucket: src.ID, Key: sv.Key, VersionID: sv.VersionID}, dst.ID, key, storage.PutOptions{Size: -1, IfMatch: ifMatch})
	if err != nil {
		return s.writeErr(err)
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.objectJSON(v))
	return nil
}

// moveObject (extension): an atomic rename of a key, or of every key under
// a prefix ending in "/".
func (s *Server) moveObject(rq *srvReq, seg, key string) error {
	var body struct {
		To string `json:"to"`
	}
	if err := readJSONBody(rq, &body); err != nil {
		return err
	}
	if body.To == "" {
		return validationErr("to", "Missing target key.")
	}
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	if err := s.check(rq, ActionObjectDelete, b, false); err != nil {
		return err
	}
	if b.Locked {
		return storage.ErrLocked
	}
	if err := checkNewKey(body.To); err != nil {
		return err
	}
	if storage.IsDirMarker(key) != storage.IsDirMarker(body.To) {
		return validationErr("to", "A prefix (ending in \"/\") moves only to a prefix.")
	}
	if err := s.checkIfMatch(rq, b, key); err != nil {
		return err
	}
	mv, ok := s.store.(storage.Mover)
	if !ok {
		return apiErr(http.StatusNotImplemented, "This store cannot move objects.")
	}
	err = mv.Move(rq.ctx(), b.ID, key, body.To)
	switch {
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrInvalidKey) && storage.ValidateKey(key) != nil:
		return errObjectNotFound()
	case errors.Is(err, storage.ErrExists):
		return &APIError{Status: http.StatusConflict, Message: ptr("Move target exists."), Cause: err}
	case err != nil:
		return s.writeErr(err)
	}
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}

// restoreObject (extension): a copy of an old version becomes the head.
func (s *Server) restoreObject(rq *srvReq, seg, key, vid string) error {
	if vid == "" {
		return validationErr("versionId", "Missing data for required field.")
	}
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	v, err := s.lookupObject(rq, b, key, vid)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionObjectReadVersion, b, false); err != nil {
		return err
	}
	if v.IsHead {
		return apiErr(http.StatusBadRequest, "This version is already the head.")
	}
	if v.DeleteMarker() {
		return apiErr(http.StatusBadRequest, "A delete marker cannot be restored.")
	}
	if b.Locked {
		return storage.ErrLocked
	}
	if err := s.checkIfMatch(rq, b, key); err != nil {
		return err
	}
	nv, err := s.store.Restore(rq.ctx(), b.ID, key, vid)
	if err != nil {
		return s.writeErr(err)
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.objectJSON(nv))
	return nil
}

// setAttrs (extension) replaces the POSIX attributes of a version in place.
func (s *Server) setAttrs(rq *srvReq, seg, key, vid string) error {
	var body struct {
		Attrs map[string]string `json:"attrs"`
	}
	if err := readJSONBody(rq, &body); err != nil {
		return err
	}
	b, err := s.lookupBucket(rq, seg)
	if err != nil {
		return err
	}
	if err := s.check(rq, ActionBucketUpdate, b, true); err != nil {
		return err
	}
	v, err := s.lookupObject(rq, b, key, vid)
	if err != nil {
		return err
	}
	if b.Locked {
		return storage.ErrLocked
	}
	nv, err := s.store.SetAttrs(rq.ctx(), b.ID, key, v.VersionID, body.Attrs)
	if err != nil {
		return s.writeErr(err)
	}
	writeJSON(rq.w, rq.r, http.StatusOK, rq.links.objectJSON(nv))
	return nil
}

// checkIfMatch enforces the If-Match extension for operations whose store
// call takes no precondition (restore, move). It is checked just before the
// call, so it guards against stale clients, not against a racing writer.
func (s *Server) checkIfMatch(rq *srvReq, b *storage.Bucket, key string) error {
	want, err := s.ifMatchOf(rq, b, key)
	if err != nil || want == "" {
		return err
	}
	head, err := s.store.Stat(rq.r.Context(), b.ID, key, "")
	if err != nil && !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrInvalidKey) {
		return err
	}
	live := err == nil && !head.DeleteMarker()
	switch {
	case want == "null" && live:
		return errPrecondition("key has a live head " + head.VersionID)
	case want != "null" && !live:
		return errPrecondition("key has no live head")
	case want != "null" && head.VersionID != want:
		return errPrecondition("head version is " + head.VersionID)
	}
	return nil
}
