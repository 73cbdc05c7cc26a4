package functions

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// procSpec describes one process run of the fnproc/1 protocol.
type procSpec struct {
	Path  string
	Args  []string
	Dir   string
	Env   []string
	Stdin []byte
	// Timeout is the call's deadline; at it the process group gets SIGTERM,
	// and Grace later SIGKILL.
	Timeout time.Duration
	Grace   time.Duration
	// MaxResult caps the fd 3 document; MaxLog the captured log bytes.
	MaxResult int64
	MaxLog    int64
	LineLimit int
	Limits    resourceLimits
	Now       func() time.Time
	// OnStart and OnEnd bracket the life of the process group (its id is
	// the leader's pid), so writes through the mount can be attributed.
	OnStart func(pgid int)
	OnEnd   func(pgid int)
}

// procResult is what a run produced.
type procResult struct {
	Result         []byte
	ResultTooLarge bool
	Logs           []LogEntry
	LogsTruncated  bool
	ExitCode       int
	Signaled       string
	TimedOut       bool
	// Interrupted: the run was stopped because ctx was cancelled (service
	// shutdown), not because of the call's own deadline.
	Interrupted bool
	OOM         bool
	Duration    time.Duration
}

// logSink collects timestamped lines from both streams under one cap.
type logSink struct {
	mu        sync.Mutex
	entries   []LogEntry
	bytes     int64
	max       int64
	truncated bool
	now       func() time.Time
}

func (s *logSink) add(stream string, line []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.truncated {
		return
	}
	if s.bytes+int64(len(line)) > s.max {
		s.truncated = true
		s.entries = append(s.entries, LogEntry{Timestamp: ms(s.now()), Stream: "system",
			Message: fmt.Sprintf("[log truncated: the call printed more than %d bytes]", s.max)})
		return
	}
	s.bytes += int64(len(line))
	s.entries = append(s.entries, LogEntry{Timestamp: ms(s.now()), Stream: stream, Message: string(line)})
}

// scanLines splits r into lines of at most limit bytes; it keeps draining
// after the cap so the writer never blocks on a full pipe.
func (s *logSink) scanLines(r io.Reader, stream string, limit int) {
	br := bufio.NewReaderSize(r, limit)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			s.add(stream, bytes.TrimRight(line, "\r\n"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

// runProcess runs one call process and never returns before the whole
// process group is gone (or has been sent SIGKILL).
func runProcess(ctx context.Context, spec procSpec) (*procResult, error) {
	if spec.Now == nil {
		spec.Now = time.Now
	}
	if spec.LineLimit <= 0 {
		spec.LineLimit = 16 << 10
	}
	res := &procResult{}
	sink := &logSink{max: spec.MaxLog, now: spec.Now}
	if sink.max <= 0 {
		sink.max = 1 << 20
	}

	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, err
	}
	parentEnds := []*os.File{inW, outR, errR, resR}
	childEnds := []*os.File{inR, outW, errW, resW}

	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Dir = spec.Dir
	cmd.Env = spec.Env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	cmd.ExtraFiles = []*os.File{resW} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cg, cgErr := spec.Limits.prepare(cmd)
	if cgErr != nil {
		cg = nil
	}

	start := spec.Now()
	// Pdeathsig fires when the forking thread dies; keep this goroutine on
	// its thread while forking so that thread is a long-lived one.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	closeAll(childEnds...)
	if err != nil {
		closeAll(parentEnds...)
		cg.cleanup()
		return nil, fmt.Errorf("functions: start %s: %w", spec.Path, err)
	}
	pgid := cmd.Process.Pid
	if cg == nil {
		spec.Limits.applyRlimits(pgid)
	}
	if spec.OnStart != nil {
		spec.OnStart(pgid)
	}
	if spec.OnEnd != nil {
		defer spec.OnEnd(pgid)
	}

	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		inW.Write(spec.Stdin) // EPIPE when the child ignores stdin is fine
		inW.Close()
	}()
	go func() { defer wg.Done(); sink.scanLines(outR, "stdout", spec.LineLimit) }()
	go func() { defer wg.Done(); sink.scanLines(errR, "stderr", spec.LineLimit) }()
	go func() {
		defer wg.Done()
		max := spec.MaxResult
		if max <= 0 {
			max = 1 << 20
		}
		b, _ := io.ReadAll(io.LimitReader(resR, max+1))
		if int64(len(b)) > max {
			res.ResultTooLarge = true
			b = nil
			io.Copy(io.Discard, resR)
		}
		res.Result = b
	}()

	exited := make(chan struct{})
	killerDone := make(chan struct{})
	var timedOut, interrupted bool
	go func() {
		defer close(killerDone)
		var deadline <-chan time.Time
		if spec.Timeout > 0 {
			t := time.NewTimer(spec.Timeout)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-exited:
			return
		case <-deadline:
			timedOut = true
		case <-ctx.Done():
			interrupted = true
		}
		syscall.Kill(-pgid, syscall.SIGTERM)
		grace := time.NewTimer(spec.Grace)
		defer grace.Stop()
		select {
		case <-exited:
		case <-grace.C:
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()

	waitErr := cmd.Wait()
	close(exited)
	<-killerDone
	// Children that outlived the leader die with it: the group is the call.
	syscall.Kill(-pgid, syscall.SIGKILL)
	cg.kill()

	readersDone := make(chan struct{})
	go func() { wg.Wait(); close(readersDone) }()
	select {
	case <-readersDone:
	case <-time.After(5 * time.Second):
		// Something escaped the group (setsid) and holds a pipe: stop reading.
		closeAll(parentEnds...)
		<-readersDone
	}
	closeAll(parentEnds...)

	res.Duration = spec.Now().Sub(start)
	res.TimedOut, res.Interrupted = timedOut, interrupted
	res.OOM = cg.oomKilled()
	cg.cleanup()
	var ee *exec.ExitError
	if errors.As(waitErr, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signaled = ws.Signal().String()
			res.ExitCode = -1
		} else {
			res.ExitCode = ee.ExitCode()
		}
	} else if waitErr != nil {
		return nil, waitErr
	}
	sink.mu.Lock()
	res.Logs, res.LogsTruncated = sink.entries, sink.truncated
	sink.mu.Unlock()
	return res, nil
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
