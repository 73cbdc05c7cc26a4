package storage

import "context"

type originKey struct{}

// WithOrigin returns a context whose writes are attributed to o: the HTTP
// server, the mount, the sync engine and the Access Service stamp the events
// they cause this way, through every layer in between.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the origin stored by WithOrigin, or the zero Origin.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}
