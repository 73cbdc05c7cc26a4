package syncer

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is one progress record: what happened to which path. It is what
// `sync --json` prints, one per line.
type Event struct {
	Time   time.Time `json:"time"`
	Type   string    `json:"type"` // see the Ev* constants
	Folder string    `json:"folder,omitempty"`
	Path   string    `json:"path,omitempty"`
	Key    string    `json:"key,omitempty"`
	From   string    `json:"from,omitempty"` // source key of a copy or rename
	Bytes  int64     `json:"bytes,omitempty"`
	// Version is the remote version id written.
	Version string `json:"version,omitempty"`
	Err     string `json:"error,omitempty"`
	// NextRetry is set on retryable errors.
	NextRetry *time.Time `json:"next_retry,omitempty"`
	// Pass totals, on EvPassStart/EvPassEnd and EvProgress.
	FilesDone  int64  `json:"files_done,omitempty"`
	FilesTotal int64  `json:"files_total,omitempty"`
	BytesDone  int64  `json:"bytes_done,omitempty"`
	BytesTotal int64  `json:"bytes_total,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Event types.
const (
	EvPassStart = "pass_start"
	EvPassEnd   = "pass_end"
	EvProgress  = "progress"
	EvUpload    = "upload"
	EvCopy      = "copy"   // server-side copy of identical content
	EvRename    = "rename" // server-side copy + delete of the old key
	EvDelete    = "delete"
	EvHeld      = "delete_held" // deletes withheld by a safety rule
	EvConflict  = "conflict"
	EvError     = "error"
	EvDownload  = "download"
	EvWarning   = "warning"
	EvUntrack   = "untrack"
)

// JSONSink returns an Events callback writing one JSON object per line.
func JSONSink(w io.Writer) func(Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(ev Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
	}
}

// TTYProgress renders a one-line live display (files, bytes, rate, ETA)
// and prints errors, conflicts and warnings on their own lines.
type TTYProgress struct {
	mu                    sync.Mutex
	w                     io.Writer
	filesDone, filesTotal int64
	bytesDone, bytesTotal int64
	start                 time.Time
	rate                  float64 // bytes/s, exponential moving average
	lastBytes             int64
	lastTick              time.Time
}

// NewTTYProgress draws on w (a terminal).
func NewTTYProgress(w io.Writer) *TTYProgress {
	return &TTYProgress{w: w, start: time.Now(), lastTick: time.Now()}
}

// Handle is the Events callback.
func (p *TTYProgress) Handle(ev Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev.Type {
	case EvPassStart:
		p.filesDone, p.bytesDone = 0, 0
		p.filesTotal, p.bytesTotal = ev.FilesTotal, ev.BytesTotal
		p.lastBytes, p.lastTick = 0, time.Now()
	case EvProgress, EvPassEnd:
		p.filesDone, p.bytesDone = ev.FilesDone, ev.BytesDone
		p.filesTotal, p.bytesTotal = ev.FilesTotal, ev.BytesTotal
	case EvError, EvConflict, EvWarning, EvHeld:
		msg := ev.Err
		if msg == "" {
			msg = ev.Message
		}
		fmt.Fprintf(p.w, "\r\033[K%s %s: %s\n", ev.Type, ev.Path, msg)
	default:
		return
	}
	now := time.Now()
	if dt := now.Sub(p.lastTick).Seconds(); dt >= 0.5 {
		inst := float64(p.bytesDone-p.lastBytes) / dt
		if p.rate == 0 {
			p.rate = inst
		} else {
			p.rate = 0.7*p.rate + 0.3*inst
		}
		p.lastBytes, p.lastTick = p.bytesDone, now
	}
	eta := "-"
	if p.rate > 0 && p.bytesTotal > p.bytesDone {
		eta = (time.Duration(float64(p.bytesTotal-p.bytesDone)/p.rate) * time.Second / time.Second).Round(time.Second).String()
	}
	fmt.Fprintf(p.w, "\r\033[Kfiles %d/%d  %s/%s  %s/s  ETA %s", p.filesDone, p.filesTotal,
		humanBytes(p.bytesDone), humanBytes(p.bytesTotal), humanBytes(int64(p.rate)), eta)
	if ev.Type == EvPassEnd {
		fmt.Fprintln(p.w)
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
