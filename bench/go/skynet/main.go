// skynet: the skynet benchmark — a 10-ary tree of goroutines, 1000000
// leaves by default (1111111 goroutines); each leaf sends its number to its
// parent over an unbuffered channel, each inner node sums its ten children
// and sends the sum up.  Reports wall time in ms.  The twin of
// bench/skynet.c.
//
//	usage: skynet [leaves]      (a power of 10)
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
			fmt.Fprintf(os.Stderr, "skynet: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func skynet(c chan<- int64, num, size, div int64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int64)
	sub := size / div
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*sub, sub, div)
	}
	var sum int64
	for i := int64(0); i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	leaves := int64(arg(1, 1000000))
	c := make(chan int64)
	t0 := time.Now()
	go skynet(c, 0, leaves, 10)
	sum := <-c
	el := time.Since(t0)
	if sum != leaves*(leaves-1)/2 {
		fmt.Fprintf(os.Stderr, "skynet: bad sum %d\n", sum)
		os.Exit(1)
	}
	fmt.Printf("RESULT skynet %.2f ms\n", float64(el.Nanoseconds())/1e6)
}
