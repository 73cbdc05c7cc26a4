package metadata

// Files whose MD5 is still to be computed. A large put records its file
// with an empty MD5 (BLAKE3 is always computed in the put's pass) and this
// marker in the same transaction; the store's background checksummer
// computes the MD5 from the blob, records it and drops the marker. The
// markers survive a restart, so the work resumes at Open.
//
//	st/m5/<file id>                       file whose MD5 is pending
const pMD5Pending = "st/m5/"

// SetMD5Pending marks the file's MD5 as pending.
func SetMD5Pending(tx Tx, fileID string) error {
	return tx.Set(cat(pMD5Pending, fileID), nil)
}

// DeleteMD5Pending drops the marker (a missing one is not an error).
func DeleteMD5Pending(tx Tx, fileID string) error {
	return tx.Delete(cat(pMD5Pending, fileID))
}

// MD5Pending lists up to max files whose MD5 is pending (max <= 0: all).
func MD5Pending(tx Tx, max int) ([]string, error) {
	var ids []string
	err := tx.Iterate([]byte(pMD5Pending), nil, false, func(k, v []byte) (bool, error) {
		ids = append(ids, string(k[len(pMD5Pending):]))
		return max <= 0 || len(ids) < max, nil
	})
	return ids, err
}
