package functions

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/bucketfs/bucketfs/storage"
)

// buildRequest writes the fnproc/1 request document of one attempt.
func (s *Service) buildRequest(f *Function, call *Call, req CallRequest, token string, deadline time.Time) ([]byte, error) {
	var data any = json.RawMessage("null")
	if len(req.Data) > 0 {
		data = req.Data
	}
	var event any
	if req.Event != nil {
		rec := S3Record(req.Event)
		if len(req.Data) == 0 {
			data = map[string]any{"Records": []any{rec}}
		}
		event = map[string]any{
			"name":     cimEventName(req.Event.Name),
			"event_id": req.Event.ID,
			"data": map[string]any{
				"records": []any{rec}, "bucket": bucketLabel(req.Event), "bucket_id": req.Event.BucketID,
				"key": req.Event.Key, "size": req.Event.Size, "etag": req.Event.BLAKE3,
				"version_id": req.Event.VersionID, "event_name": req.Event.Name,
				"file_object_id":   FileObjectID(req.Event.BucketID, req.Event.Key),
				"parent_object_id": parentOf(req.Event.BucketID, req.Event.Key),
			},
		}
	} else {
		event = map[string]any{"name": call.Trigger, "event_id": fmt.Sprintf("call-%d", call.ID), "data": data}
	}
	callInfo := map[string]any{
		"id": call.ID, "function_id": f.ID, "function_name": f.Name, "attempt": call.Attempt,
		"deadline_ms": ms(deadline), "trigger": call.Trigger,
	}
	if call.ScheduleID != 0 {
		callInfo["schedule_id"] = call.ScheduleID
		callInfo["scheduled_time"] = call.ScheduledTime
	}
	if call.EventID != "" {
		callInfo["event_id"] = call.EventID
	}
	transaction := fmt.Sprintf("call-%d", call.ID)
	if req.Event != nil {
		transaction = req.Event.ID
	}
	var serviceURL any
	if u := s.ServiceURL(); u != "" {
		serviceURL = u
	}
	secrets := f.Secrets
	if secrets == nil {
		secrets = map[string]string{}
	}
	doc := map[string]any{
		"protocol": "fnproc/1", "style": f.Style, "entry": f.Entrypoint, "code_dir": s.codeDir(f.ID),
		"call": callInfo, "data": data, "event": event, "secrets": secrets,
		"metadata": map[string]any{
			"app_lang": "en", "app_user": req.Principal, "request_id": fmt.Sprint(call.ID),
			"request_datetime": time.UnixMilli(call.StartTime).UTC().Format(time.RFC3339Nano),
			"transaction_id":   transaction, "instance_url": s.opts.InstanceURL,
			"service_url": serviceURL, "service_token": token, "db_service_url": nil,
		},
	}
	if f.Style == StyleCognite {
		doc["entry"] = f.FunctionPath
	}
	if f.Style == StyleCIM {
		env, err := readEnvironment(s.codeDir(f.ID))
		if err != nil {
			return nil, err
		}
		doc["environment"] = env
	}
	return json.Marshal(doc)
}

func bucketLabel(e *storage.Event) string {
	if e.BucketName != "" {
		return e.BucketName
	}
	return e.BucketID
}

// cimEventName maps S3 names to our CIM-style event names.
func cimEventName(s3 string) string {
	switch {
	case strings.HasPrefix(s3, "s3:ObjectCreated:"):
		return "object_created"
	case strings.HasPrefix(s3, "s3:ObjectRemoved:"):
		return "object_removed"
	case strings.HasPrefix(s3, "s3:ObjectRestore:"):
		return "object_restored"
	case strings.HasPrefix(s3, "s3:ObjectAccessed:"):
		return "object_accessed"
	}
	return "object_event"
}

// S3Record renders an event as an S3/MinIO notification record with our
// "x-fx" extension (stable event id, raw key, origin, hop count).
func S3Record(e *storage.Event) map[string]any {
	obj := map[string]any{
		"key":       strings.ReplaceAll(url.QueryEscape(e.Key), "%2F", "/"),
		"versionId": e.VersionID,
		"sequencer": fmt.Sprintf("%016X", e.Seq),
	}
	if strings.HasPrefix(e.Name, "s3:ObjectCreated:") {
		obj["size"] = e.Size
		obj["eTag"] = e.BLAKE3
	}
	principal := e.Origin.Kind
	return map[string]any{
		"eventVersion": "2.1",
		"eventSource":  "bucketfs:s3",
		"awsRegion":    "",
		"eventTime":    e.Time.UTC().Format("2006-01-02T15:04:05.000Z"),
		"eventName":    e.Name,
		"userIdentity": map[string]any{"principalId": principal},
		"s3": map[string]any{
			"s3SchemaVersion": "1.0",
			"configurationId": "bucketfs",
			"bucket":          map[string]any{"name": bucketLabel(e), "id": e.BucketID, "arn": "arn:bucketfs:s3:::" + bucketLabel(e)},
			"object":          obj,
		},
		"x-fx": map[string]any{
			"event_id": e.ID, "key_raw": e.Key, "seq": e.Seq,
			"origin": map[string]any{"source": e.Origin.Kind, "function_id": e.Origin.FunctionID,
				"call_id": e.Origin.CallID, "hop": e.Origin.Hops},
		},
	}
}

func parentOf(bucketID, key string) string {
	dir := path.Dir(key)
	if dir == "." || dir == "/" {
		return bucketID
	}
	return bucketID + "/" + dir
}
