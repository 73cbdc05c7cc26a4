package syncer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// StatusFileName is the state file the daemon keeps in its state directory
// for `bucketfs sync status`.
const StatusFileName = "status.json"

// Status is a snapshot of the daemon's state.
type Status struct {
	PID      int              `json:"pid"`
	Started  time.Time        `json:"started"`
	Updated  time.Time        `json:"updated"`
	Folders  []FolderStatus   `json:"folders"`
	Counters map[string]int64 `json:"counters"`
}

// FolderStatus is one folder's part of Status.
type FolderStatus struct {
	Path         string      `json:"path"`
	Bucket       string      `json:"bucket"`
	Prefix       string      `json:"prefix,omitempty"`
	Mode         Mode        `json:"mode"`
	Watching     bool        `json:"watching"` // false = polling
	Watches      int         `json:"watches"`
	WatchWarning string      `json:"watch_warning,omitempty"`
	Queue        int         `json:"queue"` // paths waiting to be checked
	HeldDeletes  int         `json:"held_deletes"`
	HeldReason   string      `json:"held_reason,omitempty"`
	Tracked      int         `json:"tracked"`
	Errors       []FileError `json:"errors,omitempty"`
	Conflicts    []Conflict  `json:"conflicts,omitempty"`
	LastPass     time.Time   `json:"last_pass"`
	LastFullScan time.Time   `json:"last_full_scan"`
	FullScans    int         `json:"full_scans"`
	Overflows    int         `json:"overflows"`
}

// FileError is a per-file failure with its retry schedule.
type FileError struct {
	Path      string    `json:"path"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	NextRetry time.Time `json:"next_retry,omitempty"`
	// Permanent errors are retried only once the file changes.
	Permanent bool `json:"permanent,omitempty"`
}

// Conflict is a path whose remote head moved under us.
type Conflict struct {
	Path   string    `json:"path"`
	Key    string    `json:"key"`
	Theirs string    `json:"theirs,omitempty"` // their version id (kept in history)
	Ours   string    `json:"ours,omitempty"`   // our version id
	Copy   string    `json:"copy,omitempty"`   // conflict copy key, if written
	Time   time.Time `json:"time"`
}

// ReadStatus reads the state file written by a running daemon.
func ReadStatus(stateDir string) (*Status, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, StatusFileName))
	if err != nil {
		return nil, err
	}
	var s Status
	return &s, json.Unmarshal(b, &s)
}

func writeStatus(file string, s *Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}
