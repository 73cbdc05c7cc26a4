package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/bucketfs/bucketfs/metadata"
	"github.com/bucketfs/bucketfs/storage"
)

// CallRequest describes why and with what a function is called.
type CallRequest struct {
	Data          json.RawMessage
	Trigger       string // manual (default), schedule, file_event
	ScheduleID    int64
	ScheduledTime int64
	TriggerID     int64
	Event         *storage.Event
	Attempt       int
	Principal     string
}

// CallFilter selects calls in ListCalls.
type CallFilter struct {
	Status                 string
	ScheduleID             int64
	StartAfter, StartUntil int64
	EndAfter, EndUntil     int64
	Limit                  int
}

// Call starts a call and returns it Running; the process runs in the
// background (poll GetCall, or use CallAndWait).
func (s *Service) Call(ctx context.Context, fnID int64, req CallRequest) (*Call, error) {
	f, call, tok, err := s.newCall(fnID, req, true)
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	s.mu.Lock()
	s.callDone[call.ID] = done
	s.mu.Unlock()
	ok := s.goBackground(func(bg context.Context) {
		defer close(done)
		if err := s.acquire(bg, fnID); err != nil {
			s.finish(f, call, &procResult{Interrupted: true}, nil, tok)
			return
		}
		defer s.release(fnID)
		if s.clock.Now().Sub(time.UnixMilli(call.StartTime)) > 30*time.Second {
			// Waited long for a slot: the token minted with the call may
			// expire too early, so this attempt gets a fresh one.
			s.revokeToken(tok)
			tok = nil
		}
		s.execute(bg, f, call, req, tok)
	})
	if !ok {
		return nil, ErrClosed
	}
	return call, nil
}

// CallAndWait runs a call to its end and returns the final record.
func (s *Service) CallAndWait(ctx context.Context, fnID int64, req CallRequest) (*Call, error) {
	c, err := s.Call(ctx, fnID, req)
	if err != nil {
		return nil, err
	}
	return s.WaitCall(ctx, c.ID)
}

// WaitCall waits until a call run by this process ends.
func (s *Service) WaitCall(ctx context.Context, callID int64) (*Call, error) {
	s.mu.Lock()
	done := s.callDone[callID]
	s.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return s.GetCallByID(ctx, callID)
}

// newCall records a Running call (and the function's lastCalled); with
// mint it also stores the attempt's token in the same commit (the
// dispatcher's path, where the process starts right away).
func (s *Service) newCall(fnID int64, req CallRequest, mint bool) (*Function, *Call, *callToken, error) {
	if int64(len(req.Data)) > s.opts.Limits.MaxInputBytes {
		return nil, nil, nil, fmt.Errorf("%w: call data is %d bytes, at most %d", ErrInvalid, len(req.Data), s.opts.Limits.MaxInputBytes)
	}
	if len(req.Data) > 0 && !json.Valid(req.Data) {
		return nil, nil, nil, fmt.Errorf("%w: call data is not valid JSON", ErrInvalid)
	}
	if req.Trigger == "" {
		req.Trigger = TriggerManual
	}
	var f Function
	call := &Call{Status: CallRunning, Trigger: req.Trigger, ScheduleID: req.ScheduleID,
		ScheduledTime: req.ScheduledTime, TriggerID: req.TriggerID, Attempt: req.Attempt}
	if req.Event != nil {
		call.EventID = req.Event.ID
	}
	var tok *callToken
	if mint {
		var err error
		if tok, err = newCallToken(); err != nil {
			return nil, nil, nil, err
		}
	}
	err := update(s.db, func(tx metadata.Tx) error {
		if err := getJSON(tx, kFunction(fnID), &f); err != nil {
			return fmt.Errorf("function %d: %w", fnID, err)
		}
		if f.Status != StatusReady {
			return fmt.Errorf("%w: function %q is %s", ErrNotReady, f.Name, f.Status)
		}
		id, err := nextID(tx, "call")
		if err != nil {
			return err
		}
		call.ID, call.FunctionID = id, fnID
		call.StartTime = ms(s.clock.Now())
		f.LastCalled = call.StartTime
		if err := putJSON(tx, kFunction(fnID), &f); err != nil {
			return err
		}
		if err := tx.Set(kCallIndex(id), []byte(strconv.FormatInt(fnID, 10))); err != nil {
			return err
		}
		if tok != nil {
			exp := s.clock.Now().Add(s.timeoutOf(&f) + s.opts.KillGrace + time.Minute)
			if err := putJSON(tx, kToken(tok.hash), tokenRecord(call, &f, req.Principal, hopsOf(req), exp)); err != nil {
				return err
			}
		}
		return putJSON(tx, kCall(fnID, id), call)
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return &f, call, tok, nil
}

func hopsOf(req CallRequest) int {
	if req.Event != nil {
		return req.Event.Origin.Hops
	}
	return 0
}

// acquire takes a per-function and a global concurrency slot, waiting.
func (s *Service) acquire(ctx context.Context, fnID int64) error {
	for {
		if s.tryAcquire(fnID) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.slotFree:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *Service) tryAcquire(fnID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.slots >= s.opts.Limits.MaxConcurrentCalls || s.fnSlots[fnID] >= s.opts.Limits.MaxConcurrentPerFn {
		return false
	}
	s.slots++
	s.fnSlots[fnID]++
	return true
}

func (s *Service) release(fnID int64) {
	s.mu.Lock()
	s.slots--
	if s.fnSlots[fnID]--; s.fnSlots[fnID] <= 0 {
		delete(s.fnSlots, fnID)
	}
	s.mu.Unlock()
	select {
	case s.slotFree <- struct{}{}:
	default:
	}
	if d := s.dispatcher(); d != nil {
		d.wakeUp()
	}
}

func (s *Service) timeoutOf(f *Function) time.Duration {
	if f.TimeoutSec > 0 {
		return time.Duration(f.TimeoutSec) * time.Second
	}
	return s.opts.DefaultTimeout
}

func (s *Service) limitsFor(f *Function, timeout time.Duration) resourceLimits {
	cpu := f.CPU
	if cpu == 0 {
		cpu = s.opts.Limits.CPUCores.Default
	}
	mem := f.Memory
	if mem == 0 {
		mem = s.opts.Limits.MemoryGB.Default
	}
	return resourceLimits{
		MemoryBytes: int64(mem * (1 << 30)),
		CPU:         cpu,
		CPUSeconds:  int64(cpu*timeout.Seconds()) + 1,
		MaxPids:     512,
		CgroupRoot:  s.cgroupRoot,
	}
}

// execute runs one attempt of a call: token, request, process, result.
// The token (minted here unless newCall did) is revoked by finish.
func (s *Service) execute(ctx context.Context, f *Function, call *Call, req CallRequest, tok *callToken) *Call {
	timeout := s.timeoutOf(f)
	deadline := s.clock.Now().Add(timeout)
	if tok == nil {
		var err error
		tok, err = s.mintToken(call, f, req.Principal, hopsOf(req), deadline.Add(s.opts.KillGrace+time.Minute))
		if err != nil {
			return s.finish(f, call, nil, &ErrorInfo{Type: "SystemError", Message: "mint token: " + err.Error()}, nil)
		}
	}
	token := tok.secret

	tmp, err := os.MkdirTemp(filepath.Join(s.opts.Dir, "calls"), "call-")
	if err != nil {
		return s.finish(f, call, nil, &ErrorInfo{Type: "SystemError", Message: err.Error()}, tok)
	}
	defer os.RemoveAll(tmp)

	body, err := s.buildRequest(f, call, req, token, deadline)
	if err != nil {
		return s.finish(f, call, nil, &ErrorInfo{Type: "SystemError", Message: err.Error()}, tok)
	}
	spec := procSpec{
		Dir: tmp, Env: s.callEnv(tmp, f, call, deadline), Stdin: body,
		Timeout: timeout, Grace: s.opts.KillGrace,
		MaxResult: int64(s.opts.Limits.ResponseSizeMB * (1 << 20)), MaxLog: s.opts.Limits.MaxLogBytes,
		LineLimit: s.opts.LineLimit, Limits: s.limitsFor(f, timeout),
	}
	origin := storage.Origin{Kind: "function", Hops: hopsOf(req) + 1,
		FunctionID: strconv.FormatInt(f.ID, 10), CallID: strconv.FormatInt(call.ID, 10)}
	spec.OnStart = func(pgid int) { s.pgids.Store(pgid, origin) }
	spec.OnEnd = func(pgid int) { s.pgids.Delete(pgid) }
	if f.Style == StyleExec {
		spec.Path = filepath.Join(s.codeDir(f.ID), filepath.FromSlash(f.FunctionPath))
	} else {
		spec.Path, spec.Args = s.opts.Python, []string{s.shimPath}
	}
	res, err := runProcess(ctx, spec)
	if err != nil {
		return s.finish(f, call, nil, &ErrorInfo{Type: "SystemError", Message: err.Error()}, tok)
	}
	return s.finish(f, call, res, nil, tok)
}

func (s *Service) callEnv(tmp string, f *Function, call *Call, deadline time.Time) []string {
	env := s.baseEnv(tmp, f)
	return append(env,
		"FX_CALL_ID="+strconv.FormatInt(call.ID, 10),
		"FX_FUNCTION_ID="+strconv.FormatInt(f.ID, 10),
		"FX_DEADLINE_MS="+strconv.FormatInt(ms(deadline), 10),
		"FX_SERVICE_URL="+s.ServiceURL(),
		"FX_CODE_DIR="+s.codeDir(f.ID),
	)
}

// finish derives the call status from a process result and commits
// status, response and logs in one transaction, which also revokes the
// attempt's token.
func (s *Service) finish(f *Function, call *Call, res *procResult, sysErr *ErrorInfo, tok *callToken) *Call {
	c := *call
	c.EndTime = ms(s.clock.Now())
	var response json.RawMessage
	var logs []LogEntry
	switch {
	case sysErr != nil:
		c.Status, c.Error = CallFailed, sysErr
	case res.Interrupted:
		c.Status, c.Error = CallFailed, &ErrorInfo{Type: "Interrupted", Message: "the call was interrupted by a shutdown"}
	case res.TimedOut:
		c.Status, c.Error = CallTimeout, &ErrorInfo{Type: "Timeout",
			Message: fmt.Sprintf("the call exceeded its timeout of %s and was killed", s.timeoutOf(f))}
	case res.OOM:
		c.Status, c.Error = CallFailed, &ErrorInfo{Type: "MemoryError", Message: "Function ran out of memory"}
	case res.ResultTooLarge:
		c.Status, c.Error = CallFailed, &ErrorInfo{Type: "ResponseTooLarge",
			Message: fmt.Sprintf("the result is larger than %g MB", s.opts.Limits.ResponseSizeMB)}
	case len(res.Result) == 0:
		msg := fmt.Sprintf("the function wrote no result (exit code %d)", res.ExitCode)
		if res.Signaled != "" {
			msg = "the function wrote no result (killed by " + res.Signaled + ")"
		}
		c.Status, c.Error = CallFailed, &ErrorInfo{Type: "NoResult", Message: msg}
	default:
		var out procOutput
		if err := json.Unmarshal(res.Result, &out); err != nil || (out.Status != "ok" && out.Status != "error") {
			c.Status, c.Error = CallFailed, &ErrorInfo{Type: "InvalidResult", Message: "the result on fd 3 is not a fnproc/1 result document"}
			break
		}
		response = out.Response
		var buf bytes.Buffer
		if len(response) > 0 && json.Compact(&buf, response) == nil {
			response = buf.Bytes()
		}
		switch {
		case out.Status == "error":
			e := out.Error
			if e == nil {
				e = &ErrorInfo{Message: "the function reported an error"}
			}
			c.Status, c.Error = CallFailed, e
		case res.ExitCode != 0:
			c.Status, c.Error = CallFailed, &ErrorInfo{Type: "ExitError", Message: fmt.Sprintf("the function exited with code %d", res.ExitCode)}
		default:
			c.Status = CallCompleted
		}
	}
	if res != nil {
		logs = res.Logs
	}
	if tok != nil {
		defer s.limiter.forget(tok.hash)
	}
	err := update(s.db, func(tx metadata.Tx) error {
		if tok != nil {
			if err := tx.Delete(kToken(tok.hash)); err != nil {
				return err
			}
		}
		if _, err := tx.Get(kCallIndex(c.ID)); err != nil {
			return nil // the function was deleted meanwhile
		}
		if response != nil {
			if err := tx.Set(kCallResponse(c.ID), response); err != nil {
				return err
			}
		}
		if logs != nil {
			if err := putJSON(tx, kCallLogs(c.ID), logs); err != nil {
				return err
			}
		}
		return putJSON(tx, kCall(c.FunctionID, c.ID), &c)
	})
	if err != nil {
		s.log.Error("record call result", "call", c.ID, "err", err)
	}
	return &c
}

// GetCall retrieves a call of a function.
func (s *Service) GetCall(ctx context.Context, fnID, callID int64) (*Call, error) {
	var c Call
	err := s.db.View(func(tx metadata.Tx) error { return getJSON(tx, kCall(fnID, callID), &c) })
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: call %d of function %d", ErrNotFound, callID, fnID)
	}
	return &c, err
}

// GetCallByID retrieves a call by its id alone.
func (s *Service) GetCallByID(ctx context.Context, callID int64) (*Call, error) {
	var c Call
	err := s.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get(kCallIndex(callID))
		if err != nil {
			return ErrNotFound
		}
		fid, _ := strconv.ParseInt(string(b), 10, 64)
		return getJSON(tx, kCall(fid, callID), &c)
	})
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: call %d", ErrNotFound, callID)
	}
	return &c, err
}

// ListCalls lists a function's calls, newest first.
func (s *Service) ListCalls(ctx context.Context, fnID int64, flt CallFilter) ([]*Call, error) {
	if _, err := s.getFunction(fnID); err != nil {
		return nil, err
	}
	var out []*Call
	err := s.db.View(func(tx metadata.Tx) error {
		return iterJSON(tx, kCallPrefix(fnID), true, func(c *Call) (bool, error) {
			if flt.match(c) {
				out = append(out, c)
			}
			return flt.Limit <= 0 || len(out) < flt.Limit, nil
		})
	})
	return out, err
}

func (flt CallFilter) match(c *Call) bool {
	switch {
	case flt.Status != "" && c.Status != flt.Status,
		flt.ScheduleID != 0 && c.ScheduleID != flt.ScheduleID,
		flt.StartAfter != 0 && c.StartTime < flt.StartAfter,
		flt.StartUntil != 0 && c.StartTime > flt.StartUntil,
		flt.EndAfter != 0 && (c.EndTime == 0 || c.EndTime < flt.EndAfter),
		flt.EndUntil != 0 && (c.EndTime == 0 || c.EndTime > flt.EndUntil):
		return false
	}
	return true
}

// CallResponse returns a call's response JSON (null when there is none).
func (s *Service) CallResponse(ctx context.Context, fnID, callID int64) (json.RawMessage, error) {
	if _, err := s.GetCall(ctx, fnID, callID); err != nil {
		return nil, err
	}
	var out json.RawMessage
	err := s.db.View(func(tx metadata.Tx) error {
		b, err := tx.Get(kCallResponse(callID))
		if errors.Is(err, metadata.ErrNotFound) {
			out = json.RawMessage("null")
			return nil
		}
		if err != nil {
			return err
		}
		out = append(json.RawMessage(nil), b...)
		return nil
	})
	return out, err
}

// CallLogs returns a call's log lines.
func (s *Service) CallLogs(ctx context.Context, fnID, callID int64) ([]LogEntry, error) {
	if _, err := s.GetCall(ctx, fnID, callID); err != nil {
		return nil, err
	}
	out := []LogEntry{}
	err := s.db.View(func(tx metadata.Tx) error {
		err := getJSON(tx, kCallLogs(callID), &out)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		return err
	})
	return out, err
}
