// pingpong: two goroutines bounce an int over two unbuffered channels, N
// round trips (default 1000000).  Reports wall time / N.  The twin of
// bench/pingpong.c.
//
//	usage: pingpong [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "pingpong: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func ponger(ping <-chan int64, pong chan<- int64) {
	for v := range ping {
		pong <- v
	}
}

func main() {
	n := arg(1, 1000000)
	ping := make(chan int64)
	pong := make(chan int64)
	go ponger(ping, pong)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- int64(i)
		if v := <-pong; v != int64(i) {
			fmt.Fprintf(os.Stderr, "pingpong: got %d, want %d\n", v, i)
			os.Exit(1)
		}
	}
	el := time.Since(t0)
	close(ping)
	fmt.Printf("RESULT pingpong %.2f ns/roundtrip\n", float64(el.Nanoseconds())/float64(n))
}
