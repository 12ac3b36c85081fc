// mutex: G goroutines (default 4) contend one sync.Mutex for N lock/unlock
// pairs in total (default 10000000), each incrementing a shared counter
// under the lock.  Reports wall time / N.  The twin of bench/mutex.c.
//
//	usage: mutex [N [G]]
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
			fmt.Fprintf(os.Stderr, "mutex: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

var (
	mu      sync.Mutex
	counter int64
)

func worker(n int, wg *sync.WaitGroup) {
	for i := 0; i < n; i++ {
		mu.Lock()
		counter++
		mu.Unlock()
	}
	wg.Done()
}

func main() {
	n := arg(1, 10000000)
	g := arg(2, 4)
	var wg sync.WaitGroup
	wg.Add(g)
	t0 := time.Now()
	for i := 0; i < g; i++ {
		share := n / g
		if i < n%g {
			share++
		}
		go worker(share, &wg)
	}
	wg.Wait()
	el := time.Since(t0)
	if counter != int64(n) {
		fmt.Fprintf(os.Stderr, "mutex: counter %d, want %d\n", counter, n)
		os.Exit(1)
	}
	fmt.Printf("RESULT mutex %.2f ns/lock\n", float64(el.Nanoseconds())/float64(n))
}
