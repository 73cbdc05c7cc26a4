package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/bucketfs/bucketfs/functions"
)

// Scopes of the functions management API (admin tokens hold them all).
const (
	ActionFunctionRead  = "function-read"
	ActionFunctionWrite = "function-write"
	ActionFunctionCall  = "function-call"
)

// functionsAPI serves /api/functions in Cognite's shape (items envelopes,
// camelCase fields, millisecond times).
type functionsAPI struct {
	srv *Server
	svc *functions.Service
	pfx string
}

// MountFunctions mounts the functions management API at <prefix>/functions
// and the Access Service at <prefix>/access on srv. The Access Service URL
// handed to calls is base + AccessPath(srv); cmd sets it with
// svc.SetServiceURL once the listener's address is known.
func MountFunctions(srv *Server, svc *functions.Service) {
	a := &functionsAPI{srv: srv, svc: svc, pfx: srv.Prefix() + "/functions"}
	// Two muxes: "/functions/schedules/{sid}" and "/functions/{id}/calls"
	// overlap as patterns, so the sub-resources get their own.
	mux, sub := http.NewServeMux(), http.NewServeMux()
	p := a.pfx
	mux.HandleFunc("GET "+p+"/limits", a.limits)
	mux.HandleFunc("POST "+p, a.create)
	mux.HandleFunc("GET "+p, a.list)
	mux.HandleFunc("POST "+p+"/list", a.list)
	mux.HandleFunc("POST "+p+"/byids", a.byIDs)
	mux.HandleFunc("POST "+p+"/delete", a.delete)
	mux.HandleFunc("POST "+p+"/code", a.uploadCode)
	mux.HandleFunc("POST "+p+"/numgen", a.createGenerator)
	mux.HandleFunc("GET "+p+"/{id}", a.get)
	mux.HandleFunc("POST "+p+"/{id}/call", a.call)
	mux.HandleFunc("GET "+p+"/{id}/calls", a.listCalls)
	mux.HandleFunc("POST "+p+"/{id}/calls/list", a.listCalls)
	mux.HandleFunc("GET "+p+"/{id}/calls/{call}", a.getCall)
	mux.HandleFunc("GET "+p+"/{id}/calls/{call}/response", a.callResponse)
	mux.HandleFunc("GET "+p+"/{id}/calls/{call}/logs", a.callLogs)
	sub.HandleFunc("POST "+p+"/schedules", a.createSchedule)
	sub.HandleFunc("GET "+p+"/schedules", a.listSchedules)
	sub.HandleFunc("POST "+p+"/schedules/list", a.listSchedules)
	sub.HandleFunc("POST "+p+"/schedules/delete", a.deleteSchedules)
	sub.HandleFunc("GET "+p+"/schedules/{sid}", a.getSchedule)
	sub.HandleFunc("GET "+p+"/schedules/{sid}/input_data", a.scheduleData)
	sub.HandleFunc("POST "+p+"/triggers", a.createTrigger)
	sub.HandleFunc("GET "+p+"/triggers", a.listTriggers)
	sub.HandleFunc("POST "+p+"/triggers/delete", a.deleteTriggers)
	sub.HandleFunc("GET "+p+"/triggers/{tid}", a.getTrigger)
	sub.HandleFunc("GET "+p+"/deliveries", a.listDeliveries)
	sub.HandleFunc("POST "+p+"/deliveries/{did}/redrive", a.redrive)
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, p+"/")
		first, _, _ := strings.Cut(rest, "/")
		switch first {
		case "schedules", "triggers", "deliveries":
			sub.ServeHTTP(w, r)
		default:
			mux.ServeHTTP(w, r)
		}
	})
	srv.Handle(p, root)
	srv.Handle(p+"/", root)
	access := NewAccessHandler(svc, AccessPath(srv))
	srv.Handle(AccessPath(srv)+"/", access)
}

// AccessPath is where MountFunctions serves the Access Service on srv.
func AccessPath(srv *Server) string { return srv.Prefix() + "/access" }

// fnError is Cognite's error envelope.
type fnError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// functionsStatus maps functions errors to HTTP statuses.
func functionsStatus(err error) int {
	switch {
	case errors.Is(err, functions.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, functions.ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, functions.ErrConflict), errors.Is(err, functions.ErrNotReady):
		return http.StatusConflict
	case errors.Is(err, functions.ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, functions.ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, functions.ErrRateLimited), errors.Is(err, functions.ErrLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, functions.ErrClosed):
		return http.StatusServiceUnavailable
	}
	return 0
}

func (a *functionsAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	st := functionsStatus(err)
	if st == 0 {
		a.srv.WriteError(w, r, err)
		return
	}
	var body fnError
	body.Error.Code, body.Error.Message = st, err.Error()
	fnJSON(w, st, body)
}

func fnJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// auth checks a scope and returns the caller's principal name.
func (a *functionsAPI) auth(w http.ResponseWriter, r *http.Request, action string) (string, bool) {
	tok, err := a.srv.Authorize(r, action, "")
	if err != nil {
		a.srv.WriteError(w, r, err)
		return "", false
	}
	if tok == nil {
		return "anonymous", true
	}
	if tok.Name != "" {
		return tok.Name, true
	}
	return tok.ID, true
}

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: %v", functions.ErrInvalid, err)
	}
	return nil
}

func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a number", functions.ErrInvalid, name, r.PathValue(name))
	}
	return id, nil
}

type items[T any] struct {
	Items []T `json:"items"`
}

type idItem struct {
	ID         int64  `json:"id,omitempty"`
	ExternalID string `json:"externalId,omitempty"`
}

// oneItem decodes an items envelope that must hold exactly one item; on
// false it has already answered.
func oneItem[T any](a *functionsAPI, w http.ResponseWriter, r *http.Request) (T, bool) {
	var req items[T]
	if err := decodeBody(r, &req); err != nil {
		a.fail(w, r, err)
		var zero T
		return zero, false
	}
	if len(req.Items) != 1 {
		a.fail(w, r, fmt.Errorf("%w: give exactly one item", functions.ErrInvalid))
		var zero T
		return zero, false
	}
	return req.Items[0], true
}

// byID adapts a delete by numeric id to deleteItems (external ids are
// not looked at: schedules and triggers have none).
func byID(del func(ctx context.Context, id int64) error) func(ctx context.Context, it idItem) error {
	return func(ctx context.Context, it idItem) error { return del(ctx, it.ID) }
}

// serveByID is the shape of a read by one path id: auth, parse the id,
// get, then fail or answer 200 with what get returned.
func serveByID[T any](a *functionsAPI, w http.ResponseWriter, r *http.Request, action, param string,
	get func(ctx context.Context, id int64) (T, error)) {
	if _, ok := a.auth(w, r, action); !ok {
		return
	}
	id, err := pathID(r, param)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	v, err := get(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, v)
}

// serveCall is serveByID for /{id}/calls/{call}/...: callIDs, get, then
// fail or answer 200.
func serveCall[T any](a *functionsAPI, w http.ResponseWriter, r *http.Request,
	get func(ctx context.Context, id, cid int64) (T, error)) {
	id, cid, ok := a.callIDs(w, r)
	if !ok {
		return
	}
	v, err := get(r.Context(), id, cid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, v)
}

// deleteItems is the shape of a bulk delete: auth, decode an items
// envelope, delete each in order (stopping at the first error), then
// answer 200 with {}.
func (a *functionsAPI) deleteItems(w http.ResponseWriter, r *http.Request, del func(ctx context.Context, it idItem) error) {
	if _, ok := a.auth(w, r, ActionFunctionWrite); !ok {
		return
	}
	var body items[idItem]
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	for _, it := range body.Items {
		if err := del(r.Context(), it); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	fnJSON(w, 200, struct{}{})
}

func (a *functionsAPI) limits(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	fnJSON(w, 200, a.svc.Limits())
}

func (a *functionsAPI) create(w http.ResponseWriter, r *http.Request) {
	who, ok := a.auth(w, r, ActionFunctionWrite)
	if !ok {
		return
	}
	spec, ok := oneItem[functions.FunctionSpec](a, w, r)
	if !ok {
		return
	}
	if spec.Owner == "" {
		spec.Owner = who
	}
	f, err := a.svc.CreateFunction(r.Context(), spec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, items[*functions.Function]{Items: []*functions.Function{f}})
}

func (a *functionsAPI) list(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	var flt functions.FunctionFilter
	if r.Method == http.MethodPost {
		var body struct {
			Filter struct {
				Name             string            `json:"name"`
				Owner            string            `json:"owner"`
				Status           string            `json:"status"`
				ExternalIDPrefix string            `json:"externalIdPrefix"`
				Metadata         map[string]string `json:"metadata"`
				CreatedTime      struct {
					Min int64 `json:"min"`
					Max int64 `json:"max"`
				} `json:"createdTime"`
			} `json:"filter"`
			Limit int `json:"limit"`
		}
		if err := decodeBody(r, &body); err != nil {
			a.fail(w, r, err)
			return
		}
		f := body.Filter
		flt = functions.FunctionFilter{Name: f.Name, Owner: f.Owner, Status: f.Status, ExternalIDPrefix: f.ExternalIDPrefix,
			Metadata: f.Metadata, CreatedAfter: f.CreatedTime.Min, CreatedBefore: f.CreatedTime.Max, Limit: body.Limit}
	} else {
		q := r.URL.Query()
		flt = functions.FunctionFilter{Name: q.Get("name"), Owner: q.Get("owner"), Status: q.Get("status"),
			ExternalIDPrefix: q.Get("externalIdPrefix")}
		flt.Limit, _ = strconv.Atoi(q.Get("limit"))
	}
	out, err := a.svc.ListFunctions(r.Context(), flt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if out == nil {
		out = []*functions.Function{}
	}
	fnJSON(w, 200, items[*functions.Function]{Items: out})
}

func (a *functionsAPI) byIDs(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	var body struct {
		Items           []idItem `json:"items"`
		IgnoreUnknownID bool     `json:"ignoreUnknownIds"`
	}
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	var ids []int64
	var xids []string
	for _, it := range body.Items {
		if it.ExternalID != "" {
			xids = append(xids, it.ExternalID)
		} else {
			ids = append(ids, it.ID)
		}
	}
	out, err := a.svc.RetrieveFunctions(r.Context(), ids, xids, body.IgnoreUnknownID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if out == nil {
		out = []*functions.Function{}
	}
	fnJSON(w, 200, items[*functions.Function]{Items: out})
}

func (a *functionsAPI) delete(w http.ResponseWriter, r *http.Request) {
	a.deleteItems(w, r, func(ctx context.Context, it idItem) error {
		id := it.ID
		if it.ExternalID != "" {
			f, err := a.svc.GetFunctionByExternalID(ctx, it.ExternalID)
			if err != nil {
				return err
			}
			id = f.ID
		}
		return a.svc.DeleteFunction(ctx, id)
	})
}

func (a *functionsAPI) uploadCode(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionWrite); !ok {
		return
	}
	id, err := a.svc.UploadCode(r.Context(), r.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, map[string]string{"fileId": id})
}

func (a *functionsAPI) createGenerator(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionWrite); !ok {
		return
	}
	var body struct {
		Name  string `json:"name"`
		Start int64  `json:"start"`
	}
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.svc.CreateGenerator(r.Context(), body.Name, body.Start); err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, body)
}

func (a *functionsAPI) get(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		// Not a number: a name or external id (our convenience).
		f, err := a.svc.ResolveFunction(r.Context(), r.PathValue("id"))
		if err != nil {
			a.fail(w, r, err)
			return
		}
		fnJSON(w, 200, f)
		return
	}
	f, err := a.svc.GetFunction(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, f)
}

func (a *functionsAPI) call(w http.ResponseWriter, r *http.Request) {
	who, ok := a.auth(w, r, ActionFunctionCall)
	if !ok {
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var body struct {
		Data json.RawMessage `json:"data"`
	}
	if err := decodeBody(r, &body); err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.Call(r.Context(), id, functions.CallRequest{Data: body.Data, Principal: who})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, c)
}

func (a *functionsAPI) listCalls(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var flt functions.CallFilter
	if r.Method == http.MethodPost {
		var body struct {
			Filter struct {
				Status     string `json:"status"`
				ScheduleID int64  `json:"scheduleId"`
				StartTime  struct {
					Min int64 `json:"min"`
					Max int64 `json:"max"`
				} `json:"startTime"`
				EndTime struct {
					Min int64 `json:"min"`
					Max int64 `json:"max"`
				} `json:"endTime"`
			} `json:"filter"`
			Limit int `json:"limit"`
		}
		if err := decodeBody(r, &body); err != nil {
			a.fail(w, r, err)
			return
		}
		f := body.Filter
		flt = functions.CallFilter{Status: f.Status, ScheduleID: f.ScheduleID, StartAfter: f.StartTime.Min,
			StartUntil: f.StartTime.Max, EndAfter: f.EndTime.Min, EndUntil: f.EndTime.Max, Limit: body.Limit}
	} else {
		q := r.URL.Query()
		flt.Status = q.Get("status")
		flt.ScheduleID, _ = strconv.ParseInt(q.Get("scheduleId"), 10, 64)
		flt.Limit, _ = strconv.Atoi(q.Get("limit"))
	}
	out, err := a.svc.ListCalls(r.Context(), id, flt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if out == nil {
		out = []*functions.Call{}
	}
	fnJSON(w, 200, items[*functions.Call]{Items: out})
}

func (a *functionsAPI) callIDs(w http.ResponseWriter, r *http.Request) (int64, int64, bool) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return 0, 0, false
	}
	id, err := pathID(r, "id")
	if err == nil {
		var cid int64
		if cid, err = pathID(r, "call"); err == nil {
			return id, cid, true
		}
	}
	a.fail(w, r, err)
	return 0, 0, false
}

func (a *functionsAPI) getCall(w http.ResponseWriter, r *http.Request) {
	serveCall(a, w, r, a.svc.GetCall)
}

func (a *functionsAPI) callResponse(w http.ResponseWriter, r *http.Request) {
	serveCall(a, w, r, func(ctx context.Context, id, cid int64) (map[string]json.RawMessage, error) {
		resp, err := a.svc.CallResponse(ctx, id, cid)
		return map[string]json.RawMessage{"response": resp}, err
	})
}

func (a *functionsAPI) callLogs(w http.ResponseWriter, r *http.Request) {
	serveCall(a, w, r, func(ctx context.Context, id, cid int64) (items[functions.LogEntry], error) {
		logs, err := a.svc.CallLogs(ctx, id, cid)
		return items[functions.LogEntry]{Items: logs}, err
	})
}

func (a *functionsAPI) createSchedule(w http.ResponseWriter, r *http.Request) {
	who, ok := a.auth(w, r, ActionFunctionWrite)
	if !ok {
		return
	}
	item, ok := oneItem[struct {
		functions.ScheduleSpec
		FunctionExternalID string `json:"functionExternalId"`
	}](a, w, r)
	if !ok {
		return
	}
	spec := item.ScheduleSpec
	if x := item.FunctionExternalID; x != "" && spec.FunctionID == 0 {
		f, err := a.svc.GetFunctionByExternalID(r.Context(), x)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		spec.FunctionID = f.ID
	}
	spec.Principal = who
	sc, err := a.svc.CreateSchedule(r.Context(), spec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, items[*functions.Schedule]{Items: []*functions.Schedule{sc}})
}

func (a *functionsAPI) listSchedules(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	var fid int64
	var name string
	if r.Method == http.MethodPost {
		var body struct {
			Filter struct {
				FunctionID int64  `json:"functionId"`
				Name       string `json:"name"`
			} `json:"filter"`
		}
		if err := decodeBody(r, &body); err != nil {
			a.fail(w, r, err)
			return
		}
		fid, name = body.Filter.FunctionID, body.Filter.Name
	} else {
		fid, _ = strconv.ParseInt(r.URL.Query().Get("functionId"), 10, 64)
		name = r.URL.Query().Get("name")
	}
	out, err := a.svc.ListSchedules(r.Context(), fid, name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, items[*functions.Schedule]{Items: out})
}

func (a *functionsAPI) getSchedule(w http.ResponseWriter, r *http.Request) {
	serveByID(a, w, r, ActionFunctionRead, "sid", a.svc.GetSchedule)
}

func (a *functionsAPI) scheduleData(w http.ResponseWriter, r *http.Request) {
	serveByID(a, w, r, ActionFunctionRead, "sid", func(ctx context.Context, id int64) (map[string]any, error) {
		d, err := a.svc.ScheduleInputData(ctx, id)
		return map[string]any{"id": id, "data": d}, err
	})
}

func (a *functionsAPI) deleteSchedules(w http.ResponseWriter, r *http.Request) {
	a.deleteItems(w, r, byID(a.svc.DeleteSchedule))
}

func (a *functionsAPI) createTrigger(w http.ResponseWriter, r *http.Request) {
	who, ok := a.auth(w, r, ActionFunctionWrite)
	if !ok {
		return
	}
	spec, ok := oneItem[functions.TriggerSpec](a, w, r)
	if !ok {
		return
	}
	// The caller must be able to read the bucket it binds.
	if _, err := a.srv.Authorize(r, ActionBucketRead, spec.Bucket); err != nil {
		a.srv.WriteError(w, r, err)
		return
	}
	spec.Principal = who
	t, err := a.svc.CreateTrigger(r.Context(), spec)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 201, items[*functions.Trigger]{Items: []*functions.Trigger{t}})
}

func (a *functionsAPI) listTriggers(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	fid, _ := strconv.ParseInt(r.URL.Query().Get("functionId"), 10, 64)
	out, err := a.svc.ListTriggers(r.Context(), fid)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, items[*functions.Trigger]{Items: out})
}

func (a *functionsAPI) getTrigger(w http.ResponseWriter, r *http.Request) {
	serveByID(a, w, r, ActionFunctionRead, "tid", a.svc.GetTrigger)
}

func (a *functionsAPI) deleteTriggers(w http.ResponseWriter, r *http.Request) {
	a.deleteItems(w, r, byID(a.svc.DeleteTrigger))
}

func (a *functionsAPI) listDeliveries(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionRead); !ok {
		return
	}
	q := r.URL.Query()
	flt := functions.DeliveryFilter{State: q.Get("state")}
	flt.FunctionID, _ = strconv.ParseInt(q.Get("functionId"), 10, 64)
	flt.Limit, _ = strconv.Atoi(q.Get("limit"))
	out, err := a.svc.ListDeliveries(r.Context(), flt)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, items[*functions.Delivery]{Items: out})
}

func (a *functionsAPI) redrive(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.auth(w, r, ActionFunctionWrite); !ok {
		return
	}
	d, err := a.svc.Redrive(r.Context(), strings.TrimSpace(r.PathValue("did")))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fnJSON(w, 200, d)
}
