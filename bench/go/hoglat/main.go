// hoglat: preemption latency with one P.  Each of R rounds (default 21):
// main starts a hog goroutine that spins in a loop with no call in it,
// reading a flag with atomic.LoadInt32 (an intrinsic, no call), and then
// sleeps 1 ms.  The hog holds the only P, so main runs again only once
// sysmon has found the hog running for 10 ms (forcePreemptNS) and stopped
// it with SIGURG (async preemption, Go 1.14+).  The latency of a round is
// the time from just before the go statement to main running again, less
// the 1 ms sleep; then main sets the flag and joins the hog.  Reports the
// median latency in ms.  GOMAXPROCS is forced to 1 here (and by run.sh).
// The twin of bench/hoglat.c.
//
//	usage: hoglat [R]
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "hoglat: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

const sleep = time.Millisecond

var stop int32

func hog(wg *sync.WaitGroup) {
	for atomic.LoadInt32(&stop) == 0 {
	}
	wg.Done()
}

func main() {
	rounds := arg(1, 21)
	runtime.GOMAXPROCS(1)
	lat := make([]time.Duration, rounds)
	var wg sync.WaitGroup
	for r := 0; r < rounds; r++ {
		atomic.StoreInt32(&stop, 0)
		wg.Add(1)
		t0 := time.Now()
		go hog(&wg)
		time.Sleep(sleep)
		lat[r] = time.Since(t0) - sleep
		atomic.StoreInt32(&stop, 1)
		wg.Wait()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var med float64
	if rounds%2 == 1 {
		med = float64(lat[rounds/2])
	} else {
		med = (float64(lat[rounds/2-1]) + float64(lat[rounds/2])) / 2
	}
	ms := func(d float64) float64 { return d / 1e6 }
	fmt.Printf("hoglat: %d rounds, latency min %.3f median %.3f max %.3f ms\n",
		rounds, ms(float64(lat[0])), ms(med), ms(float64(lat[rounds-1])))
	fmt.Printf("RESULT hoglat %.3f ms\n", ms(med))
}
