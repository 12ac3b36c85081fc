// rss: N goroutines (default 1000000) park on a gate: each calls
// started.Done, then gate.Wait while main holds the gate's counter at 1.
// Once all have started, main reads resident memory from /proc/self/statm
// and reports (RSS now - RSS before spawning) / N in KiB; then it opens the
// gate and waits for all to finish.  The twin of bench/rss.c.
//
//	usage: rss [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "rss: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

// rssBytes is the resident set size: the second field of /proc/self/statm,
// in pages.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "rss: %v\n", err)
		os.Exit(1)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		fmt.Fprintf(os.Stderr, "rss: bad /proc/self/statm %q\n", b)
		os.Exit(1)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "rss: bad /proc/self/statm %q\n", b)
		os.Exit(1)
	}
	return pages * int64(os.Getpagesize())
}

func parked(started, gate, all *sync.WaitGroup) {
	started.Done()
	gate.Wait()
	all.Done()
}

func main() {
	n := arg(1, 1000000)
	var started, gate, all sync.WaitGroup
	started.Add(n)
	all.Add(n)
	gate.Add(1)
	before := rssBytes()
	for i := 0; i < n; i++ {
		go parked(&started, &gate, &all)
	}
	started.Wait()
	after := rssBytes()
	gate.Done()
	all.Wait()
	fmt.Printf("RESULT rss %.2f KiB/goroutine\n", float64(after-before)/1024/float64(n))
}
