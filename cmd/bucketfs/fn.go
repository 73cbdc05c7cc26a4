package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/functions"
	"github.com/bucketfs/bucketfs/remote"
	"github.com/bucketfs/bucketfs/storage"
	"github.com/urfave/cli/v2"
)

// fnBackend is what `bucketfs fn` needs: the server's functions API
// (--remote) or the data directory's functions.Service (embedded default).
type fnBackend interface {
	Limits(ctx context.Context) (*functions.Limits, error)
	UploadCode(ctx context.Context, zip []byte) (string, error)
	Create(ctx context.Context, spec functions.FunctionSpec) (*functions.Function, error)
	Get(ctx context.Context, ref string) (*functions.Function, error)
	List(ctx context.Context, flt functions.FunctionFilter) ([]*functions.Function, error)
	Delete(ctx context.Context, id int64) error
	Call(ctx context.Context, id int64, data json.RawMessage) (*functions.Call, error)
	GetCall(ctx context.Context, id, callID int64) (*functions.Call, error)
	ListCalls(ctx context.Context, id int64, flt functions.CallFilter) ([]*functions.Call, error)
	Response(ctx context.Context, id, callID int64) (json.RawMessage, error)
	Logs(ctx context.Context, id, callID int64) ([]functions.LogEntry, error)
	CreateSchedule(ctx context.Context, spec functions.ScheduleSpec) (*functions.Schedule, error)
	ListSchedules(ctx context.Context, fnID int64) ([]*functions.Schedule, error)
	GetSchedule(ctx context.Context, id int64) (*functions.Schedule, error)
	ScheduleData(ctx context.Context, id int64) (json.RawMessage, error)
	DeleteSchedule(ctx context.Context, id int64) error
	CreateTrigger(ctx context.Context, spec functions.TriggerSpec) (*functions.Trigger, error)
	ListTriggers(ctx context.Context, fnID int64) ([]*functions.Trigger, error)
	DeleteTrigger(ctx context.Context, id int64) error
	ListDeliveries(ctx context.Context, flt functions.DeliveryFilter) ([]*functions.Delivery, error)
	Redrive(ctx context.Context, id string) (*functions.Delivery, error)
	CreateGenerator(ctx context.Context, name string, start int64) error
}

var _ fnBackend = (*remote.FunctionsClient)(nil)
var _ fnBackend = (*localFunctions)(nil)

// localFunctions adapts functions.Service to fnBackend. Calls run in this
// process, with a loopback Access Service for their lifetime.
type localFunctions struct {
	*functions.Service
	store  *storage.Store
	access *remote.AccessServer
}

func (l *localFunctions) Create(ctx context.Context, spec functions.FunctionSpec) (*functions.Function, error) {
	return l.CreateFunction(ctx, spec)
}
func (l *localFunctions) Get(ctx context.Context, ref string) (*functions.Function, error) {
	return l.ResolveFunction(ctx, ref)
}
func (l *localFunctions) List(ctx context.Context, flt functions.FunctionFilter) ([]*functions.Function, error) {
	return l.ListFunctions(ctx, flt)
}
func (l *localFunctions) Delete(ctx context.Context, id int64) error {
	return l.DeleteFunction(ctx, id)
}
func (l *localFunctions) Limits(ctx context.Context) (*functions.Limits, error) {
	lim := l.Service.Limits()
	return &lim, nil
}
func (l *localFunctions) UploadCode(ctx context.Context, zip []byte) (string, error) {
	return l.Service.UploadCode(ctx, strings.NewReader(string(zip)))
}
func (l *localFunctions) Call(ctx context.Context, id int64, data json.RawMessage) (*functions.Call, error) {
	// The process lives in this CLI process, so the call always runs to its end.
	return l.CallAndWait(ctx, id, functions.CallRequest{Data: data, Principal: os.Getenv("USER")})
}
func (l *localFunctions) Response(ctx context.Context, id, callID int64) (json.RawMessage, error) {
	return l.CallResponse(ctx, id, callID)
}
func (l *localFunctions) Logs(ctx context.Context, id, callID int64) ([]functions.LogEntry, error) {
	return l.CallLogs(ctx, id, callID)
}
func (l *localFunctions) ListSchedules(ctx context.Context, fnID int64) ([]*functions.Schedule, error) {
	return l.Service.ListSchedules(ctx, fnID, "")
}
func (l *localFunctions) ScheduleData(ctx context.Context, id int64) (json.RawMessage, error) {
	return l.ScheduleInputData(ctx, id)
}

func (l *localFunctions) close() {
	if l.access != nil {
		l.access.Close()
	}
	l.Service.Close()
	l.store.Close()
}

// functionsOptions are the options of the functions of a data directory.
func functionsOptions(c *cli.Context) functions.Options {
	o := functions.DefaultOptions()
	o.Dir = filepath.Join(rootContext(c).String("data"), "functions")
	o.Logger = logger(c)
	if p := os.Getenv("BUCKETFS_PYTHON"); p != "" {
		o.Python = p
	}
	return o
}

// withFn runs fn with the backend of the command line.
func withFn(c *cli.Context, fn func(b fnBackend) error) error {
	if u := c.String("remote"); u != "" {
		cl, err := remote.NewFunctionsClient(u, c.String("token"), nil)
		if err != nil {
			return usagef("--remote %s: %v", u, err)
		}
		return fnExitErr(fn(cl))
	}
	// `fn call --data JSON` shadows the global --data (the data directory),
	// so the data directory is read from the root context.
	st, err := openLocal(rootContext(c))
	if err != nil {
		return err
	}
	svc, err := functions.New(st.DB(), st, functionsOptions(c))
	if err != nil {
		st.Close()
		return err
	}
	l := &localFunctions{Service: svc, store: st}
	defer l.close()
	if l.access, err = remote.ServeAccess(svc, "127.0.0.1:0"); err != nil {
		return err
	}
	return fnExitErr(fn(l))
}

// rootContext is the application's context (global flags only).
func rootContext(c *cli.Context) *cli.Context {
	// The last context of the lineage is a bare wrapper without flags; the
	// one before it is the application's.
	l := c.Lineage()
	if len(l) >= 2 {
		return l[len(l)-2]
	}
	return c
}

// fnExitErr adds the storage kind to functions errors so main's exit code
// mapping applies.
func fnExitErr(err error) error {
	var kind error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, functions.ErrNotFound):
		kind = storage.ErrNotFound
	case errors.Is(err, functions.ErrInvalid):
		kind = storage.ErrInvalid
	case errors.Is(err, functions.ErrConflict), errors.Is(err, functions.ErrNotReady):
		kind = storage.ErrConflict
	case errors.Is(err, functions.ErrUnauthorized), errors.Is(err, functions.ErrForbidden):
		kind = storage.ErrPermission
	case errors.Is(err, functions.ErrLimit):
		kind = storage.ErrQuotaExceeded
	default:
		return err
	}
	return &exitKindError{err: err, kind: kind}
}

// exitKindError keeps err's message and adds the storage kind main's exit
// code mapping looks for.
type exitKindError struct{ err, kind error }

func (e *exitKindError) Error() string   { return e.err.Error() }
func (e *exitKindError) Unwrap() []error { return []error{e.err, e.kind} }

// kvFlag parses repeated KEY=VALUE flags.
func kvFlag(c *cli.Context, name string) (map[string]string, error) {
	vals := c.StringSlice(name)
	if len(vals) == 0 {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range vals {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, usagef("--%s %q: want KEY=VALUE", name, kv)
		}
		m[k] = v
	}
	return m, nil
}

func msText(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02 15:04:05.000")
}

func errText(e *functions.ErrorInfo) string {
	if e == nil {
		return ""
	}
	if e.Type != "" {
		return e.Type + ": " + e.Message
	}
	return e.Message
}

func parseID(s, what string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, usagef("%s %q is not a number", what, s)
	}
	return id, nil
}

// waitDeployed polls until the function is Ready or Failed.
func waitDeployed(ctx context.Context, b fnBackend, id int64) (*functions.Function, error) {
	delay := 50 * time.Millisecond
	for {
		f, err := b.Get(ctx, strconv.FormatInt(id, 10))
		if err != nil || f.Status == functions.StatusReady || f.Status == functions.StatusFailed {
			return f, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}

// waitCall polls a call while it runs (Cognite's client backs off to 10 s; we cap at 1 s).
func waitCall(ctx context.Context, b fnBackend, fid int64, c *functions.Call) (*functions.Call, error) {
	delay := 50 * time.Millisecond
	for c.Status == functions.CallRunning {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
		var err error
		if c, err = b.GetCall(ctx, fid, c.ID); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func printFunction(c *cli.Context, f *functions.Function) error {
	if wantJSON(c) {
		return printJSON(c, f)
	}
	t := newTable(c, "ID", "NAME", "STATUS", "STYLE", "PATH", "CREATED", "ERROR")
	t.row(strconv.FormatInt(f.ID, 10), f.Name, f.Status, f.Style, f.FunctionPath, msText(f.CreatedTime), errText(f.Error))
	if err := t.flush(); err != nil {
		return err
	}
	if f.Error != nil && f.Error.Trace != "" {
		fmt.Fprintln(c.App.Writer, f.Error.Trace)
	}
	return nil
}

// printRows prints a list as JSON (--json) or as a table of header and
// one row per item.
func printRows[T any](c *cli.Context, xs []T, header []string, row func(x T) []string) error {
	if wantJSON(c) {
		return printJSON(c, xs)
	}
	t := newTable(c, header...)
	for _, x := range xs {
		t.row(row(x)...)
	}
	return t.flush()
}

func printCall(c *cli.Context, call *functions.Call) error {
	if wantJSON(c) {
		return printJSON(c, call)
	}
	t := newTable(c, "CALL", "FUNCTION", "STATUS", "TRIGGER", "START", "END", "ERROR")
	t.row(strconv.FormatInt(call.ID, 10), strconv.FormatInt(call.FunctionID, 10), call.Status, call.Trigger,
		msText(call.StartTime), msText(call.EndTime), errText(call.Error))
	return t.flush()
}

func init() {
	fnFlags := []cli.Flag{
		&cli.StringFlag{Name: "folder", Usage: "code folder (zipped and uploaded)"},
		&cli.StringFlag{Name: "file", Usage: "a single handler file"},
		&cli.StringFlag{Name: "object", Usage: "code from an object BUCKET/KEY (.zip archive or a handler file)"},
		&cli.StringFlag{Name: "function-path", Usage: "handler path inside the code (Cognite style)", DefaultText: "handler.py"},
		&cli.StringFlag{Name: "style", Usage: "cognite, cim or exec (default: guessed from the code)"},
		&cli.StringFlag{Name: "entrypoint", Usage: "CIM style: the function name in environment.yaml"},
		&cli.StringFlag{Name: "external-id"},
		&cli.StringFlag{Name: "description"},
		&cli.StringFlag{Name: "owner"},
		&cli.StringSliceFlag{Name: "secret", Usage: "KEY=VALUE (repeatable)"},
		&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE environment variable (repeatable)"},
		&cli.StringSliceFlag{Name: "metadata", Usage: "KEY=VALUE (repeatable)"},
		&cli.StringSliceFlag{Name: "access-bucket", Usage: "limit Access Service writes to these buckets (repeatable)"},
		&cli.Float64Flag{Name: "cpu", Usage: "CPU cores"},
		&cli.Float64Flag{Name: "memory", Usage: "memory in GB"},
		&cli.StringFlag{Name: "runtime"},
		&cli.IntFlag{Name: "timeout", Usage: "call timeout in seconds"},
		&cli.BoolFlag{Name: "no-wait", Usage: "return once queued, do not wait for the deploy"},
	}
	commands = append(commands, &cli.Command{
		Name:  "fn",
		Usage: "functions: register code, call it, schedule it, trigger it on file events",
		Subcommands: []*cli.Command{
			{Name: "create", Usage: "register a function and deploy it", ArgsUsage: "NAME", Flags: fnFlags, Action: fnCreate},
			{Name: "list", Usage: "list functions", Flags: []cli.Flag{
				&cli.StringFlag{Name: "status"}, &cli.StringFlag{Name: "owner"}, &cli.StringFlag{Name: "external-id-prefix"}, jsonFlag},
				Action: fnList},
			{Name: "get", Usage: "show a function (by id, name or external id)", ArgsUsage: "FUNCTION", Flags: []cli.Flag{jsonFlag}, Action: fnGet},
			{Name: "delete", Usage: "delete a function with its calls, schedules and triggers", ArgsUsage: "FUNCTION", Action: fnDelete},
			{Name: "limits", Usage: "show the limits", Action: func(c *cli.Context) error {
				return withFn(c, func(b fnBackend) error {
					l, err := b.Limits(c.Context)
					if err != nil {
						return err
					}
					return printJSON(c, l)
				})
			}},
			{Name: "call", Usage: "call a function", ArgsUsage: "FUNCTION", Flags: []cli.Flag{
				&cli.StringFlag{Name: "data", Usage: "input JSON (or @file)"},
				&cli.BoolFlag{Name: "wait", Usage: "wait for the end and print the response"}, jsonFlag},
				Action: fnCall},
			{Name: "calls", Usage: "list a function's calls", ArgsUsage: "FUNCTION", Flags: []cli.Flag{
				&cli.StringFlag{Name: "status"}, &cli.Int64Flag{Name: "schedule-id"}, &cli.IntFlag{Name: "limit", Value: 25}, jsonFlag},
				Action: fnCalls},
			{Name: "show-call", Usage: "show one call", ArgsUsage: "FUNCTION CALL", Flags: []cli.Flag{jsonFlag}, Action: fnShowCall},
			{Name: "response", Usage: "print a call's response", ArgsUsage: "FUNCTION CALL", Action: fnResponse},
			{Name: "logs", Usage: "print a call's logs", ArgsUsage: "FUNCTION CALL", Flags: []cli.Flag{jsonFlag}, Action: fnLogs},
			{Name: "schedule", Usage: "cron schedules", Subcommands: []*cli.Command{
				{Name: "create", ArgsUsage: "FUNCTION NAME", Usage: "create a schedule", Flags: []cli.Flag{
					&cli.StringFlag{Name: "cron", Required: true, Usage: "5-field cron expression"},
					&cli.StringFlag{Name: "tz", Usage: "time zone (default UTC)"},
					&cli.StringFlag{Name: "data", Usage: "input JSON (or @file)"},
					&cli.StringFlag{Name: "description"}}, Action: fnScheduleCreate},
				{Name: "list", ArgsUsage: "[FUNCTION]", Flags: []cli.Flag{jsonFlag}, Action: fnScheduleList},
				{Name: "get", ArgsUsage: "ID", Action: fnScheduleGet},
				{Name: "data", ArgsUsage: "ID", Usage: "print the input data", Action: fnScheduleData},
				{Name: "delete", ArgsUsage: "ID", Action: fnScheduleDelete},
			}},
			{Name: "trigger", Usage: "file-event triggers", Subcommands: []*cli.Command{
				{Name: "create", ArgsUsage: "FUNCTION", Usage: "call FUNCTION on events of a bucket", Flags: []cli.Flag{
					&cli.StringFlag{Name: "bucket", Required: true},
					&cli.StringSliceFlag{Name: "event", Usage: "event name or family, e.g. s3:ObjectCreated:* (repeatable)"},
					&cli.StringFlag{Name: "prefix"}, &cli.StringFlag{Name: "suffix"},
					&cli.BoolFlag{Name: "allow-recursive", Usage: "let the function's own writes trigger it (up to the hop limit)"}},
					Action: fnTriggerCreate},
				{Name: "list", ArgsUsage: "[FUNCTION]", Flags: []cli.Flag{jsonFlag}, Action: fnTriggerList},
				{Name: "delete", ArgsUsage: "ID", Action: fnTriggerDelete},
			}},
			{Name: "deliveries", Usage: "list trigger deliveries", Flags: []cli.Flag{
				&cli.StringFlag{Name: "state", Usage: "pending, leased, succeeded, dead or loop_terminated"}, jsonFlag},
				Action: fnDeliveries},
			{Name: "redrive", Usage: "retry a dead delivery", ArgsUsage: "DELIVERY", Action: fnRedrive},
			{Name: "numgen", Usage: "create a number generator for the Access Service", ArgsUsage: "NAME", Flags: []cli.Flag{
				&cli.Int64Flag{Name: "start", Value: 1}}, Action: fnNumgen},
		},
	})
}

func fnCreate(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	spec := functions.FunctionSpec{Name: c.Args().First(), ExternalID: c.String("external-id"),
		Description: c.String("description"), Owner: c.String("owner"), FunctionPath: c.String("function-path"),
		Style: c.String("style"), Entrypoint: c.String("entrypoint"), CPU: c.Float64("cpu"), Memory: c.Float64("memory"),
		Runtime: c.String("runtime"), TimeoutSec: c.Int("timeout"), AccessBuckets: c.StringSlice("access-bucket")}
	var err error
	if spec.Secrets, err = kvFlag(c, "secret"); err != nil {
		return err
	}
	if spec.EnvVars, err = kvFlag(c, "env"); err != nil {
		return err
	}
	if spec.Metadata, err = kvFlag(c, "metadata"); err != nil {
		return err
	}
	n := 0
	for _, f := range []string{"folder", "file", "object"} {
		if c.String(f) != "" {
			n++
		}
	}
	if n != 1 {
		return usagef("fn create: give exactly one of --folder, --file or --object")
	}
	var zip []byte
	switch {
	case c.String("folder") != "":
		if zip, err = functions.ZipFolder(c.String("folder")); err != nil {
			return fmt.Errorf("zip %s: %w", c.String("folder"), err)
		}
	case c.String("file") != "":
		b, err := os.ReadFile(c.String("file"))
		if err != nil {
			return err
		}
		spec.HandlerSource = string(b)
		if spec.FunctionPath == "" {
			if base := filepath.Base(c.String("file")); !strings.HasSuffix(base, ".py") {
				spec.FunctionPath = base // an executable keeps its name
			}
		}
	default:
		bucket, key, err := splitPath(c.String("object"), false)
		if err != nil {
			return err
		}
		spec.Source = &functions.ObjectRef{Bucket: bucket, Key: key}
	}
	return withFn(c, func(b fnBackend) error {
		if zip != nil {
			id, err := b.UploadCode(c.Context, zip)
			if err != nil {
				return err
			}
			spec.FileID = id
		}
		f, err := b.Create(c.Context, spec)
		if err != nil {
			return err
		}
		if !c.Bool("no-wait") {
			if f, err = waitDeployed(c.Context, b, f.ID); err != nil {
				return err
			}
		}
		if err := printFunction(c, f); err != nil {
			return err
		}
		if f.Status == functions.StatusFailed {
			return fmt.Errorf("%w: deploy of %s failed: %s", functions.ErrInvalid, f.Name, errText(f.Error))
		}
		return nil
	})
}

func fnList(c *cli.Context) error {
	return withFn(c, func(b fnBackend) error {
		fs, err := b.List(c.Context, functions.FunctionFilter{Status: c.String("status"), Owner: c.String("owner"),
			ExternalIDPrefix: c.String("external-id-prefix")})
		if err != nil {
			return err
		}
		return printRows(c, fs, []string{"ID", "NAME", "STATUS", "STYLE", "OWNER", "LAST CALLED"}, func(f *functions.Function) []string {
			return []string{strconv.FormatInt(f.ID, 10), f.Name, f.Status, f.Style, f.Owner, msText(f.LastCalled)}
		})
	})
}

func fnGet(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		return printFunction(c, f)
	})
}

func fnDelete(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		return b.Delete(c.Context, f.ID)
	})
}

func fnCall(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	data, err := jsonArg(c.String("data"))
	if err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		call, err := b.Call(c.Context, f.ID, data)
		if err != nil {
			return err
		}
		if !c.Bool("wait") {
			return printCall(c, call)
		}
		if call, err = waitCall(c.Context, b, f.ID, call); err != nil {
			return err
		}
		resp, err := b.Response(c.Context, f.ID, call.ID)
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, map[string]any{"call": call, "response": resp})
		}
		if call.Status != functions.CallCompleted {
			printCall(c, call)
			if call.Error != nil && call.Error.Trace != "" {
				fmt.Fprintln(c.App.ErrWriter, call.Error.Trace)
			}
			return fmt.Errorf("call %d %s: %s", call.ID, call.Status, errText(call.Error))
		}
		fmt.Fprintln(c.App.Writer, string(resp))
		return nil
	})
}

func jsonArg(d string) (json.RawMessage, error) {
	if d == "" {
		return nil, nil
	}
	if strings.HasPrefix(d, "@") {
		b, err := os.ReadFile(d[1:])
		if err != nil {
			return nil, err
		}
		d = string(b)
	}
	if !json.Valid([]byte(d)) {
		return nil, usagef("--data: not valid JSON")
	}
	return json.RawMessage(d), nil
}

func fnCalls(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		calls, err := b.ListCalls(c.Context, f.ID, functions.CallFilter{Status: c.String("status"),
			ScheduleID: c.Int64("schedule-id"), Limit: c.Int("limit")})
		if err != nil {
			return err
		}
		return printRows(c, calls, []string{"CALL", "STATUS", "TRIGGER", "START", "END", "ERROR"}, func(x *functions.Call) []string {
			return []string{strconv.FormatInt(x.ID, 10), x.Status, x.Trigger, msText(x.StartTime), msText(x.EndTime), errText(x.Error)}
		})
	})
}

// withFunction runs fn on the backend with the first argument resolved
// to its function (by id, external id or name).
func withFunction(c *cli.Context, fn func(b fnBackend, f *functions.Function) error) error {
	return withFn(c, func(b fnBackend) error {
		f, err := b.Get(c.Context, c.Args().First())
		if err != nil {
			return err
		}
		return fn(b, f)
	})
}

// callArgs resolves FUNCTION CALL.
func callArgs(c *cli.Context, b fnBackend) (int64, int64, error) {
	if err := nArgs(c, 2, 2); err != nil {
		return 0, 0, err
	}
	f, err := b.Get(c.Context, c.Args().Get(0))
	if err != nil {
		return 0, 0, err
	}
	cid, err := parseID(c.Args().Get(1), "call id")
	return f.ID, cid, err
}

// withCall runs fn on the backend with FUNCTION CALL resolved.
func withCall(c *cli.Context, fn func(b fnBackend, fid, cid int64) error) error {
	return withFn(c, func(b fnBackend) error {
		fid, cid, err := callArgs(c, b)
		if err != nil {
			return err
		}
		return fn(b, fid, cid)
	})
}

func fnShowCall(c *cli.Context) error {
	return withCall(c, func(b fnBackend, fid, cid int64) error {
		call, err := b.GetCall(c.Context, fid, cid)
		if err != nil {
			return err
		}
		return printCall(c, call)
	})
}

func fnResponse(c *cli.Context) error {
	return withCall(c, func(b fnBackend, fid, cid int64) error {
		r, err := b.Response(c.Context, fid, cid)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, string(r))
		return nil
	})
}

func fnLogs(c *cli.Context) error {
	return withCall(c, func(b fnBackend, fid, cid int64) error {
		logs, err := b.Logs(c.Context, fid, cid)
		if err != nil {
			return err
		}
		if wantJSON(c) {
			return printJSON(c, logs)
		}
		for _, l := range logs {
			fmt.Fprintf(c.App.Writer, "%s %s %s\n", msText(l.Timestamp), l.Stream, l.Message)
		}
		return nil
	})
}

func fnScheduleCreate(c *cli.Context) error {
	if err := nArgs(c, 2, 2); err != nil {
		return err
	}
	data, err := jsonArg(c.String("data"))
	if err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		s, err := b.CreateSchedule(c.Context, functions.ScheduleSpec{Name: c.Args().Get(1), FunctionID: f.ID,
			CronExpression: c.String("cron"), TimeZone: c.String("tz"), Description: c.String("description"), Data: data})
		if err != nil {
			return err
		}
		return printJSON(c, s)
	})
}

// listByFunction is the shape of `schedule list` and `trigger list`: an
// optional FUNCTION (0, all, when absent), then JSON or a table.
func listByFunction[T any](c *cli.Context, list func(b fnBackend, fid int64) ([]T, error),
	header []string, row func(x T) []string) error {
	return withFn(c, func(b fnBackend) error {
		var fid int64
		if c.NArg() > 0 {
			f, err := b.Get(c.Context, c.Args().First())
			if err != nil {
				return err
			}
			fid = f.ID
		}
		xs, err := list(b, fid)
		if err != nil {
			return err
		}
		return printRows(c, xs, header, row)
	})
}

func fnScheduleList(c *cli.Context) error {
	return listByFunction(c, func(b fnBackend, fid int64) ([]*functions.Schedule, error) {
		return b.ListSchedules(c.Context, fid)
	}, []string{"ID", "NAME", "FUNCTION", "CRON", "TZ", "NEXT FIRE"}, func(s *functions.Schedule) []string {
		return []string{strconv.FormatInt(s.ID, 10), s.Name, strconv.FormatInt(s.FunctionID, 10), s.CronExpression, s.TimeZone, msText(s.NextFire)}
	})
}

// oneID parses the single argument as a numeric id; what names it in errors.
func oneID(c *cli.Context, what string) (int64, error) {
	if err := nArgs(c, 1, 1); err != nil {
		return 0, err
	}
	return parseID(c.Args().First(), what)
}

func scheduleID(c *cli.Context) (int64, error) { return oneID(c, "schedule id") }

func fnScheduleGet(c *cli.Context) error {
	id, err := scheduleID(c)
	if err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error {
		s, err := b.GetSchedule(c.Context, id)
		if err != nil {
			return err
		}
		return printJSON(c, s)
	})
}

func fnScheduleData(c *cli.Context) error {
	id, err := scheduleID(c)
	if err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error {
		d, err := b.ScheduleData(c.Context, id)
		if err != nil {
			return err
		}
		fmt.Fprintln(c.App.Writer, string(d))
		return nil
	})
}

func fnScheduleDelete(c *cli.Context) error {
	id, err := scheduleID(c)
	if err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error { return b.DeleteSchedule(c.Context, id) })
}

func fnTriggerCreate(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFunction(c, func(b fnBackend, f *functions.Function) error {
		t, err := b.CreateTrigger(c.Context, functions.TriggerSpec{FunctionID: f.ID, Bucket: c.String("bucket"),
			Events: c.StringSlice("event"), Prefix: c.String("prefix"), Suffix: c.String("suffix"),
			AllowRecursive: c.Bool("allow-recursive")})
		if err != nil {
			return err
		}
		return printJSON(c, t)
	})
}

func fnTriggerList(c *cli.Context) error {
	return listByFunction(c, func(b fnBackend, fid int64) ([]*functions.Trigger, error) {
		return b.ListTriggers(c.Context, fid)
	}, []string{"ID", "FUNCTION", "BUCKET", "EVENTS", "PREFIX", "SUFFIX", "ENABLED"}, func(x *functions.Trigger) []string {
		return []string{strconv.FormatInt(x.ID, 10), strconv.FormatInt(x.FunctionID, 10), x.Bucket, strings.Join(x.Events, ","),
			x.Prefix, x.Suffix, strconv.FormatBool(x.Enabled)}
	})
}

func fnTriggerDelete(c *cli.Context) error {
	id, err := oneID(c, "trigger id")
	if err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error { return b.DeleteTrigger(c.Context, id) })
}

func fnDeliveries(c *cli.Context) error {
	return withFn(c, func(b fnBackend) error {
		ds, err := b.ListDeliveries(c.Context, functions.DeliveryFilter{State: c.String("state")})
		if err != nil {
			return err
		}
		return printRows(c, ds, []string{"ID", "STATE", "FUNCTION", "KEY", "ATTEMPTS", "LAST ERROR"}, func(d *functions.Delivery) []string {
			return []string{d.ID, d.State, strconv.FormatInt(d.FunctionID, 10), d.Key, strconv.Itoa(d.Attempt), d.LastError}
		})
	})
}

func fnRedrive(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error {
		d, err := b.Redrive(c.Context, c.Args().First())
		if err != nil {
			return err
		}
		return printJSON(c, d)
	})
}

func fnNumgen(c *cli.Context) error {
	if err := nArgs(c, 1, 1); err != nil {
		return err
	}
	return withFn(c, func(b fnBackend) error { return b.CreateGenerator(c.Context, c.Args().First(), c.Int64("start")) })
}

// ---- wiring for serve and mount (the data directory's owner runs the
// dispatcher and the scheduler) ----

// startFunctionsServe mounts the functions API and the Access Service on
// srv and starts the dispatcher and scheduler. baseURL is how calls reach
// the server (scheme://host:port).
func startFunctionsServe(ctx context.Context, c *cli.Context, st *storage.Store, srv *remote.Server, baseURL string) (originOf func(int) (storage.Origin, bool), stop func(), err error) {
	svc, err := functions.New(st.DB(), st, functionsOptions(c))
	if err != nil {
		return nil, nil, fmt.Errorf("functions: %w", err)
	}
	remote.MountFunctions(srv, svc)
	svc.SetServiceURL(strings.TrimRight(baseURL, "/") + remote.AccessPath(srv))
	if err := svc.Start(ctx); err != nil {
		svc.Close()
		return nil, nil, fmt.Errorf("functions: %w", err)
	}
	return svc.OriginForPID, func() { svc.Close() }, nil
}

// startFunctionsMount runs the functions of an embedded-default mount: a
// loopback Access Service plus dispatcher and scheduler. A mount of a
// remote server leaves functions to the server (st is not a local Store).
// originOf tells the mount which processes belong to a running call.
func startFunctionsMount(ctx context.Context, c *cli.Context, st storage.ObjectStore) (originOf func(int) (storage.Origin, bool), stop func(), err error) {
	local, ok := st.(*storage.Store)
	if !ok {
		return nil, func() {}, nil
	}
	svc, err := functions.New(local.DB(), local, functionsOptions(c))
	if err != nil {
		return nil, nil, fmt.Errorf("functions: %w", err)
	}
	acc, err := remote.ServeAccess(svc, "127.0.0.1:0")
	if err != nil {
		svc.Close()
		return nil, nil, fmt.Errorf("functions: access service: %w", err)
	}
	if err := svc.Start(ctx); err != nil {
		acc.Close()
		svc.Close()
		return nil, nil, fmt.Errorf("functions: %w", err)
	}
	return svc.OriginForPID, func() {
		acc.Close()
		svc.Close()
	}, nil
}
