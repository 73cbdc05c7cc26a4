package remote

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/bucketfs/bucketfs/functions"
)

// AccessServer is a standalone Access Service listener: a mount on the
// embedded default has no HTTP server, so it serves the Access Service on
// a loopback port for its function calls.
type AccessServer struct {
	URL  string
	srv  *http.Server
	done chan struct{}
}

// ServeAccess listens on addr ("127.0.0.1:0" picks a free port), serves the
// Access Service of svc under /api/access and sets svc's service URL.
func ServeAccess(svc *functions.Service, addr string) (*AccessServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	const base = "/api/access"
	a := &AccessServer{
		URL:  "http://" + ln.Addr().String() + base,
		srv:  &http.Server{Handler: NewAccessHandler(svc, base), ReadHeaderTimeout: 10 * time.Second},
		done: make(chan struct{}),
	}
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; calls will see connection errors
		}
	}()
	svc.SetServiceURL(a.URL)
	return a, nil
}

// Close stops the listener, waiting up to a few seconds for requests.
func (a *AccessServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := a.srv.Shutdown(ctx)
	<-a.done
	return err
}
