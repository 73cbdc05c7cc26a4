// Command countproxy is a loopback HTTP reverse proxy that counts the
// request body bytes (the payload) clients send to the server behind it, so
// bench scripts can compare bytes sent by different tools fairly.
//
//	countproxy -listen 127.0.0.1:PORT -target http://127.0.0.1:PORT2
//	curl http://127.0.0.1:PORT/__count   -> {"payload":N,"requests":M}
//	curl -X POST http://127.0.0.1:PORT/__reset
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

type counter struct {
	r io.ReadCloser
	n *atomic.Int64
}

func (c counter) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

func (c counter) Close() error { return c.r.Close() }

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "URL of the server")
	flag.Parse()
	u, err := url.Parse(*target)
	if err != nil || *target == "" {
		log.Fatalf("-target: %v", err)
	}
	var payload, requests atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}
	http.HandleFunc("/__count", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]int64{"payload": payload.Load(), "requests": requests.Load()})
	})
	http.HandleFunc("/__reset", func(w http.ResponseWriter, r *http.Request) {
		payload.Store(0)
		requests.Store(0)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Body != nil {
			r.Body = counter{r.Body, &payload}
		}
		rp.ServeHTTP(w, r)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
