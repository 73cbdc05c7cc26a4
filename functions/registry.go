package functions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/metadata"
)

// ObjectRef names an object version in a bucket (code from a bucket).
type ObjectRef struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	VersionID string `json:"versionId,omitempty"`
}

// FunctionSpec is a create request (Cognite's fields plus ours). Exactly one
// code source: FileID (an archive uploaded with UploadCode), Source (an
// object in a bucket: a .zip archive or a single handler file) or
// HandlerSource (the text of a single handler file).
type FunctionSpec struct {
	Name          string            `json:"name"`
	ExternalID    string            `json:"externalId,omitempty"`
	Description   string            `json:"description,omitempty"`
	Owner         string            `json:"owner,omitempty"`
	FileID        string            `json:"fileId,omitempty"`
	Source        *ObjectRef        `json:"source,omitempty"`
	HandlerSource string            `json:"handlerSource,omitempty"`
	FunctionPath  string            `json:"functionPath,omitempty"`
	Style         string            `json:"style,omitempty"`
	Entrypoint    string            `json:"entrypoint,omitempty"`
	Secrets       map[string]string `json:"secrets,omitempty"`
	EnvVars       map[string]string `json:"envVars,omitempty"`
	CPU           float64           `json:"cpu,omitempty"`
	Memory        float64           `json:"memory,omitempty"`
	Runtime       string            `json:"runtime,omitempty"`
	Metadata      map[string]string `json:"metadata,omitempty"`
	TimeoutSec    int               `json:"timeoutSeconds,omitempty"`
	AccessBuckets []string          `json:"accessBuckets,omitempty"`
}

// FunctionFilter selects functions in List (zero fields match all).
type FunctionFilter struct {
	Name, Owner, Status, ExternalIDPrefix string
	Metadata                              map[string]string
	CreatedAfter, CreatedBefore           int64
	Limit                                 int
}

// CreateFunction registers a function and deploys it in the background:
// the returned record is Queued; poll it until Ready or Failed.
func (s *Service) CreateFunction(ctx context.Context, spec FunctionSpec) (*Function, error) {
	if spec.FunctionPath == "" {
		spec.FunctionPath = "handler.py"
	}
	if err := validateSpec(&spec, s.opts.Limits); err != nil {
		return nil, err
	}
	sources := 0
	for _, ok := range []bool{spec.FileID != "", spec.Source != nil, spec.HandlerSource != ""} {
		if ok {
			sources++
		}
	}
	if sources != 1 {
		return nil, fmt.Errorf("%w: give exactly one of fileId, source or handlerSource", ErrInvalid)
	}
	// Resolve the code now, so a missing object or archive is a clear error
	// at create time rather than a failed deploy.
	codeID := spec.FileID
	var err error
	switch {
	case spec.Source != nil:
		codeID, err = s.codeFromObject(ctx, *spec.Source, spec.FunctionPath)
	case spec.HandlerSource != "":
		codeID, err = s.codeFromHandler(spec.HandlerSource, spec.FunctionPath)
	default:
		if !validCodeID(codeID) {
			return nil, fmt.Errorf("%w: fileId %q", ErrInvalid, codeID)
		}
		_, err = os.Stat(s.codePath(codeID))
		if errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("%w: code archive %q (upload it first)", ErrNotFound, codeID)
		}
	}
	if err != nil {
		return nil, err
	}
	f := &Function{
		Name: spec.Name, ExternalID: spec.ExternalID, Description: spec.Description, Owner: spec.Owner,
		Status: StatusQueued, FileID: codeID, FunctionPath: spec.FunctionPath, Style: spec.Style,
		Entrypoint: spec.Entrypoint, Secrets: spec.Secrets, EnvVars: spec.EnvVars,
		CPU: spec.CPU, Memory: spec.Memory, Runtime: spec.Runtime, Metadata: spec.Metadata,
		TimeoutSec: spec.TimeoutSec, AccessBuckets: spec.AccessBuckets, CreatedTime: ms(s.clock.Now()),
	}
	if f.CPU == 0 {
		f.CPU = s.opts.Limits.CPUCores.Default
	}
	if f.Memory == 0 {
		f.Memory = s.opts.Limits.MemoryGB.Default
	}
	err = update(s.db, func(tx metadata.Tx) error {
		if _, err := tx.Get(kFuncName(f.Name)); err == nil {
			return fmt.Errorf("%w: a function named %q exists", ErrConflict, f.Name)
		}
		if f.ExternalID != "" {
			if _, err := tx.Get(kFuncExt(f.ExternalID)); err == nil {
				return fmt.Errorf("%w: a function with externalId %q exists", ErrConflict, f.ExternalID)
			}
		}
		n := 0
		tx.Iterate(kFunctionPrefix(), nil, false, func(_, _ []byte) (bool, error) { n++; return true, nil })
		if n >= s.opts.Limits.MaxFunctions {
			return fmt.Errorf("%w: at most %d functions", ErrLimit, s.opts.Limits.MaxFunctions)
		}
		id, err := nextID(tx, "function")
		if err != nil {
			return err
		}
		f.ID = id
		idb := []byte(strconv.FormatInt(id, 10))
		if err := tx.Set(kFuncName(f.Name), idb); err != nil {
			return err
		}
		if f.ExternalID != "" {
			if err := tx.Set(kFuncExt(f.ExternalID), idb); err != nil {
				return err
			}
		}
		return putJSON(tx, kFunction(id), f)
	})
	if err != nil {
		return nil, err
	}
	s.deployAsync(f.ID)
	return masked(f), nil
}

func masked(f *Function) *Function {
	c := *f
	if len(f.Secrets) > 0 {
		c.Secrets = make(map[string]string, len(f.Secrets))
		for k := range f.Secrets {
			c.Secrets[k] = "***"
		}
	}
	return &c
}

// getFunction reads the full record (secrets unmasked, for the runtime).
func (s *Service) getFunction(id int64) (*Function, error) {
	var f Function
	err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kFunction(id), &f) })
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: function %d", ErrNotFound, id)
		}
		return nil, err
	}
	return &f, nil
}

// GetFunction retrieves a function by id (secrets masked).
func (s *Service) GetFunction(ctx context.Context, id int64) (*Function, error) {
	f, err := s.getFunction(id)
	if err != nil {
		return nil, err
	}
	return masked(f), nil
}

// ResolveFunction finds a function by id (digits), external id or name.
func (s *Service) ResolveFunction(ctx context.Context, ref string) (*Function, error) {
	if id, err := strconv.ParseInt(ref, 10, 64); err == nil {
		if f, err := s.GetFunction(ctx, id); err == nil {
			return f, nil
		}
	}
	var id int64
	err := s.db.View(func(tx metadata.Tx) error {
		for _, k := range [][]byte{kFuncExt(ref), kFuncName(ref)} {
			b, err := tx.Get(k)
			if err == nil {
				id, err = strconv.ParseInt(string(b), 10, 64)
				return err
			}
			if !errors.Is(err, metadata.ErrNotFound) {
				return err
			}
		}
		return fmt.Errorf("%w: function %q", ErrNotFound, ref)
	})
	if err != nil {
		return nil, err
	}
	return s.GetFunction(ctx, id)
}

// GetFunctionByExternalID retrieves a function by external id.
func (s *Service) GetFunctionByExternalID(ctx context.Context, xid string) (*Function, error) {
	var id int64
	err := s.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get(kFuncExt(xid))
		if errors.Is(err, metadata.ErrNotFound) {
			return fmt.Errorf("%w: function with externalId %q", ErrNotFound, xid)
		}
		if err != nil {
			return err
		}
		id, err = strconv.ParseInt(string(b), 10, 64)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.GetFunction(ctx, id)
}

// RetrieveFunctions gets many by id or external id; with ignoreUnknown
// missing ones are skipped, else the first missing one is ErrNotFound.
func (s *Service) RetrieveFunctions(ctx context.Context, ids []int64, xids []string, ignoreUnknown bool) ([]*Function, error) {
	var out []*Function
	for _, id := range ids {
		f, err := s.GetFunction(ctx, id)
		if err != nil {
			if ignoreUnknown && errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, f)
	}
	for _, x := range xids {
		f, err := s.GetFunctionByExternalID(ctx, x)
		if err != nil {
			if ignoreUnknown && errors.Is(err, ErrNotFound) {
				continue
			}
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ListFunctions lists functions matching the filter, oldest first.
func (s *Service) ListFunctions(ctx context.Context, flt FunctionFilter) ([]*Function, error) {
	var out []*Function
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kFunctionPrefix(), false, func(f *Function) (bool, error) {
			if flt.match(f) {
				out = append(out, masked(f))
			}
			return flt.Limit <= 0 || len(out) < flt.Limit, nil
		})
	})
	return out, err
}

func (flt FunctionFilter) match(f *Function) bool {
	if flt.Name != "" && f.Name != flt.Name {
		return false
	}
	if flt.Owner != "" && f.Owner != flt.Owner {
		return false
	}
	if flt.Status != "" && f.Status != flt.Status {
		return false
	}
	if flt.ExternalIDPrefix != "" && !strings.HasPrefix(f.ExternalID, flt.ExternalIDPrefix) {
		return false
	}
	if flt.CreatedAfter != 0 && f.CreatedTime < flt.CreatedAfter {
		return false
	}
	if flt.CreatedBefore != 0 && f.CreatedTime > flt.CreatedBefore {
		return false
	}
	for k, v := range flt.Metadata {
		if f.Metadata[k] != v {
			return false
		}
	}
	return true
}

// DeleteFunction removes a function with its calls, schedules and triggers.
func (s *Service) DeleteFunction(ctx context.Context, id int64) error {
	f, err := s.getFunction(id)
	if err != nil {
		return err
	}
	err = update(s.db, func(tx metadata.Tx) error {
		var keys [][]byte
		collect := func(k []byte) { keys = append(keys, append([]byte(nil), k...)) }
		tx.Iterate(kCallPrefix(id), nil, false, func(k, v []byte) (bool, error) {
			collect(k)
			cid, _ := strconv.ParseInt(string(k[len(kCallPrefix(id)):]), 10, 64)
			collect(kCallIndex(cid))
			collect(kCallResponse(cid))
			collect(kCallLogs(cid))
			return true, nil
		})
		iterJSON(tx, kSchedulePrefix(), false, func(sc *Schedule) (bool, error) {
			if sc.FunctionID == id {
				collect(kSchedule(sc.ID))
				collect(kScheduleData(sc.ID))
			}
			return true, nil
		})
		iterJSON(tx, kTriggerPrefix(), false, func(t *Trigger) (bool, error) {
			if t.FunctionID == id {
				collect(kTrigger(t.ID))
			}
			return true, nil
		})
		collect(kFuncName(f.Name))
		if f.ExternalID != "" {
			collect(kFuncExt(f.ExternalID))
		}
		collect(kFunction(id))
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if sc := s.scheduler(); sc != nil {
		sc.reload()
	}
	if d := s.dispatcher(); d != nil {
		d.reloadTriggers()
	}
	os.RemoveAll(s.fnDir(id))
	return nil
}

func (s *Service) fnDir(id int64) string {
	return filepath.Join(s.opts.Dir, "fn", strconv.FormatInt(id, 10))
}

func (s *Service) setFunction(id int64, mut func(f *Function)) (*Function, error) {
	var out Function
	err := update(s.db, func(tx metadata.Tx) error {
		if err := getJSON(tx, kFunction(id), &out); err != nil {
			return err
		}
		mut(&out)
		return putJSON(tx, kFunction(id), &out)
	})
	return &out, err
}
