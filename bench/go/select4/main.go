// select4: four producers each send N/4 ints (N default 2000000) on their
// own channel (buffer 128); one consumer receives all N with a select over
// the four channels.  Reports wall time / N (one select per value).  The
// twin of bench/select4.c.
//
//	usage: select4 [N]
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
			fmt.Fprintf(os.Stderr, "select4: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func producer(c chan<- int64, n int64) {
	for i := int64(0); i < n; i++ {
		c <- i
	}
}

func main() {
	n := int64(arg(1, 2000000))
	per := n / 4
	c0 := make(chan int64, 128)
	c1 := make(chan int64, 128)
	c2 := make(chan int64, 128)
	c3 := make(chan int64, 128)
	var total int64
	t0 := time.Now()
	go producer(c0, per)
	go producer(c1, per)
	go producer(c2, per)
	go producer(c3, per)
	for i := int64(0); i < per*4; i++ {
		select {
		case v := <-c0:
			total += v
		case v := <-c1:
			total += v
		case v := <-c2:
			total += v
		case v := <-c3:
			total += v
		}
	}
	el := time.Since(t0)
	if total != 4*(per*(per-1)/2) {
		fmt.Fprintf(os.Stderr, "select4: bad sum %d\n", total)
		os.Exit(1)
	}
	fmt.Printf("RESULT select4 %.2f ns/op\n", float64(el.Nanoseconds())/float64(per*4))
}
