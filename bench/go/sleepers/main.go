// sleepers: N goroutines (default 100000) each call time.Sleep(D ms) K
// times in a row (default K = 10, D = 10); main waits for all of them on
// one WaitGroup.  Reports wall time in ms; the ideal is K*D ms (100 ms).
// The twin of bench/sleepers.c.
//
//	usage: sleepers [N [K [D]]]
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
			fmt.Fprintf(os.Stderr, "sleepers: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func sleeper(k int, d time.Duration, wg *sync.WaitGroup) {
	for i := 0; i < k; i++ {
		time.Sleep(d)
	}
	wg.Done()
}

func main() {
	n := arg(1, 100000)
	k := arg(2, 10)
	d := time.Duration(arg(3, 10)) * time.Millisecond
	var wg sync.WaitGroup
	wg.Add(n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go sleeper(k, d, &wg)
	}
	wg.Wait()
	el := time.Since(t0)
	fmt.Printf("RESULT sleepers %.2f ms\n", float64(el.Nanoseconds())/1e6)
}
