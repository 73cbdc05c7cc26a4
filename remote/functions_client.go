package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/functions"
	"github.com/bucketfs/bucketfs/storage"
)

// FunctionsClient speaks the functions management API of a server (used by
// `bucketfs fn --remote`).
type FunctionsClient struct {
	base  string // e.g. http://host:7480/api/functions
	token string
	hc    *http.Client
}

// NewFunctionsClient returns a client of server (scheme://host[:port], an
// optional prefix path, default "/api").
func NewFunctionsClient(server, token string, hc *http.Client) (*FunctionsClient, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(server), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: server URL %q", functions.ErrInvalid, server)
	}
	if u.Path == "" {
		u.Path = "/api"
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &FunctionsClient{base: u.String() + "/functions", token: token, hc: hc}, nil
}

// fnRemoteError carries the server's status so errors.Is works on the
// functions sentinels.
func fnRemoteError(status int, body []byte) error {
	var e fnError
	msg := strings.TrimSpace(string(body))
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		msg = e.Error.Message
	} else {
		var inv struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &inv) == nil && inv.Message != "" {
			msg = inv.Message
		}
	}
	var kind error
	switch status {
	case 400, 422:
		kind = functions.ErrInvalid
	case 401:
		kind = functions.ErrUnauthorized
	case 403:
		kind = functions.ErrForbidden
	case 404:
		kind = functions.ErrNotFound
	case 409:
		kind = functions.ErrConflict
	case 429:
		kind = functions.ErrLimit
	default:
		kind = storage.ErrUnavailable
	}
	return &fnKindError{kind: kind, msg: fmt.Sprintf("%s (HTTP %d)", msg, status)}
}

// fnKindError prints the server's message (which already names the kind)
// and matches the kind with errors.Is.
type fnKindError struct {
	kind error
	msg  string
}

func (e *fnKindError) Error() string { return e.msg }
func (e *fnKindError) Unwrap() error { return e.kind }

func (c *FunctionsClient) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case []byte:
		rd, ctype = bytes.NewReader(b), "application/zip"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", storage.ErrUnavailable, err)
	}
	if resp.StatusCode >= 300 {
		return fnRemoteError(resp.StatusCode, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func one[T any](it items[T], err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	if len(it.Items) != 1 {
		return zero, fmt.Errorf("%w: expected one item", storage.ErrUnavailable)
	}
	return it.Items[0], nil
}

// Limits returns the server's limits.
func (c *FunctionsClient) Limits(ctx context.Context) (*functions.Limits, error) {
	var l functions.Limits
	return &l, c.do(ctx, "GET", "/limits", nil, &l)
}

// UploadCode uploads a zip archive and returns its file id.
func (c *FunctionsClient) UploadCode(ctx context.Context, zip []byte) (string, error) {
	var out struct {
		FileID string `json:"fileId"`
	}
	err := c.do(ctx, "POST", "/code", zip, &out)
	return out.FileID, err
}

// Create registers a function.
func (c *FunctionsClient) Create(ctx context.Context, spec functions.FunctionSpec) (*functions.Function, error) {
	var it items[*functions.Function]
	err := c.do(ctx, "POST", "", items[functions.FunctionSpec]{Items: []functions.FunctionSpec{spec}}, &it)
	return one(it, err)
}

// Get retrieves a function by id, name or external id.
func (c *FunctionsClient) Get(ctx context.Context, ref string) (*functions.Function, error) {
	var f functions.Function
	return &f, c.do(ctx, "GET", "/"+url.PathEscape(ref), nil, &f)
}

// List lists functions.
func (c *FunctionsClient) List(ctx context.Context, flt functions.FunctionFilter) ([]*functions.Function, error) {
	var it items[*functions.Function]
	body := map[string]any{"filter": map[string]any{"name": flt.Name, "owner": flt.Owner, "status": flt.Status,
		"externalIdPrefix": flt.ExternalIDPrefix, "metadata": flt.Metadata}, "limit": flt.Limit}
	return it.Items, c.do(ctx, "POST", "/list", body, &it)
}

// Delete removes a function.
func (c *FunctionsClient) Delete(ctx context.Context, id int64) error {
	return c.do(ctx, "POST", "/delete", items[idItem]{Items: []idItem{{ID: id}}}, nil)
}

// Call starts a call.
func (c *FunctionsClient) Call(ctx context.Context, id int64, data json.RawMessage) (*functions.Call, error) {
	var call functions.Call
	return &call, c.do(ctx, "POST", "/"+strconv.FormatInt(id, 10)+"/call", map[string]any{"data": data}, &call)
}

// GetCall retrieves a call.
func (c *FunctionsClient) GetCall(ctx context.Context, id, callID int64) (*functions.Call, error) {
	var call functions.Call
	return &call, c.do(ctx, "GET", fmt.Sprintf("/%d/calls/%d", id, callID), nil, &call)
}

// ListCalls lists a function's calls.
func (c *FunctionsClient) ListCalls(ctx context.Context, id int64, flt functions.CallFilter) ([]*functions.Call, error) {
	var it items[*functions.Call]
	body := map[string]any{"filter": map[string]any{"status": flt.Status, "scheduleId": flt.ScheduleID,
		"startTime": map[string]int64{"min": flt.StartAfter, "max": flt.StartUntil}}, "limit": flt.Limit}
	return it.Items, c.do(ctx, "POST", fmt.Sprintf("/%d/calls/list", id), body, &it)
}

// Response returns a call's response.
func (c *FunctionsClient) Response(ctx context.Context, id, callID int64) (json.RawMessage, error) {
	var out struct {
		Response json.RawMessage `json:"response"`
	}
	return out.Response, c.do(ctx, "GET", fmt.Sprintf("/%d/calls/%d/response", id, callID), nil, &out)
}

// Logs returns a call's logs.
func (c *FunctionsClient) Logs(ctx context.Context, id, callID int64) ([]functions.LogEntry, error) {
	var it items[functions.LogEntry]
	return it.Items, c.do(ctx, "GET", fmt.Sprintf("/%d/calls/%d/logs", id, callID), nil, &it)
}

// CreateSchedule creates a schedule.
func (c *FunctionsClient) CreateSchedule(ctx context.Context, spec functions.ScheduleSpec) (*functions.Schedule, error) {
	var it items[*functions.Schedule]
	err := c.do(ctx, "POST", "/schedules", items[functions.ScheduleSpec]{Items: []functions.ScheduleSpec{spec}}, &it)
	return one(it, err)
}

// ListSchedules lists schedules.
func (c *FunctionsClient) ListSchedules(ctx context.Context, fnID int64) ([]*functions.Schedule, error) {
	var it items[*functions.Schedule]
	return it.Items, c.do(ctx, "GET", "/schedules?functionId="+strconv.FormatInt(fnID, 10), nil, &it)
}

// GetSchedule retrieves a schedule.
func (c *FunctionsClient) GetSchedule(ctx context.Context, id int64) (*functions.Schedule, error) {
	var s functions.Schedule
	return &s, c.do(ctx, "GET", "/schedules/"+strconv.FormatInt(id, 10), nil, &s)
}

// ScheduleData returns a schedule's input data.
func (c *FunctionsClient) ScheduleData(ctx context.Context, id int64) (json.RawMessage, error) {
	var out struct {
		Data json.RawMessage `json:"data"`
	}
	return out.Data, c.do(ctx, "GET", "/schedules/"+strconv.FormatInt(id, 10)+"/input_data", nil, &out)
}

// DeleteSchedule removes a schedule.
func (c *FunctionsClient) DeleteSchedule(ctx context.Context, id int64) error {
	return c.do(ctx, "POST", "/schedules/delete", items[idItem]{Items: []idItem{{ID: id}}}, nil)
}

// CreateTrigger creates a trigger.
func (c *FunctionsClient) CreateTrigger(ctx context.Context, spec functions.TriggerSpec) (*functions.Trigger, error) {
	var it items[*functions.Trigger]
	err := c.do(ctx, "POST", "/triggers", items[functions.TriggerSpec]{Items: []functions.TriggerSpec{spec}}, &it)
	return one(it, err)
}

// ListTriggers lists triggers.
func (c *FunctionsClient) ListTriggers(ctx context.Context, fnID int64) ([]*functions.Trigger, error) {
	var it items[*functions.Trigger]
	return it.Items, c.do(ctx, "GET", "/triggers?functionId="+strconv.FormatInt(fnID, 10), nil, &it)
}

// DeleteTrigger removes a trigger.
func (c *FunctionsClient) DeleteTrigger(ctx context.Context, id int64) error {
	return c.do(ctx, "POST", "/triggers/delete", items[idItem]{Items: []idItem{{ID: id}}}, nil)
}

// ListDeliveries lists deliveries.
func (c *FunctionsClient) ListDeliveries(ctx context.Context, flt functions.DeliveryFilter) ([]*functions.Delivery, error) {
	var it items[*functions.Delivery]
	q := url.Values{"state": {flt.State}, "functionId": {strconv.FormatInt(flt.FunctionID, 10)}, "limit": {strconv.Itoa(flt.Limit)}}
	return it.Items, c.do(ctx, "GET", "/deliveries?"+q.Encode(), nil, &it)
}

// Redrive puts a dead delivery back to pending.
func (c *FunctionsClient) Redrive(ctx context.Context, id string) (*functions.Delivery, error) {
	var d functions.Delivery
	return &d, c.do(ctx, "POST", "/deliveries/"+url.PathEscape(id)+"/redrive", struct{}{}, &d)
}

// CreateGenerator creates a number generator.
func (c *FunctionsClient) CreateGenerator(ctx context.Context, name string, start int64) error {
	return c.do(ctx, "POST", "/numgen", map[string]any{"name": name, "start": start}, nil)
}
