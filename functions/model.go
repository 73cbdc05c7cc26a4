package functions

import "github.com/bucketfs/bucketfs/storage"

// The records below are stored as JSON in the metadata DB and served as-is
// by the HTTP API, so their JSON names follow Cognite's wire format
// (camelCase, times in milliseconds since the Unix epoch).

// Function status values (Cognite).
const (
	StatusQueued    = "Queued"
	StatusDeploying = "Deploying"
	StatusReady     = "Ready"
	StatusFailed    = "Failed"
)

// Call status values (Cognite).
const (
	CallRunning   = "Running"
	CallCompleted = "Completed"
	CallFailed    = "Failed"
	CallTimeout   = "Timeout"
)

// Handler styles.
const (
	StyleCognite = "cognite" // Python handle(data, client, secrets, function_call_info)
	StyleCIM     = "cim"     // Python fn(metadata, event, service) from environment.yaml
	StyleExec    = "exec"    // any executable speaking fnproc/1 itself
)

// Call trigger kinds.
const (
	TriggerManual    = "manual"
	TriggerSchedule  = "schedule"
	TriggerFileEvent = "file_event"
)

// ErrorInfo is the {message, trace} object of a failed deploy or call; Type
// is our addition (the exception class, "Timeout", "ResponseTooLarge", ...).
type ErrorInfo struct {
	Type    string `json:"type,omitempty"`
	Message string `json:"message"`
	Trace   string `json:"trace,omitempty"`
}

// Function is a registered, deployed piece of code.
type Function struct {
	ID           int64             `json:"id"`
	Name         string            `json:"name"`
	ExternalID   string            `json:"externalId,omitempty"`
	Description  string            `json:"description,omitempty"`
	Owner        string            `json:"owner,omitempty"`
	Status       string            `json:"status"`
	FileID       string            `json:"fileId,omitempty"` // the code archive (our code id)
	FunctionPath string            `json:"functionPath"`
	Style        string            `json:"style"`
	Entrypoint   string            `json:"entrypoint,omitempty"` // CIM: function name in environment.yaml
	Secrets      map[string]string `json:"secrets,omitempty"`    // masked on read
	EnvVars      map[string]string `json:"envVars,omitempty"`
	CPU          float64           `json:"cpu"`
	Memory       float64           `json:"memory"` // GB
	Runtime      string            `json:"runtime,omitempty"`
	RuntimeVer   string            `json:"runtimeVersion,omitempty"`
	Metadata     map[string]string `json:"metadata,omitempty"`
	// TimeoutSec bounds one call (our extension; default from Options).
	TimeoutSec int `json:"timeoutSeconds,omitempty"`
	// AccessBuckets limits which buckets the call's token may write
	// through the Access Service (empty = every bucket).
	AccessBuckets []string   `json:"accessBuckets,omitempty"`
	CreatedTime   int64      `json:"createdTime"`
	LastCalled    int64      `json:"lastCalled,omitempty"`
	Error         *ErrorInfo `json:"error,omitempty"`
}

// Call is one run of a function.
type Call struct {
	ID            int64      `json:"id"`
	FunctionID    int64      `json:"functionId"`
	Status        string     `json:"status"`
	StartTime     int64      `json:"startTime"`
	EndTime       int64      `json:"endTime,omitempty"`
	ScheduledTime int64      `json:"scheduledTime,omitempty"`
	ScheduleID    int64      `json:"scheduleId,omitempty"`
	Trigger       string     `json:"trigger,omitempty"`
	TriggerID     int64      `json:"triggerId,omitempty"`
	EventID       string     `json:"eventId,omitempty"`
	Attempt       int        `json:"attempt,omitempty"`
	Error         *ErrorInfo `json:"error,omitempty"`
}

// LogEntry is one line a call printed.
type LogEntry struct {
	Timestamp int64  `json:"timestamp"`
	Stream    string `json:"stream,omitempty"` // "stdout" or "stderr"
	Message   string `json:"message"`
}

// Schedule fires a function by cron.
type Schedule struct {
	ID             int64  `json:"id"`
	Name           string `json:"name"`
	FunctionID     int64  `json:"functionId"`
	CronExpression string `json:"cronExpression"`
	TimeZone       string `json:"timeZone"`
	Description    string `json:"description,omitempty"`
	When           string `json:"when"`
	Principal      string `json:"principal,omitempty"`
	CreatedTime    int64  `json:"createdTime"`
	NextFire       int64  `json:"nextFireTime"`
	LastFire       int64  `json:"lastFireTime,omitempty"`
	SkippedFires   int64  `json:"skippedFires,omitempty"`
}

// Trigger binds a function to object events of one bucket.
type Trigger struct {
	ID         int64    `json:"id"`
	FunctionID int64    `json:"functionId"`
	Bucket     string   `json:"bucket"` // id or name as given
	BucketID   string   `json:"bucketId,omitempty"`
	Events     []string `json:"events"`
	Prefix     string   `json:"prefix,omitempty"`
	Suffix     string   `json:"suffix,omitempty"`
	// AllowRecursive lets the function's own writes trigger it again (up to the hop limit).
	AllowRecursive bool `json:"allowRecursive,omitempty"`
	// IncludeSources lists origin kinds that fire the trigger; empty = all
	// but "sync" (replicated changes do not fire by default).
	IncludeSources []string `json:"includeSources,omitempty"`
	Enabled        bool     `json:"enabled"`
	Principal      string   `json:"principal,omitempty"`
	CreatedTime    int64    `json:"createdTime"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryLeased    = "leased"
	DeliverySucceeded = "succeeded"
	DeliveryDead      = "dead"
	DeliveryLoop      = "loop_terminated"
)

// Delivery is one (event, function) pair the dispatcher brings to success
// at least once.
type Delivery struct {
	ID         string        `json:"id"` // eventID + "." + functionID
	EventID    string        `json:"eventId"`
	EventSeq   uint64        `json:"eventSeq"`
	TriggerID  int64         `json:"triggerId"`
	FunctionID int64         `json:"functionId"`
	BucketID   string        `json:"bucketId"`
	Key        string        `json:"key"`
	State      string        `json:"state"`
	Attempt    int           `json:"attempt"`
	SysErrors  int           `json:"sysErrors,omitempty"`
	NotBefore  int64         `json:"notBefore,omitempty"`
	FirstTime  int64         `json:"firstTime"`
	LastError  string        `json:"lastError,omitempty"`
	CallIDs    []int64       `json:"callIds,omitempty"`
	Event      storage.Event `json:"event"`
}
