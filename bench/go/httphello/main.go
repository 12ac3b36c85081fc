// httphello: the http workload's Go side — Go's net/http answering every
// request with a fixed small body ("Hello, World!\n", the same headers: Date,
// Content-Type text/plain; charset=utf-8, Content-Length 14), beside
// gort's examples/http.c.  GOMAXPROCS comes from the environment
// (bench/run.sh: 1, pinned to one core); bench/run.sh drives it with wrk
// and kills it.
//
//	usage: httphello [host:]port    ("8080" and ":8080": every address)
//
// Prints "listening on <port>" on stdout once listening (port 0 picks a
// free one), then serves until killed.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
)

var body = []byte("Hello, World!\n")

func hello(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", "14")
	w.Write(body)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: httphello [host:]port")
		os.Exit(2)
	}
	addr := os.Args[1]
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "httphello: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d\n", ln.Addr().(*net.TCPAddr).Port)
	err = http.Serve(ln, http.HandlerFunc(hello))
	fmt.Fprintf(os.Stderr, "httphello: %v\n", err)
	os.Exit(1)
}
