// Command countproxy is a loopback TCP proxy that counts the bytes clients
// send to the server behind it (request bodies plus protocol overhead), so
// bench scripts compare the bytes different tools put on the wire the same
// way, whatever their protocol (HTTP, SFTP).
//
//	countproxy -listen 127.0.0.1:PORT -target 127.0.0.1:PORT2 -control 127.0.0.1:PORT3
//	curl http://127.0.0.1:PORT3/count   -> {"sent":N,"conns":M}
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net"
	"net/http"
	"sync/atomic"
)

type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	target := flag.String("target", "", "host:port of the server")
	control := flag.String("control", "", "host:port of the HTTP control endpoint (/count)")
	flag.Parse()
	var sent, conns atomic.Int64
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		mux := http.NewServeMux()
		mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
			json.NewEncoder(w).Encode(map[string]int64{"sent": sent.Load(), "conns": conns.Load()})
		})
		log.Fatal(http.ListenAndServe(*control, mux))
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		conns.Add(1)
		go func() {
			defer c.Close()
			s, err := net.Dial("tcp", *target)
			if err != nil {
				return
			}
			defer s.Close()
			go func() {
				io.Copy(c, s)
				c.Close()
			}()
			io.Copy(countWriter{s, &sent}, c)
		}()
	}
}
