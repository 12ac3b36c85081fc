// panic: N times (default 10000000), a function that is never inlined
// defers a closure and panics; the closure recovers (and counts, checked
// at the end), as Go's BenchmarkPanicRecover does.  Reports wall time / N.
// The twin of bench/panic.c.
//
//	usage: panic [N]
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
			fmt.Fprintf(os.Stderr, "panic: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

var recovered int

//go:noinline
func panicOnce() {
	defer func() {
		if recover() != nil {
			recovered++
		}
	}()
	panic("boom")
}

func main() {
	n := arg(1, 10000000)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		panicOnce()
	}
	el := time.Since(t0)
	if recovered != n {
		fmt.Fprintf(os.Stderr, "panic: recovered %d, expected %d\n", recovered, n)
		os.Exit(1)
	}
	fmt.Printf("RESULT panic %.2f ns/op\n", float64(el.Nanoseconds())/float64(n))
}
