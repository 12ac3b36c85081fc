// yield: G goroutines (default 2) each call runtime.Gosched N times
// (default 2000000).  Reports wall time / (G*N).  The twin of bench/yield.c.
//
//	usage: yield [N [G]]
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "yield: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func yielder(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		runtime.Gosched()
	}
	wg.Done()
}

func main() {
	n := arg(1, 2000000)
	g := arg(2, 2)
	var wg sync.WaitGroup
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		go yielder(n, &wg)
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("RESULT yield %.2f ns/yield\n", float64(el.Nanoseconds())/float64(n*g))
}
