package remote

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/bucketfs/bucketfs/storage"
	"github.com/bucketfs/bucketfs/storage/storetest"
)

// contractPartSize keeps the multipart tests of the contract suite small.
const contractPartSize = 64 << 10

// realServer is a bucketfs server over a real Store in t.TempDir(), listening
// on 127.0.0.1, with an admin token; everything is shut down by t.Cleanup.
type realServer struct {
	URL   string
	Token string
	Store *storage.Store
}

func startRealServer(t testing.TB, minPartSize int64) *realServer {
	t.Helper()
	sopts := storage.DefaultOptions()
	if minPartSize > 0 {
		sopts.MinPartSize = minPartSize
	}
	st, err := storage.Open(t.TempDir(), sopts)
	if err != nil {
		t.Fatalf("storage.Open: %v", err)
	}
	o := DefaultServerOptions()
	if minPartSize > 0 {
		o.MinPartSize = minPartSize
	}
	o.TaskWaitInterval = 100 * time.Millisecond
	srv := NewServer(st, o)
	secret, _, err := srv.Tokens().Create(t.Context(), TokenSpec{Name: "test", Admin: true})
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := srv.HTTPServer(ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		hs.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store close: %v", err)
		}
	})
	return &realServer{URL: "http://" + ln.Addr().String(), Token: secret, Store: st}
}

func (s *realServer) client(t testing.TB, mod func(*ClientOptions)) *Client {
	t.Helper()
	o := DefaultClientOptions()
	o.Token = s.Token
	if mod != nil {
		mod(&o)
	}
	c, err := NewClient(s.URL, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestClientContract runs the ObjectStore contract suite through the
// client against a real server.
func TestClientContract(t *testing.T) {
	so := storetest.DefaultOptions()
	so.MinPartSize = contractPartSize
	storetest.RunWithOptions(t, so, func(t *testing.T) storage.ObjectStore {
		return startRealServer(t, contractPartSize).client(t, nil)
	})
}
