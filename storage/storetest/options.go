package storetest

// Options adapt the suite to a store's configuration.
type Options struct {
	// MinPartSize is the smallest multipart part size the store accepts
	// (Invenio's 5 MiB by default). A store configured with a smaller minimum
	// makes the multipart tests cheaper.
	MinPartSize int64
	// MaxPartSize is the largest part size (5 GiB).
	MaxPartSize int64
	// MaxParts is the largest number of parts of one upload (10000).
	MaxParts int
	// Only, when set, runs only the subtests whose names start with it.
	Only string
}

// DefaultOptions are the limits of issue 2 and the Invenio spec.
func DefaultOptions() Options {
	return Options{MinPartSize: 5 << 20, MaxPartSize: 5 << 30, MaxParts: 10000}
}
