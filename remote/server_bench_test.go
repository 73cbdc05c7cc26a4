package remote

import (
	"bytes"
	"io"
	"net/http"
	"testing"
)

// BenchmarkServerSmallGet: 4 KiB downloads through the whole stack
// (client, loopback, router, token check, store), 32 goroutines per CPU.
func BenchmarkServerSmallGet(b *testing.B) {
	e := newSrvEnv(b)
	bk := e.bucket()
	e.put(bk, "small", bytes.Repeat([]byte("x"), 4096))
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rq, _ := http.NewRequest("GET", e.base+"/files/"+bk+"/small", nil)
			rq.Header.Set("Authorization", "Bearer "+e.admin)
			r, err := hc.Do(rq)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
	})
}

// discardWriter is a ResponseWriter that keeps nothing, so the handler
// benchmark measures the server's own work, not a recorder's.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeSmallGet: the handler alone (router, token check, store
// lookup, headers, 4 KiB body) for one 4 KiB download, no network.
func BenchmarkServeSmallGet(b *testing.B) {
	e := newSrvEnv(b)
	bk := e.bucket()
	e.put(bk, "small", bytes.Repeat([]byte("x"), 4096))
	rq, _ := http.NewRequest("GET", e.base+"/files/"+bk+"/small", nil)
	rq.Header.Set("Authorization", "Bearer "+e.admin)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			e.srv.ServeHTTP(w, rq)
		}
	})
}
