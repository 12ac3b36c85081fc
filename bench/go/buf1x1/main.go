// buf1x1: one producer sends N ints (default 5000000) on a channel with a
// buffer of 128; one consumer receives them.  Reports wall time / N, from
// the first send to the last receive.  The twin of bench/buf1x1.c.
//
//	usage: buf1x1 [N]
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
			fmt.Fprintf(os.Stderr, "buf1x1: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func consumer(n int64, c <-chan int64, done chan<- struct{}) {
	var sum int64
	for i := int64(0); i < n; i++ {
		sum += <-c
	}
	if sum != n*(n-1)/2 {
		fmt.Fprintf(os.Stderr, "buf1x1: bad sum %d\n", sum)
		os.Exit(1)
	}
	done <- struct{}{}
}

func main() {
	n := int64(arg(1, 5000000))
	c := make(chan int64, 128)
	done := make(chan struct{})
	t0 := time.Now()
	go consumer(n, c, done)
	for i := int64(0); i < n; i++ {
		c <- i
	}
	<-done
	el := time.Since(t0)
	fmt.Printf("RESULT buf1x1 %.2f ns/item\n", float64(el.Nanoseconds())/float64(n))
}
