// defer: N calls (default 100000000) of a function that is never inlined
// and defers a closure incrementing a counter (checked at the end), as
// Go's BenchmarkDefer does.  Go 1.14+ compiles that defer open-coded, its
// fastest form.  Reports wall time / N.  The twin of bench/defer.c.
//
//	usage: defer [N]
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
			fmt.Fprintf(os.Stderr, "defer: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

var counter int

//go:noinline
func deferOnce() {
	defer func() {
		counter++
	}()
}

func main() {
	n := arg(1, 100000000)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		deferOnce()
	}
	el := time.Since(t0)
	if counter != n {
		fmt.Fprintf(os.Stderr, "defer: counter %d, expected %d\n", counter, n)
		os.Exit(1)
	}
	fmt.Printf("RESULT defer %.2f ns/call\n", float64(el.Nanoseconds())/float64(n))
}
