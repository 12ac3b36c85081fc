// echo: the echo workload's server in Go — a TCP echo server with one
// goroutine per connection, each in a conn.Read / conn.Write loop (16 KiB
// buffer), and the accept loop in main.  GOMAXPROCS comes from the
// environment (bench/run.sh: 1, pinned to one core).  bench/run.sh starts
// it, drives it with bench/echoload and kills it.  The twin of
// bench/echo.c (gort); bench/epoll_echo.c is the C baseline.
//
//	usage: echo [host:]port      ("7000" and ":7000": every address)
//
// Prints "listening on <port>" on stdout once listening (port 0 picks a
// free one), then serves until killed.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16384)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // io.EOF, reset, ...
		}
	}
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: echo [host:]port")
		os.Exit(2)
	}
	addr := os.Args[1]
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %d\n", ln.Addr().(*net.TCPAddr).Port)
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Temporary() {
				fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			fmt.Fprintf(os.Stderr, "echo: accept: %v\n", err)
			os.Exit(1)
		}
		go serve(c)
	}
}
