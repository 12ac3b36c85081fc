// buf4x4: four producers send N ints in all (default 4000000) on one
// channel with a buffer of 128; four consumers receive them.  Reports wall
// time / N, from the first spawn to the last receive.  The twin of
// bench/buf4x4.c.
//
//	usage: buf4x4 [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

const producers, consumers = 4, 4

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "buf4x4: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func main() {
	n := int64(arg(1, 4000000))
	per := n / producers
	c := make(chan int64, 128)
	sums := make(chan int64, consumers)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(producers)
	for i := 0; i < consumers; i++ {
		go func() {
			var sum int64
			for v := range c {
				sum += v
			}
			sums <- sum
		}()
	}
	for i := 0; i < producers; i++ {
		go func() {
			for i := int64(0); i < per; i++ {
				c <- i
			}
			wg.Done()
		}()
	}
	wg.Wait()
	close(c)
	var total int64
	for i := 0; i < consumers; i++ {
		total += <-sums
	}
	el := time.Since(t0)
	if total != producers*(per*(per-1)/2) {
		fmt.Fprintf(os.Stderr, "buf4x4: bad sum %d\n", total)
		os.Exit(1)
	}
	fmt.Printf("RESULT buf4x4 %.2f ns/item\n", float64(el.Nanoseconds())/float64(per*producers))
}
