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
