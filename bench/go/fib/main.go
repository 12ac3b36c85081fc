// fib: parallel Fibonacci, fib(N) with N = 35 by default: a call with
// n > 15 runs its two sub-calls in two new goroutines and adds the results
// they send back on a channel (buffer 2); calls with n <= 15 are plain
// recursion.  Reports wall time in ms.  The twin of bench/fib.c.
//
//	usage: fib [N]
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const cutoff = 15

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "fib: bad argument %q\n", os.Args[i])
			os.Exit(2)
		}
		return v
	}
	return def
}

func fib(n int64) int64 {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func pfib(n int64, out chan<- int64) {
	if n <= cutoff {
		out <- fib(n)
		return
	}
	c := make(chan int64, 2)
	go pfib(n-1, c)
	go pfib(n-2, c)
	out <- <-c + <-c
}

func main() {
	n := int64(arg(1, 35))
	c := make(chan int64, 1)
	t0 := time.Now()
	go pfib(n, c)
	r := <-c
	el := time.Since(t0)
	a, b := int64(0), int64(1)
	for i := int64(0); i < n; i++ {
		a, b = b, a+b
	}
	if r != a {
		fmt.Fprintf(os.Stderr, "fib: got %d, want %d\n", r, a)
		os.Exit(1)
	}
	fmt.Printf("RESULT fib %.2f ms\n", float64(el.Nanoseconds())/1e6)
}
