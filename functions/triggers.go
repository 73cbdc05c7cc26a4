package functions

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// eventFamilies are the event names a trigger may ask for (S3/MinIO).
var eventFamilies = map[string][]string{
	"s3:ObjectCreated":  {"Put", "Post", "Copy", "CompleteMultipartUpload", "PutTagging"},
	"s3:ObjectRemoved":  {"Delete", "DeleteMarkerCreated"},
	"s3:ObjectRestore":  {"Post", "Completed"},
	"s3:ObjectAccessed": {"Get", "Head"},
}

// TriggerSpec is a create request for a trigger.
type TriggerSpec struct {
	FunctionID     int64    `json:"functionId"`
	Bucket         string   `json:"bucket"`
	Events         []string `json:"events"`
	Prefix         string   `json:"prefix,omitempty"`
	Suffix         string   `json:"suffix,omitempty"`
	AllowRecursive bool     `json:"allowRecursive,omitempty"`
	IncludeSources []string `json:"includeSources,omitempty"`
	Principal      string   `json:"principal,omitempty"`
}

func normaliseEventName(n string) (string, error) {
	if !strings.HasPrefix(n, "s3:") {
		n = "s3:" + n
	}
	parts := strings.Split(n, ":")
	if len(parts) != 3 || parts[2] == "" {
		return "", fmt.Errorf("%w: event name %q: want s3:<Family>:<Name> or s3:<Family>:*", ErrInvalid, n)
	}
	ev := parts[2]
	names, known := eventFamilies["s3:"+parts[1]]
	if !known {
		return "", fmt.Errorf("%w: unknown event family in %q", ErrInvalid, n)
	}
	if ev == "*" {
		return n, nil
	}
	for _, x := range names {
		if x == ev {
			return n, nil
		}
	}
	return "", fmt.Errorf("%w: unknown event name %q; allowed under s3:%s: %s or *", ErrInvalid, n, parts[1], strings.Join(names, ", "))
}

// validateFilterValue applies MinIO's rules to prefix and suffix values.
func validateFilterValue(what, v string) error {
	if len(v) > 1024 {
		return fmt.Errorf("%w: %s longer than 1024 bytes", ErrInvalid, what)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	if strings.Contains(v, "\\") {
		return fmt.Errorf("%w: %s contains a backslash", ErrInvalid, what)
	}
	for _, seg := range strings.Split(v, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("%w: %s has a %q segment", ErrInvalid, what, seg)
		}
	}
	return nil
}

// CreateTrigger binds a function to events of a bucket.
func (s *Service) CreateTrigger(ctx context.Context, spec TriggerSpec) (*Trigger, error) {
	if _, err := s.getFunction(spec.FunctionID); err != nil {
		return nil, err
	}
	if len(spec.Events) == 0 {
		spec.Events = []string{"s3:ObjectCreated:*"}
	}
	seen := map[string]bool{}
	var events []string
	for _, e := range spec.Events {
		n, err := normaliseEventName(e)
		if err != nil {
			return nil, err
		}
		if !seen[n] {
			seen[n] = true
			events = append(events, n)
		}
	}
	if err := validateFilterValue("prefix", spec.Prefix); err != nil {
		return nil, err
	}
	if err := validateFilterValue("suffix", spec.Suffix); err != nil {
		return nil, err
	}
	for _, src := range spec.IncludeSources {
		switch src {
		case "api", "mount", "sync", "function", "system", "":
		default:
			return nil, fmt.Errorf("%w: source %q; allowed: api, mount, sync, function, system", ErrInvalid, src)
		}
	}
	if s.store == nil {
		return nil, fmt.Errorf("%w: no object store", ErrInvalid)
	}
	b, err := s.store.GetBucket(ctx, spec.Bucket)
	if err != nil {
		return nil, fmt.Errorf("trigger bucket %q: %w", spec.Bucket, mapStoreErr(err))
	}
	t := &Trigger{FunctionID: spec.FunctionID, Bucket: spec.Bucket, BucketID: b.ID, Events: events,
		Prefix: spec.Prefix, Suffix: spec.Suffix, AllowRecursive: spec.AllowRecursive,
		IncludeSources: spec.IncludeSources, Enabled: true, Principal: spec.Principal,
		CreatedTime: ms(s.clock.Now())}
	err = update(s.db, func(tx metadata.Tx) error {
		id, err := nextID(tx, "trigger")
		if err != nil {
			return err
		}
		t.ID = id
		return putJSON(tx, kTrigger(id), t)
	})
	if err != nil {
		return nil, err
	}
	if d := s.dispatcher(); d != nil {
		d.reloadTriggers()
	}
	return t, nil
}

// ListTriggers lists triggers (of one function when fnID != 0).
func (s *Service) ListTriggers(ctx context.Context, fnID int64) ([]*Trigger, error) {
	out := []*Trigger{}
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kTriggerPrefix(), false, func(t *Trigger) (bool, error) {
			if fnID == 0 || t.FunctionID == fnID {
				out = append(out, t)
			}
			return true, nil
		})
	})
	return out, err
}

// GetTrigger retrieves a trigger.
func (s *Service) GetTrigger(ctx context.Context, id int64) (*Trigger, error) {
	var t Trigger
	err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kTrigger(id), &t) })
	if err != nil {
		return nil, fmt.Errorf("trigger %d: %w", id, err)
	}
	return &t, nil
}

// SetTriggerEnabled pauses or resumes a trigger.
func (s *Service) SetTriggerEnabled(ctx context.Context, id int64, on bool) (*Trigger, error) {
	var t Trigger
	err := update(s.db, func(tx metadata.Tx) error {
		if err := getJSON(tx, kTrigger(id), &t); err != nil {
			return fmt.Errorf("trigger %d: %w", id, err)
		}
		t.Enabled = on
		return putJSON(tx, kTrigger(id), &t)
	})
	if d := s.dispatcher(); err == nil && d != nil {
		d.reloadTriggers()
	}
	return &t, err
}

// DeleteTrigger removes a trigger; deliveries already made still run.
func (s *Service) DeleteTrigger(ctx context.Context, id int64) error {
	err := update(s.db, func(tx metadata.Tx) error {
		if _, err := tx.Get(kTrigger(id)); err != nil {
			return fmt.Errorf("%w: trigger %d", ErrNotFound, id)
		}
		return tx.Delete(kTrigger(id))
	})
	if d := s.dispatcher(); err == nil && d != nil {
		d.reloadTriggers()
	}
	return err
}

// matches reports whether the trigger wants the event (hop limit aside).
func (t *Trigger) matches(e *storage.Event) bool {
	if !t.Enabled || e.BucketID != t.BucketID || e.Key == "" || storage.IsDirMarker(e.Key) {
		return false // directory markers (a mkdir on the mount) are not files
	}
	ok := false
	for _, p := range t.Events {
		if p == e.Name || (strings.HasSuffix(p, ":*") && strings.HasPrefix(e.Name, strings.TrimSuffix(p, "*"))) {
			ok = true
			break
		}
	}
	if !ok || !strings.HasPrefix(e.Key, t.Prefix) || !strings.HasSuffix(e.Key, t.Suffix) ||
		len(e.Key) < len(t.Prefix)+len(t.Suffix) {
		return false
	}
	src := e.Origin.Kind
	if len(t.IncludeSources) == 0 {
		if src == "sync" {
			return false // replicated changes do not fire by default
		}
	} else {
		found := false
		for _, x := range t.IncludeSources {
			found = found || x == src
		}
		if !found {
			return false
		}
	}
	if src == "function" && !t.AllowRecursive && e.Origin.FunctionID == strconv.FormatInt(t.FunctionID, 10) {
		return false // no self-trigger by default
	}
	return true
}
