// spawn: start N goroutines that each call wg.Done on one WaitGroup; main
// waits for all of them.  Reports wall time / N.  The twin of bench/spawn.c.
//
//	usage: spawn [N]   (default 1000000)
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "spawn: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

//go:noinline
func done(wg *sync.WaitGroup) { wg.Done() }

func main() {
	n := arg(1, 1000000)
	var wg sync.WaitGroup
	wg.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go done(&wg)
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("RESULT spawn %.2f ns/goroutine\n", float64(el.Nanoseconds())/float64(n))
}
